"""Hillshade of an elevation grid: a pure numpy function that knows nothing about maps or the web.

Like titiler's ``core/algorithm/dem.py``: elevation in, shading out. The shade of a cell is the
cosine between its surface normal and the direction of the sun (Lambert), so a slope facing
the sun is bright, a flat cell is ``sin(altitude)`` and a slope facing away is dark.
"""

from __future__ import annotations

import numpy as np


def hillshade(elevation: np.ndarray, *, res: tuple[float, float], azimuth: float = 315.0,
              altitude: float = 45.0, z_factor: float = 1.0) -> np.ndarray:
    """Shade an elevation grid lit from ``azimuth`` (degrees clockwise from north) and ``altitude``.

    Parameters
    ----------
    elevation
        2-D elevations, row 0 to the north, column 0 to the west; NaN for nodata.
    res
        ``(x, y)`` cell size in the same unit as the elevations (metres), both positive.
    azimuth, altitude
        The sun's direction and height above the horizon, in degrees.
    z_factor
        Vertical exaggeration (or a unit correction, e.g. for Web Mercator metres).

    Returns
    -------
    numpy.ndarray
        float32 shade from 0 (dark) to 255 (lit), NaN where the elevation (or a neighbour) is NaN.
    """
    z = np.asarray(elevation, dtype=np.float64)
    if z.ndim != 2 or min(z.shape) < 2:
        raise ValueError("elevation must be a 2-D grid of at least 2 x 2 cells")
    dx, dy = float(res[0]), float(res[1])
    if not (dx > 0 and dy > 0):
        raise ValueError("res must be two positive cell sizes")
    d_row, d_col = np.gradient(z * z_factor)
    dz_east = d_col / dx
    dz_north = -d_row / dy  # rows run south
    az, alt = np.radians(azimuth), np.radians(altitude)
    sun = np.array([np.sin(az) * np.cos(alt), np.cos(az) * np.cos(alt), np.sin(alt)])
    norm = np.sqrt(dz_east**2 + dz_north**2 + 1.0)
    shade = (-dz_east * sun[0] - dz_north * sun[1] + sun[2]) / norm
    out = (255.0 * np.clip(shade, 0.0, 1.0)).astype(np.float32)
    out[np.isnan(z)] = np.nan
    return out
