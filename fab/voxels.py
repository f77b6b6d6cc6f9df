"""Voxel grids: the occupancy of a part on a regular cubic lattice.

Conventions (used by every stage after voxelization):

- Geometry is in millimetres. ``pitch`` is the voxel edge in mm.
- ``occupancy[i, j, k]`` is True when the voxel whose *centre* is ``origin + (i, j, k) * pitch`` is
  filled; axis 0 is x, axis 1 is y, axis 2 is z.
- ``material_ids`` (optional, uint8, same shape) indexes into ``materials`` (names); 0 is the first.

On-disk format (``.npz``, see ``docs/voxel-format.md``): arrays ``occupancy`` (bit-packed),
``shape``, ``pitch``, ``origin``, ``units``, ``source_sha256``, ``materials`` and optional
``material_ids``, plus ``format`` = "bits2atoms-voxels" and ``version``. ``VoxelGrid.load(save(g))``
is bit-identical to ``g``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from exporters.atomic import atomic_path
from fab.errors import FabError

FORMAT_NAME = "bits2atoms-voxels"
FORMAT_VERSION = 1


@dataclass(eq=False)
class VoxelGrid:
    """Occupancy of a part on a cubic lattice (see the module docstring for conventions)."""

    occupancy: np.ndarray
    pitch: float
    origin: np.ndarray
    material_ids: np.ndarray | None = None
    materials: tuple[str, ...] = ()
    units: str = "mm"
    source_sha256: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.occupancy = np.ascontiguousarray(self.occupancy, dtype=bool)
        if self.occupancy.ndim != 3:
            raise FabError(f"voxel occupancy must be 3D, got shape {self.occupancy.shape}")
        self.pitch = float(self.pitch)
        if not np.isfinite(self.pitch) or self.pitch <= 0:
            raise FabError(f"voxel pitch must be a positive number of mm, got {self.pitch}")
        self.origin = np.asarray(self.origin, dtype=np.float64).reshape(3)
        if self.material_ids is not None:
            self.material_ids = np.ascontiguousarray(self.material_ids, dtype=np.uint8)
            if self.material_ids.shape != self.occupancy.shape:
                raise FabError("material_ids must have the same shape as occupancy")
        self.materials = tuple(str(m) for m in self.materials)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.occupancy.shape)  # type: ignore[return-value]

    @property
    def count(self) -> int:
        """Number of filled voxels."""
        return int(np.count_nonzero(self.occupancy))

    @property
    def voxel_volume_mm3(self) -> float:
        return self.pitch**3

    @property
    def volume_mm3(self) -> float:
        """Volume of the filled voxels in mm^3."""
        return self.count * self.voxel_volume_mm3

    @property
    def bbox_mm(self) -> np.ndarray:
        """(2, 3) array: min and max corner of the whole grid (voxel faces, not centres), in mm."""
        lo = self.origin - 0.5 * self.pitch
        hi = lo + np.array(self.shape) * self.pitch
        return np.stack([lo, hi])

    def indices(self) -> np.ndarray:
        """(count, 3) int array of the filled voxels' (i, j, k), in C order."""
        return np.argwhere(self.occupancy)

    def centers(self) -> np.ndarray:
        """(count, 3) float array of the filled voxels' centres in mm, in the order of :meth:`indices`."""
        return self.origin + self.indices() * self.pitch

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the grid as ``.npz`` atomically and return the path written."""
        target = Path(path)
        if target.suffix != ".npz":
            target = target.with_suffix(target.suffix + ".npz") if target.suffix else target.with_suffix(".npz")
        arrays = {
            "format": np.array(FORMAT_NAME),
            "version": np.array(FORMAT_VERSION),
            "shape": np.array(self.shape, dtype=np.int64),
            "occupancy": np.packbits(self.occupancy.ravel()),
            "pitch": np.array(self.pitch, dtype=np.float64),
            "origin": self.origin.astype(np.float64),
            "units": np.array(self.units),
            "source_sha256": np.array(self.source_sha256),
            "materials": np.array(self.materials, dtype=str),
        }
        if self.material_ids is not None:
            arrays["material_ids"] = self.material_ids
        with atomic_path(target) as tmp:
            np.savez_compressed(tmp, **arrays)
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> VoxelGrid:
        """Read a grid written by :meth:`save`."""
        source = Path(path)
        if not source.is_file():
            raise FabError(f"voxel grid file not found: {source}")
        try:
            with np.load(source, allow_pickle=False) as data:
                if str(data["format"]) != FORMAT_NAME:
                    raise FabError(f"{source} is not a bits2atoms voxel grid")
                version = int(data["version"])
                if version > FORMAT_VERSION:
                    raise FabError(f"{source} uses voxel format version {version}; this fab reads up to {FORMAT_VERSION}")
                shape = tuple(int(s) for s in data["shape"])
                count = int(np.prod(shape))
                occupancy = np.unpackbits(data["occupancy"], count=count).astype(bool).reshape(shape)
                material_ids = data["material_ids"] if "material_ids" in data.files else None
                return cls(
                    occupancy=occupancy,
                    pitch=float(data["pitch"]),
                    origin=data["origin"],
                    material_ids=material_ids,
                    materials=tuple(str(m) for m in data["materials"]),
                    units=str(data["units"]),
                    source_sha256=str(data["source_sha256"]),
                )
        except FabError:
            raise
        except Exception as exc:  # zip or key errors from a file that is not ours
            raise FabError(f"cannot read voxel grid {source}: {exc.__class__.__name__}: {exc}") from None
