"""MagicaVoxel ``.vox`` files (format version 150) for viewers.

A ``.vox`` model holds at most 256 voxels per axis, so a larger grid is split into tiles of up to 256^3,
each its own model placed by a scene graph (``nTRN``/``nGRP``/``nSHP``) so viewers show them assembled.
Colour index = material id + 1 (MagicaVoxel reserves 0 for empty); the palette colours materials with a
fixed qualitative colour map. Voxels have no size in MagicaVoxel: ``pitch`` is not stored.

Layout (little-endian): ``"VOX " 150``, chunk ``MAIN`` whose children are, per model, ``SIZE`` (x, y, z)
and ``XYZI`` (n, then n x (x, y, z, colour) bytes), then the scene graph and an ``RGBA`` palette.
"""

from __future__ import annotations

import os
import struct

import numpy as np

from exporters.atomic import atomic_open
from exporters.errors import ExportError
from exporters.grid import checked_occupancy

MAX_MODEL = 256
_PALETTE = [
    (0x4E, 0x79, 0xA7),
    (0xF2, 0x8E, 0x2B),
    (0xE1, 0x57, 0x59),
    (0x76, 0xB7, 0xB2),
    (0x59, 0xA1, 0x4F),
    (0xED, 0xC9, 0x48),
    (0xB0, 0x7A, 0xA1),
    (0xFF, 0x9D, 0xA7),
    (0x9C, 0x75, 0x5F),
    (0xBA, 0xB0, 0xAC),
]


def _chunk(tag: bytes, content: bytes, children: bytes = b"") -> bytes:
    return tag + struct.pack("<ii", len(content), len(children)) + content + children


def _dict(items: dict[str, str]) -> bytes:
    out = struct.pack("<i", len(items))
    for key, value in items.items():
        kb, vb = key.encode(), value.encode()
        out += struct.pack("<i", len(kb)) + kb + struct.pack("<i", len(vb)) + vb
    return out


def vox_bytes(occupancy: np.ndarray, material_ids: np.ndarray | None = None) -> bytes:
    """Encode a grid (bool[nx, ny, nz], z up as in MagicaVoxel) as .vox bytes, tiled above 256 per axis."""
    occ = checked_occupancy(occupancy)
    if material_ids is None:
        colours = np.ones(occ.shape, dtype=np.uint8)
    else:
        mids = np.asarray(material_ids)
        if mids.shape != occ.shape:
            raise ExportError(f"material_ids shape {mids.shape} differs from occupancy shape {occ.shape}")
        if mids[occ].max() > 254:
            raise ExportError(".vox has 255 colours: material ids must be <= 254")
        colours = mids.astype(np.uint8) + 1
    models, nodes = b"", b""
    tiles = [range(0, s, MAX_MODEL) for s in occ.shape]
    children_ids: list[int] = []
    node_id = 2  # 0 = root transform, 1 = group
    model_id = 0
    for x0 in tiles[0]:
        for y0 in tiles[1]:
            for z0 in tiles[2]:
                sub = occ[x0 : x0 + MAX_MODEL, y0 : y0 + MAX_MODEL, z0 : z0 + MAX_MODEL]
                if not sub.any():
                    continue
                ijk = np.argwhere(sub)
                col = colours[x0 : x0 + MAX_MODEL, y0 : y0 + MAX_MODEL, z0 : z0 + MAX_MODEL][sub]
                xyzi = np.column_stack([ijk.astype(np.uint8), col]).astype(np.uint8)
                models += _chunk(b"SIZE", struct.pack("<iii", *sub.shape))
                models += _chunk(b"XYZI", struct.pack("<i", len(xyzi)) + xyzi.tobytes())
                # MagicaVoxel positions a model by its centre (integer division of its size).
                centre = [o + s // 2 for o, s in zip((x0, y0, z0), sub.shape, strict=True)]
                trn = struct.pack("<i", node_id) + _dict({}) + struct.pack("<iiii", node_id + 1, -1, 0, 1)
                trn += _dict({"_t": " ".join(str(int(c)) for c in centre)})
                shp = struct.pack("<i", node_id + 1) + _dict({}) + struct.pack("<i", 1)
                shp += struct.pack("<i", model_id) + _dict({})
                nodes += _chunk(b"nTRN", trn) + _chunk(b"nSHP", shp)
                children_ids.append(node_id)
                node_id += 2
                model_id += 1
    root = struct.pack("<i", 0) + _dict({}) + struct.pack("<iiii", 1, -1, -1, 1) + _dict({})
    group = struct.pack("<i", 1) + _dict({}) + struct.pack("<i", len(children_ids))
    group += struct.pack(f"<{len(children_ids)}i", *children_ids)
    palette = np.zeros((256, 4), dtype=np.uint8)
    palette[:, 3] = 255
    for i in range(256):
        palette[i, :3] = _PALETTE[i % len(_PALETTE)]
    # RGBA entry i is colour index i + 1
    body = (
        models + _chunk(b"nTRN", root) + _chunk(b"nGRP", group) + nodes + _chunk(b"RGBA", palette.tobytes())
    )
    return b"VOX " + struct.pack("<i", 150) + _chunk(b"MAIN", b"", body)


def write_vox(
    occupancy: np.ndarray, path: str | os.PathLike[str], material_ids: np.ndarray | None = None
) -> None:
    """Write a MagicaVoxel ``.vox`` (several models when a side exceeds 256 voxels)."""
    data = vox_bytes(occupancy, material_ids)
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def export(grid, path: str | os.PathLike[str]) -> dict:
    """The exporter entry point (exporters/__init__.py): ``grid`` has occupancy, material_ids and count."""
    write_vox(grid.occupancy, path, material_ids=grid.material_ids)
    return {"voxels": grid.count}
