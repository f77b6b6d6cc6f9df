"""Regular lattices of particles and their fixed bond stencil.

A body made from voxels lives on a cubic (3D) or square (2D) lattice of spacing ``dx``. Its bond family is the
same for every particle: every lattice offset ``xi`` with ``0 < |xi| <= horizon`` (the *stencil*), so no tree
search is needed. Particles are stored in the order of a padded flat grid (z fastest), padded by the horizon
on every side so that neighbour ``b`` of the particle in cell ``p`` is simply cell ``p + flat_offset[b]``.

Units: metres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from physics.errors import PhysicsError

RUN_LENGTH = 64  # longest run of particles a force kernel processes at once (its accumulators' size)


def stencil_offsets(horizon_cells: float, dimension: int) -> np.ndarray:
    """Integer lattice offsets (k, 3) with 0 < |offset| <= horizon_cells, sorted by length then lexicographically."""
    if dimension not in (2, 3):
        raise PhysicsError(f"lattice dimension must be 2 or 3, got {dimension}")
    if not (horizon_cells >= 1.0):
        raise PhysicsError(f"the horizon must be at least one lattice spacing, got {horizon_cells} spacings")
    m = int(math.floor(horizon_cells + 1e-9))
    r = np.arange(-m, m + 1)
    if dimension == 3:
        grid = np.stack(np.meshgrid(r, r, r, indexing="ij"), axis=-1).reshape(-1, 3)
    else:
        g = np.stack(np.meshgrid(r, r, indexing="ij"), axis=-1).reshape(-1, 2)
        grid = np.column_stack([g, np.zeros(len(g), dtype=g.dtype)])
    length2 = (grid**2).sum(axis=1)
    keep = (length2 > 0) & (length2 <= horizon_cells**2 + 1e-9)
    grid = grid[keep]
    order = np.lexsort((grid[:, 2], grid[:, 1], grid[:, 0], (grid**2).sum(axis=1)))
    return grid[order].astype(np.int64)


@dataclass
class Lattice:
    """Particles on a padded regular grid.

    Attributes:
        spacing: lattice spacing dx in m.
        origin: position of grid cell (0, 0, 0) of the *unpadded* occupancy, in m.
        dimension: 2 or 3 (2D lattices have one layer, z = 0).
        horizon_cells: horizon delta / dx.
        padded_shape: shape of the padded grid.
        pad: padding in cells on every side (= floor(horizon_cells)).
        cells: (n,) int64 flat index of each particle's cell in the padded grid (ascending).
        stencil: (nb, 3) int64 lattice offsets of the bond family.
        flat_offset: (nb,) int64 flat-index offsets of the stencil in the padded grid.
        labels: (n,) int32 body id of each particle (0 .. bodies - 1), or None for a single body. Particles of
            different bodies share the grid but never bond: ``neighbours`` hides them from each other, so bond
            masks and surface corrections see each body alone.

    ``ijk`` and ``cell_to_particle`` are computed when asked for (not held: memory per particle is a target).
    """

    spacing: float
    origin: np.ndarray
    dimension: int
    horizon_cells: float
    padded_shape: tuple[int, int, int]
    pad: int
    cells: np.ndarray
    stencil: np.ndarray
    flat_offset: np.ndarray
    labels: np.ndarray | None = None

    @classmethod
    def from_occupancy(
        cls,
        occupancy: np.ndarray,
        spacing: float,
        origin=(0.0, 0.0, 0.0),
        horizon_cells: float = 3.015,
        labels: np.ndarray | None = None,
    ) -> Lattice:
        """Particles at the centres of the filled cells of a 2D (nx, ny) or 3D (nx, ny, nz) boolean array.

        ``labels``: an integer array of the occupancy's shape; filled cells with different labels belong to
        separate bodies (no bonds between them). Body ids are the distinct labels of filled cells, in order."""
        occ = np.asarray(occupancy, dtype=bool)
        if occ.ndim not in (2, 3):
            raise PhysicsError(f"occupancy must be a 2D or 3D array, got shape {occ.shape}")
        if not occ.any():
            raise PhysicsError("the body has no particles: the occupancy is empty")
        if not (spacing > 0 and math.isfinite(spacing)):
            raise PhysicsError(f"lattice spacing must be positive, got {spacing}")
        dimension = occ.ndim
        if dimension == 2:
            occ = occ[:, :, None]
        stencil = stencil_offsets(horizon_cells, dimension)
        pad = int(math.floor(horizon_cells + 1e-9))
        pads = (pad, pad, pad if dimension == 3 else 0)
        padded_shape = tuple(int(s + 2 * p) for s, p in zip(occ.shape, pads, strict=True))
        padded = np.zeros(padded_shape, dtype=bool)
        padded[
            pads[0] : pads[0] + occ.shape[0],
            pads[1] : pads[1] + occ.shape[1],
            pads[2] : pads[2] + occ.shape[2],
        ] = occ
        cells = np.flatnonzero(padded).astype(np.int64)
        body_ids = None
        if labels is not None:
            lab = np.asarray(labels)
            if lab.shape != np.asarray(occupancy).shape or not np.issubdtype(lab.dtype, np.integer):
                raise PhysicsError(
                    f"labels must be an integer array of the occupancy's shape {np.asarray(occupancy).shape}, "
                    f"got {lab.dtype} {lab.shape}"
                )
            lab = lab.reshape(occ.shape)
            # Particles are ordered like the padded grid's flat cells, i.e. C order of the occupancy's filled cells.
            body_ids = np.unique(lab[occ], return_inverse=True)[1].astype(np.int32)
        strides = np.array([padded_shape[1] * padded_shape[2], padded_shape[2], 1], dtype=np.int64)
        flat_offset = stencil @ strides
        return cls(
            spacing=float(spacing),
            origin=np.asarray(origin, dtype=np.float64).reshape(3),
            dimension=dimension,
            horizon_cells=float(horizon_cells),
            padded_shape=padded_shape,  # type: ignore[arg-type]
            pad=pad,
            cells=cells,
            stencil=stencil,
            flat_offset=flat_offset,
            labels=body_ids,
        )

    @property
    def count(self) -> int:
        return int(len(self.cells))

    @property
    def bodies(self) -> int:
        """Number of separate bodies (1 without labels)."""
        return 1 if self.labels is None else int(self.labels.max()) + 1

    @property
    def horizon(self) -> float:
        """delta in m."""
        return self.horizon_cells * self.spacing

    @property
    def bonds_per_particle(self) -> int:
        """Size of the full (interior) bond family."""
        return int(len(self.stencil))

    @property
    def ijk(self) -> np.ndarray:
        """(n, 3) int64 cell index of each particle in the unpadded occupancy."""
        pads = np.array([self.pad, self.pad, self.pad if self.dimension == 3 else 0])
        return np.column_stack(np.unravel_index(self.cells, self.padded_shape)) - pads

    @property
    def cell_to_particle(self) -> np.ndarray:
        """(ncells,) int32 particle id in each padded cell, -1 in empty cells."""
        table = np.full(int(np.prod(self.padded_shape)), -1, dtype=np.int32)
        table[self.cells] = np.arange(len(self.cells), dtype=np.int32)
        return table

    def positions(self) -> np.ndarray:
        """(n, 3) reference positions in m."""
        return self.origin + self.ijk * self.spacing

    @cached_property
    def runs(self) -> np.ndarray:
        """(r, 4) int64 rows (first cell, first particle, length, lanes): runs of consecutive occupied cells.

        Along a run, particle ids and padded-grid cells both step by one, so a kernel that loops over the particles
        of a run reads every neighbour array at a fixed offset, contiguously (vector loads, no gathers). Runs are
        at most RUN_LENGTH long; ``lanes`` rounds the length up to a multiple of 8 where the extra cells and
        particle ids still exist, so vector loops need no scalar remainder (results of extra lanes are discarded).
        """
        cells = self.cells
        start = np.flatnonzero(np.diff(cells, prepend=-2) != 1)
        length = np.diff(np.append(start, len(cells)))
        pieces = -(-length // RUN_LENGTH)  # split longer runs
        piece = np.arange(pieces.sum()) - np.repeat(np.cumsum(pieces) - pieces, pieces)
        start = np.repeat(start, pieces) + RUN_LENGTH * piece
        length = np.diff(np.append(start, len(cells)))
        first = cells[start]
        ncells = int(np.prod(self.padded_shape))
        room = np.minimum(len(cells) - start, ncells - first - int(self.flat_offset.max()))
        lanes = -(-length // 8) * 8
        lanes = np.where(lanes <= room, lanes, length)
        return np.column_stack([first, start, length, lanes]).astype(np.int64)

    @cached_property
    def run_chunks(self) -> np.ndarray:
        """(k + 1,) boundaries of groups of consecutive runs with about equal particle counts (parallel work units)."""
        runs = self.runs
        target = max(256, self.count // 64)
        ends = np.cumsum(runs[:, 2])
        marks = np.searchsorted(ends, np.arange(target, ends[-1], target), side="left") + 1
        return np.unique(np.concatenate([[0], marks, [len(runs)]])).astype(np.int64)

    def neighbours(self) -> np.ndarray:
        """(n, nb) int32 particle id of each stencil neighbour, -1 where the cell is empty or holds another body."""
        nbr = self.cell_to_particle[self.cells[:, None] + self.flat_offset[None, :]]
        if self.labels is not None:
            other = self.labels[np.maximum(nbr, 0)] != self.labels[:, None]
            nbr[other] = -1
        return nbr
