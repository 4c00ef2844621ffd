"""Reports a planner can file: the siting review as an A4 PDF with a static map, text tables, times.

No Flask here: the web routes and the ``geo-app`` commands hand in the layer registry, the
travel graph and the stored review. Import the modules you need; this package itself loads
nothing heavy (matplotlib and reportlab load with :mod:`.review`, :mod:`.pdf` and :mod:`.static_map`).

- :mod:`.fonts`: a system CJK font found through fontconfig.
- :mod:`.static_map`: the site map drawn with matplotlib (Agg) from the layers' GeoDataFrames.
- :mod:`.review_map`: the report map's layers, band and route for one review.
- :mod:`.pdf`: the A4 layout (reportlab).
- :mod:`.review`: review → PDF in one call; the review as terminal text.
- :mod:`.timefmt`: local display times and ISO 8601 with the offset.
- :mod:`.tables`: terminal tables aligned by display width, CSV with a BOM.
- :mod:`.exports`: the reach table with minutes by every mode, for CSV.
"""

from __future__ import annotations
