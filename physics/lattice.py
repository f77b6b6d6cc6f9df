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

# Longest run of particles a force kernel processes at once (its accumulators' size). Each (run, bond) pays a fixed
# cost (the bond's constants, LLVM's alias checks) beside its vector iterations, so longer runs cost less a particle;
# 160: the float64 pair force kernel's scratch (26 rows) stays in 33 KB of the 48 KB L1. On the 38,400-particle
# cantilever (rows 160 long: 240 runs, not 720 at 64) one float32 LPS evaluation's kernels took 0.87 x the CPU
# time, float64 the same (benchmarks/bench_kernels.py --runs).
RUN_LENGTH = 160


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
        return runs_of(self.cells, int(np.prod(self.padded_shape)), int(self.flat_offset.max()))

    @cached_property
    def run_chunks(self) -> np.ndarray:
        """(k + 1,) boundaries of groups of consecutive runs with about equal particle counts (parallel work units)."""
        return run_chunks_of(self.runs, self.count)

    @cached_property
    def frame(self) -> RunFrame:
        """The grid as the force kernels traverse it (RunFrame): its axes permuted so runs follow the axis along
        which the body is longest in one piece."""
        return RunFrame.of(self)

    def neighbours(self) -> np.ndarray:
        """(n, nb) int32 particle id of each stencil neighbour, -1 where the cell is empty or holds another body."""
        nbr = self.cell_to_particle[self.cells[:, None] + self.flat_offset[None, :]]
        if self.labels is not None:
            other = self.labels[np.maximum(nbr, 0)] != self.labels[:, None]
            nbr[other] = -1
        return nbr


def runs_of(cells: np.ndarray, ncells: int, reach: int) -> np.ndarray:
    """Lattice.runs of ascending occupied ``cells`` of a padded grid of ``ncells`` cells whose stencil reaches at
    most ``reach`` cells forward."""
    start = np.flatnonzero(np.diff(cells, prepend=-2) != 1)
    length = np.diff(np.append(start, len(cells)))
    pieces = -(-length // RUN_LENGTH)  # split longer runs
    piece = np.arange(pieces.sum()) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    start = np.repeat(start, pieces) + RUN_LENGTH * piece
    length = np.diff(np.append(start, len(cells)))
    first = cells[start]
    room = np.minimum(len(cells) - start, ncells - first - reach)
    lanes = -(-length // 8) * 8
    lanes = np.where(lanes <= room, lanes, length)
    return np.column_stack([first, start, length, lanes]).astype(np.int64)


def run_chunks_of(runs: np.ndarray, count: int) -> np.ndarray:
    """Lattice.run_chunks of ``runs`` over ``count`` particles."""
    target = max(256, count // 64)
    ends = np.cumsum(runs[:, 2])
    marks = np.searchsorted(ends, np.arange(target, ends[-1], target), side="left") + 1
    return np.unique(np.concatenate([[0], marks, [len(runs)]])).astype(np.int64)


# A kernel's cost per run and stencil entry, in vector iterations of 8 lanes: setting up the inner loop (bond
# constants, alias checks) and its accumulators' stores. Chooses RunFrame's axis with the vector iterations.
RUN_COST = 0.5
FRAME_GAIN = 0.9  # another axis than z only where it costs at most this fraction of z's


@dataclass
class RunFrame:
    """The lattice's particles on its padded grid with the axes permuted so that ``axis`` is fastest in memory.

    The force kernels loop over runs of consecutive occupied cells, vectorized across the particles of a run (8
    float32 lanes); along z, the lattice's own fastest axis, a plate lying in xy has runs as short as it is thick
    (the bracket of samples/bracket_job.toml: 6.1 particles a run, 1.64 lanes per particle; along y: 18.2 and
    1.06). The frame orders the particles along the axis of the longest runs (z where that gains little) and the
    laws keep their per-cell tables on its grid; each evaluation copies the state's displacement grids and bond
    words into the frame (O(n), against O(n x bonds) in the kernels), and the kernels write forces and break
    bonds back by lattice particle id. Bond ``b`` is the same stencil entry in both.

    Attributes: ``axis`` (0, 1, 2); ``shape`` the permuted padded grid; ``particle`` (n,) int32 lattice id of each
    frame particle; ``grid_cells`` (n,) int64 frame cell of each lattice particle (where a law's per-cell tables
    hold its values; the lattice's own ``cells`` array in the identity frame, so that frame holds only
    ``particle``, 4 bytes a particle); ``flat_offset`` (nb,) the stencil's offsets on the frame grid; ``runs``,
    ``run_chunks`` as Lattice's, of the frame; ``cells`` (ascending frame cell of each frame particle), ``count``.
    """

    axis: int
    shape: tuple[int, int, int]
    particle: np.ndarray
    grid_cells: np.ndarray
    flat_offset: np.ndarray
    runs: np.ndarray
    run_chunks: np.ndarray

    @property
    def count(self) -> int:
        return int(len(self.particle))

    @property
    def cells(self) -> np.ndarray:
        return self.grid_cells[self.particle]

    @property
    def identity(self) -> bool:
        """The lattice's own order (z fastest): the state's grids and bond words serve the kernels directly."""
        return self.axis == 2

    @classmethod
    def of(cls, lattice: Lattice, axis: int | None = None) -> RunFrame:
        """The frame of ``lattice`` along ``axis``; None: the axis of least kernel cost (vector iterations and
        runs, RUN_COST), z unless another costs at most FRAME_GAIN of it."""
        ijk = np.unravel_index(lattice.cells, lattice.padded_shape)
        reach = lattice.stencil
        choices = []
        for a in (2, 0, 1) if axis is None else (axis,):
            perm = [c for c in range(3) if c != a] + [a]
            shape = tuple(int(lattice.padded_shape[c]) for c in perm)
            key = np.ravel_multi_index(tuple(ijk[c] for c in perm), shape).astype(np.int64)
            order = np.arange(len(key)) if a == 2 else np.argsort(key, kind="stable")
            key = key[order]
            length = np.diff(np.flatnonzero(np.diff(key, prepend=-2, append=-2) != 1))
            pieces = -(-length // RUN_LENGTH)
            cost = float((-(-length // 8)).sum() + RUN_COST * pieces.sum())
            choices.append((cost, a, perm, shape, key, order))
        best = choices[0]
        if len(choices) > 1:
            other = min(choices[1:], key=lambda c: c[0])
            best = other if other[0] < FRAME_GAIN * best[0] else best
        _, axis, perm, shape, key, order = best
        strides = np.array([shape[1] * shape[2], shape[2], 1], dtype=np.int64)
        flat_offset = reach[:, perm] @ strides
        if axis == 2:
            grid_cells = lattice.cells
        else:
            grid_cells = np.empty(len(key), dtype=np.int64)
            grid_cells[order] = key
        runs = runs_of(key, int(np.prod(shape)), int(flat_offset.max()))
        return cls(
            axis=axis,
            shape=shape,  # type: ignore[arg-type]
            particle=order.astype(np.int32),
            grid_cells=grid_cells,
            flat_offset=flat_offset,
            runs=runs,
            run_chunks=run_chunks_of(runs, len(key)),
        )
