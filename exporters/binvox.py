"""binvox files (Patrick Min's format) for viewers such as viewvox; trimesh reads them too.

binvox grids are cubic: the grid is padded to ``d^3`` with ``d`` its longest side. Header fields:
``translate`` = the grid's lower corner in mm (``origin - pitch / 2``), ``scale`` = ``d * pitch`` (mm).
Centre of voxel i = ``translate + (i + 0.5) * scale / d`` (binvox's convention; trimesh's reader instead
takes ``translate`` as the first centre, half a voxel off). Data: run-length pairs (value, count <= 255) over voxels in x, z, y order (y fastest).
"""

from __future__ import annotations

import os

import numpy as np

from exporters.atomic import atomic_open
from exporters.grid import checked_grid


def _runs(flat: np.ndarray) -> bytes:
    """Run-length encode a 0/1 byte array as binvox (value, count) pairs with counts capped at 255."""
    change = np.flatnonzero(np.diff(flat)) + 1
    starts = np.concatenate([[0], change])
    lengths = np.diff(np.concatenate([starts, [len(flat)]]))
    values = flat[starts]
    # split runs longer than 255 into full pieces plus a remainder
    pieces = (lengths + 254) // 255
    vals = np.repeat(values, pieces)
    counts = np.full(len(vals), 255, dtype=np.int64)
    last = np.cumsum(pieces) - 1
    counts[last] = lengths - (pieces - 1) * 255
    return np.column_stack([vals, counts]).astype(np.uint8).tobytes()


def binvox_bytes(occupancy: np.ndarray, pitch: float, origin) -> bytes:
    """Encode a voxel grid (mm; ``origin`` = centre of voxel (0, 0, 0)) as binvox bytes."""
    occ, pitch, org = checked_grid(occupancy, pitch, origin)
    d = max(occ.shape)
    cube = np.zeros((d, d, d), dtype=np.uint8)
    cube[: occ.shape[0], : occ.shape[1], : occ.shape[2]] = occ
    flat = cube.transpose(0, 2, 1).ravel()  # x, z, y order with y fastest
    corner = [float(v) for v in org - pitch / 2]
    header = (
        f"#binvox 1\ndim {d} {d} {d}\ntranslate {corner[0]!r} {corner[1]!r} {corner[2]!r}\n"
        f"scale {float(d * pitch)!r}\ndata\n"
    )
    return header.encode("ascii") + _runs(flat)


def write_binvox(occupancy: np.ndarray, pitch: float, origin, path: str | os.PathLike[str]) -> None:
    """Write a voxel grid as ``.binvox`` (padded to a cube)."""
    data = binvox_bytes(occupancy, pitch, origin)
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def export(grid, path: str | os.PathLike[str]) -> dict:
    """The exporter entry point (exporters/__init__.py): ``grid`` has occupancy, pitch (mm), origin and count."""
    write_binvox(grid.occupancy, grid.pitch, grid.origin, path)
    return {"voxels": grid.count}
