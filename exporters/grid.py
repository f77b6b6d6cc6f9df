"""Voxel grids as exporters take them: a bool occupancy[nx, ny, nz], a pitch in mm and the centre of voxel
(0, 0, 0) in mm. One place checks these arguments so every exporter refuses bad ones with the same words."""

from __future__ import annotations

import numpy as np

from exporters.errors import ExportError


def checked_occupancy(occupancy, nothing_to: str | None = "export") -> np.ndarray:
    """The occupancy as a bool 3D array. ``nothing_to`` names what an all-empty grid cannot be used for;
    ``None`` accepts an all-empty grid (a viewer image of nothing is still an image) but not a zero-sized one."""
    occ = np.asarray(occupancy)
    if nothing_to is None:
        if occ.ndim != 3 or min(occ.shape) == 0:
            raise ExportError(f"occupancy must be a non-empty 3D array, got shape {occ.shape}")
        return occ.astype(bool, copy=False)
    if occ.ndim != 3:
        raise ExportError(f"occupancy must be a 3D array, got shape {occ.shape}")
    occ = occ.astype(bool, copy=False)
    if not occ.any():
        raise ExportError(f"the voxel grid is empty: nothing to {nothing_to}")
    return occ


def checked_grid(
    occupancy, pitch, origin, nothing_to: str | None = "export"
) -> tuple[np.ndarray, float, np.ndarray]:
    """(occupancy as bool, pitch as float, origin as a float64 (3,) array), or an ExportError naming the bad one."""
    occ = checked_occupancy(occupancy, nothing_to)
    pitch = float(pitch)
    if not np.isfinite(pitch) or pitch <= 0:
        raise ExportError(f"pitch must be a positive number of mm, got {pitch}")
    org = np.asarray(origin, dtype=np.float64).reshape(-1)
    if org.shape != (3,) or not np.all(np.isfinite(org)):
        raise ExportError(f"origin must be 3 finite numbers (mm), got {origin!r}")
    return occ, pitch, org
