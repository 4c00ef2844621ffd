"""Siting review report (DESIGN §4): findings for a proposed site and a rule-based verdict.

Pure functions, no Flask. A point site is judged where it is. A polygon site is judged
on its centroid for travel times, elevation and slope, and on its area for township
and park overlap and for the distances to rail and road; the report's ``basis``
finding says so.

The rules (thresholds, the sector-to-park fit table, slope limits, how missing data is
judged) come from one config file, ``geo_app/review_rules.toml`` (:func:`load_rules`).
Missing data gives ``unavailable`` findings that the verdict lists as caveats, never
as failures; when a deciding finding (rules ``[verdict]``) is unavailable the verdict is
``incomplete`` and names the missing data. The report is JSON-safe: no NaN or infinity
anywhere (None instead).

Modules
-------
rules
    Loading and checking the rules file.
site
    The site under review: metric geometry, basis point, county share, parks it lies in.
place
    Basis, township, park and sector-fit findings.
travel
    Network times (Changchun, the 2-hour goal, the centre, nearest station and hub).
proximity
    Distances to rail line and trunk road.
terrain
    Elevation and slope from the DEM.
verdict
    The verdict, its reasons and caveats.
review
    :func:`review_site`: the finding functions applied in order, then the verdict.
"""

from __future__ import annotations

from .common import METRIC_CRS, json_safe
from .review import FINDINGS, review_site
from .rules import MODES, RULES_PATH, STATUSES, load_rules, sectors
from .verdict import VERDICT_ZH, VERDICTS

__all__ = ["FINDINGS", "METRIC_CRS", "MODES", "RULES_PATH", "STATUSES", "VERDICTS", "VERDICT_ZH", "json_safe",
           "load_rules", "review_site", "sectors"]
