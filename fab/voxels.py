"""Voxel grids: the occupancy of a part on a regular cubic lattice.

Conventions (used by every stage after voxelization):

- Geometry is in millimetres. ``pitch`` is the voxel edge in mm.
- ``occupancy[i, j, k]`` is True when the voxel whose *centre* is ``origin + (i, j, k) * pitch`` is
  filled; axis 0 is x, axis 1 is y, axis 2 is z.
- ``material_ids`` (optional, uint8, same shape) indexes into ``materials`` (names); 0 is the first.

Voxelizing (:func:`voxelize`): exact ray parity along x for watertight meshes, with a symbolic-perturbation tie
rule for centres on faces, edges and vertices; the lattice phase is shifted (< 1/2 voxel per axis) so the voxel
volume matches the mesh volume; meshes with holes use parity along three axes from rays with even crossing counts
and the generalized winding number. ``docs/voxel-format.md`` explains each step.

On-disk format (``.npz``, see ``docs/voxel-format.md``): arrays ``occupancy`` (bit-packed),
``shape``, ``pitch``, ``origin``, ``units``, ``source_sha256``, ``materials`` and optional
``material_ids``, plus ``format`` = "bits2atoms-voxels" and ``version``. ``VoxelGrid.load(save(g))``
is bit-identical to ``g``.
"""

from __future__ import annotations

import math
import os
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numba
import numpy as np
import trimesh

from exporters.atomic import atomic_path
from fab import voxelize_kernels as kern
from fab.errors import FabError

DEFAULT_MEMORY_LIMIT_MB = 4096.0
# Peak bytes per grid cell: the robust path's packed votes (1) + one axis's crossing bits (1) or the decision (1),
# + material ids (1) + packing on save (~0.2). The exact path needs about 1.2.
BYTES_PER_CELL = 3.2
# Cap on points x triangles for the winding-number pass over disputed voxels (about a second on 2 cores).
WINDING_BUDGET = 2.0e9
# ``count`` sizing: stop within this fraction of the target, or after this many grids (keeping the closest).
COUNT_TOLERANCE = 0.01
MAX_COUNT_GRIDS = 12
# Phase matching: candidate shifts of the grid per axis (in voxels, strictly inside +-1/2), and the volume error
# (fraction) under which the shift closest to the centred grid is preferred.
PHASE_BINS = 256
PHASE_TOLERANCE = 5e-4
# Below this many voxels a single voxel is over 0.1 % of the volume: keep the centred grid.
PHASE_MIN_VOXELS = 1000

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
            target = (
                target.with_suffix(target.suffix + ".npz") if target.suffix else target.with_suffix(".npz")
            )
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
                    raise FabError(
                        f"{source} uses voxel format version {version}; this fab reads up to {FORMAT_VERSION}"
                    )
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
        except (OSError, ValueError, TypeError, KeyError, EOFError, zipfile.BadZipFile) as exc:  # not our file
            raise FabError(f"cannot read voxel grid {source}: {exc.__class__.__name__}: {exc}") from exc


def estimate_grid(bounds_mm: np.ndarray, pitch: float) -> tuple[tuple[int, int, int], int]:
    """Grid shape (one empty layer of padding on every side) and peak bytes needed to voxelize ``bounds_mm``."""
    lo, hi = np.asarray(bounds_mm, dtype=np.float64)
    extent = np.maximum(hi - lo, 0.0)
    shape = tuple(int(math.ceil(e / pitch - 1e-9)) + 2 for e in extent)
    cells = shape[0] * shape[1] * shape[2]
    return shape, int(cells * BYTES_PER_CELL)  # type: ignore[return-value]


def _check_pitch(pitch: float | None) -> float:
    if pitch is None or not np.isfinite(pitch) or pitch <= 0:
        raise FabError(f"pitch must be a positive number of mm, got {pitch}")
    return float(pitch)


def _check_memory(
    bounds_mm: np.ndarray, pitch: float, memory_limit_mb: float, why: str = ""
) -> tuple[int, int, int]:
    shape, need = estimate_grid(bounds_mm, pitch)
    if need > memory_limit_mb * 2**20:
        raise FabError(
            f"{why}a {shape[0]} x {shape[1]} x {shape[2]} grid at pitch {pitch:g} mm needs about {need / 2**20:,.0f} MB, "
            f"over the memory limit of {memory_limit_mb:,.0f} MB; use a larger pitch or raise the limit"
        )
    return shape


def _checked_mesh(mesh: trimesh.Trimesh) -> tuple[np.ndarray, np.ndarray]:
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces, dtype=np.int64)
    if len(faces) == 0 or len(vertices) == 0:
        raise FabError("the mesh is empty: nothing to voxelize")
    if not np.isfinite(vertices).all():
        raise FabError("the mesh has NaN or infinite vertex coordinates")
    extent = vertices.max(axis=0) - vertices.min(axis=0)
    if (extent <= 0).any():
        raise FabError(
            f"the part is flat (extent {extent.round(6).tolist()} mm): it has no volume to voxelize"
        )
    return vertices, faces


def _triangles(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(F, 3, 3) corners of each face: ``vertices[faces]``, gathered by ``np.take`` (several times faster)."""
    return np.take(vertices, faces, axis=0)


def _parity_along(
    tri_grid: np.ndarray, shape: tuple[int, int, int], axis: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Occupancy from rays along ``axis`` (triangles in grid units), in (x, y, z) order, the columns it trusts and
    the filled count (summed by the parity scan).

    The second array (the grid's shape with ``axis`` dropped) is True for rays that cross the surface an even
    number of times. The last layer along the ray is padding, so its running parity is the column's total: an odd
    total means the ray went through a hole of an open mesh and its parity is wrong on one side of the hole.
    """
    order = [axis] + [a for a in range(3) if a != axis]
    tri = np.ascontiguousarray(tri_grid if axis == 0 else tri_grid[:, :, order])
    nx, ny, nz = (shape[a] for a in order)
    starts, members = kern.row_bins(tri, ny)
    # Allocated by numpy rather than in the kernel: numpy asks for huge pages on large arrays (fewer page faults).
    bits = kern.toggle_crossings(tri, starts, members, np.zeros((nx, ny, nz), dtype=np.uint8), numba.get_num_threads())
    count = kern.xor_prefix(bits)
    occ = bits.view(np.bool_)
    return np.transpose(occ, np.argsort(order)), ~occ[-1], count


def _vote_table() -> np.ndarray:
    """Decision for each vote code ``yes + 4 * trusted + 16 * raw`` (see :func:`_robust_occupancy`).

    0 outside, 1 inside (decided by the rays with an even crossing count), 2 / 3 disputed and provisionally
    outside / inside by a plain majority of all three rays.
    """
    table = np.zeros(64, dtype=np.uint8)
    for code in range(64):
        yes, trusted, raw = code & 3, (code >> 2) & 3, code >> 4
        if 2 * yes > trusted:
            table[code] = 1
        elif 2 * yes == trusted:  # no trusted ray, or two trusted rays that disagree
            table[code] = 3 if raw >= 2 else 2
    return table


def _robust_occupancy(tri_grid: np.ndarray, shape: tuple[int, int, int]) -> tuple[np.ndarray, dict]:
    """Occupancy of a mesh with holes: parity along x, y and z, each trusted only on rays with even crossings.

    A hole flips the parity of every voxel on one side of it along the ray, but such a ray crosses the surface
    an odd number of times, so it can be recognised and outvoted by the other two directions. Voxels left
    without a trusted majority (near holes) are settled by the generalized winding number when affordable,
    otherwise by a plain majority of the three rays.
    """
    votes = np.zeros(
        shape, dtype=np.uint8
    )  # yes + 4 * trusted + 16 * raw, packed to keep the peak at ~3 B/cell
    for axis in range(3):
        occ, trusted, _ = _parity_along(tri_grid, shape, axis)
        weight = np.expand_dims(trusted.astype(np.uint8) + np.uint8(16), axis)
        votes += np.expand_dims(trusted.astype(np.uint8) * np.uint8(4), axis)
        parity = occ.view(np.uint8)
        np.multiply(parity, weight, out=parity)  # in place: this axis's parity is not needed any more
        votes += parity
        del occ, parity
    decision = _vote_table()[votes]
    del votes
    disputed = np.argwhere(decision >= 2)
    np.bitwise_and(decision, np.uint8(1), out=decision)
    occupancy = decision.view(np.bool_)
    meta: dict = {"method": "robust", "disputed_voxels": int(len(disputed)), "winding_checked": 0}
    if len(disputed) and len(disputed) * len(tri_grid) <= WINDING_BUDGET:
        wn = kern.winding_numbers(disputed.astype(np.float64), np.ascontiguousarray(tri_grid))
        # abs(): a mesh wound inside-out still has |winding| ~ 1 inside.
        occupancy[tuple(disputed.T)] = np.abs(wn) > 0.5
        meta["winding_checked"] = int(len(disputed))
    return occupancy, meta


def _phase_counts(
    vertices_grid: np.ndarray, faces: np.ndarray, shape: tuple[int, int, int], axis: int, bins: int
) -> np.ndarray:
    """Filled count for each shift d = (b + 1/2) / bins - 1/2 (b < bins) of the grid along ``axis`` (voxels).

    ``vertices_grid`` are the vertices in grid units; the triangles are gathered after the axes are permuted (the
    same numbers as permuting the triangles, with a third of the copying).
    """
    order = [axis, (axis + 1) % 3, (axis + 2) % 3]  # cyclic: keeps the triangles' orientation
    tri = _triangles(np.ascontiguousarray(vertices_grid[:, order]), faces)
    _, ny, nz = (shape[a] for a in order)
    starts, members = kern.row_bins(tri, ny)
    base, hist = kern.phase_histogram(tri, starts, members, ny, nz, bins, numba.get_num_threads())
    return base.sum() - np.cumsum(hist.sum(axis=0))[:bins]


def _matched_phase(
    vertices_grid: np.ndarray, faces: np.ndarray, shape: tuple[int, int, int], target: float
) -> tuple[np.ndarray, float, int | None]:
    """Shift (voxels, each |d| < 1/2) that makes the filled count match ``target`` (the mesh volume / pitch^3).

    Centre sampling on a fixed lattice misses the volume by up to half a voxel times the area of every planar
    face that lands off-phase (1-2 % for a flat-faced part at 100-250 voxels across). Shifting the lattice moves
    those faces' sampling phase. The filled count for every candidate shift along one axis comes from one
    histogram of that axis's crossings (no grid needed); shifts nearest the centred grid win among those within
    PHASE_TOLERANCE, so parts that already match stay (almost) centred.
    """
    # Strictly inside +-1/2 (the padding layer's centres stay off the bounding box), and never exactly 0: faces at
    # round coordinates would otherwise sit on centres, where the tie rule and this histogram may round apart.
    candidates = (np.arange(PHASE_BINS) + 0.5) / PHASE_BINS - 0.5
    # Planar faces normal to an axis only feel that axis's shift, so the count is nearly separable:
    # count(dx, dy, dz) ~ cx(dx) + cy(dy) + cz(dz) - 2 c0. Search all pairs (dx, dy) for the dz that completes them.
    mid = PHASE_BINS // 2  # candidates mid - 1 and mid are the shifts of -+1/(2 bins) around the centred grid
    cx = _phase_counts(vertices_grid, faces, shape, 0, PHASE_BINS).astype(np.float64)
    centred = int(cx[mid]) if cx[mid - 1] == cx[mid] else None  # no face crosses a centre between them
    if centred is not None and abs(centred - target) <= PHASE_TOLERANCE * abs(target):
        return np.zeros(3), abs(centred - target) / abs(target), centred
    cy, cz = (_phase_counts(vertices_grid, faces, shape, axis, PHASE_BINS).astype(np.float64) for axis in (1, 2))
    c0 = float(np.median([cx[mid], cy[mid], cz[mid]]))
    pair = cx[:, None] + cy[None, :] - 2.0 * c0
    order = np.lexsort((np.abs(candidates), cz))  # by count, then nearest the centre first among equal counts
    want = target - pair
    slot = np.clip(np.searchsorted(cz[order], want, side="left"), 1, PHASE_BINS - 1)
    best_z = np.where(
        np.abs(cz[order][slot - 1] - want) <= np.abs(cz[order][slot] - want), order[slot - 1], order[slot]
    )
    error = np.abs(pair + cz[best_z] - target) / abs(target)
    distance = candidates[:, None] ** 2 + candidates[None, :] ** 2 + candidates[best_z] ** 2
    # Within the tolerance every candidate is as good: take the one nearest the centred grid.
    pick = np.argmin(np.maximum(error, PHASE_TOLERANCE) + 1e-6 * distance)
    i, j = np.unravel_index(pick, error.shape)
    starts = [np.array([0.0, candidates[j], candidates[best_z[i, j]]]), np.full(3, candidates[mid])]
    # The model is approximate (faces at an angle feel every shift, faces on centres tie): from the model's pick
    # and from the centred grid, settle each shift exactly with the others fixed until within the tolerance.
    best_shift, best_error = starts[1], math.inf
    for shift in starts:
        error = math.inf
        for axis in (0, 1, 2, 0):
            others = shift.copy()
            others[axis] = 0.0
            counts = _phase_counts(vertices_grid - others, faces, shape, axis, PHASE_BINS)
            errors = np.abs(counts - target) / abs(target)  # target < 0 for an inside-out mesh, as are counts
            good = np.flatnonzero(errors <= PHASE_TOLERANCE)
            pick = good[np.argmin(np.abs(candidates[good]))] if len(good) else int(np.argmin(errors))
            if errors[pick] < error or len(good):
                shift[axis] = candidates[pick]
                error = float(errors[pick])
            if error <= PHASE_TOLERANCE:
                break
        if error < best_error:
            best_shift, best_error = shift, error
        if best_error <= PHASE_TOLERANCE:
            break
    return best_shift, best_error, centred


def _voxelize_at(
    vertices: np.ndarray,
    faces: np.ndarray,
    pitch: float,
    shape: tuple[int, int, int],
    robust: bool,
    match_volume: bool = False,
    volume: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, dict]:
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    # Centre the grid on the part so symmetric parts voxelize symmetrically.
    origin = 0.5 * (lo + hi) - 0.5 * (np.array(shape) - 1) * pitch
    # Vertices to grid units before gathering the triangles: the same numbers, a third of the arithmetic.
    vertices_grid = (vertices - origin) / pitch
    if robust:
        occupancy, meta = _robust_occupancy(_triangles(vertices_grid, faces), shape)
        return occupancy, origin, meta
    meta: dict = {"method": "parity", "phase_voxels": [0.0, 0.0, 0.0]}
    target = volume / pitch**3
    if not match_volume or abs(target) < PHASE_MIN_VOXELS:
        return _parity_along(_triangles(vertices_grid, faces), shape, 0)[0], origin, meta
    shift, predicted, centred = _matched_phase(vertices_grid, faces, shape, target)
    centred_error = math.inf if centred is None else abs(centred - target) / abs(target)
    if predicted >= centred_error:
        return _parity_along(_triangles(vertices_grid, faces), shape, 0)[0], origin, meta
    shifted_origin = origin + shift * pitch
    occupancy, _, count = _parity_along(_triangles((vertices - shifted_origin) / pitch, faces), shape, 0)
    error = abs(count - abs(target)) / abs(target)
    if error > max(predicted, PHASE_TOLERANCE):  # a face tied with centres and rounded the other way: check
        del occupancy
        centred_occupancy, _, centred_count = _parity_along(_triangles(vertices_grid, faces), shape, 0)
        if abs(centred_count - abs(target)) / abs(target) <= error:
            return centred_occupancy, origin, meta
        del centred_occupancy
        occupancy = _parity_along(_triangles((vertices - shifted_origin) / pitch, faces), shape, 0)[0]
    meta["phase_voxels"] = [float(d) for d in shift]
    return occupancy, shifted_origin, meta


def lattice_occupancy(
    mesh: trimesh.Trimesh,
    origin: np.ndarray,
    spacing: float | np.ndarray,
    shape: tuple[int, int, int],
) -> np.ndarray:
    """Exact inside test of the points ``origin + (i, j, k) * spacing`` (mm; ``spacing`` may differ per axis).

    The same ray parity and tie rule as :func:`voxelize`, on a lattice the caller chooses (another tool's grid, a
    shifted phase): for a watertight mesh, any other exact inside test of these points gives the same array.
    Returns a bool array of ``shape`` in (x, y, z) order.
    """
    vertices, faces = _checked_mesh(mesh)
    step = np.broadcast_to(np.asarray(spacing, dtype=np.float64), (3,))
    if not (np.isfinite(step).all() and (step > 0).all()):
        raise FabError(f"lattice spacing must be positive numbers of mm, got {step.tolist()}")
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or min(shape) < 1:
        raise FabError(f"lattice shape must be three positive counts, got {shape}")
    # Parity along a ray is unchanged by scaling each axis, so anisotropic spacing maps onto unit grid units.
    tri_grid = _triangles((vertices - np.asarray(origin, dtype=np.float64).reshape(3)) / step, faces)
    return _parity_along(tri_grid, shape, 0)[0]  # type: ignore[arg-type]


def open_face_count(mesh: trimesh.Trimesh) -> int:
    """Faces with at least one edge that no other face shares (0 for a closed mesh)."""
    edges = np.sort(mesh.edges_sorted, axis=1)
    _, inverse, counts = np.unique(edges, axis=0, return_inverse=True, return_counts=True)
    boundary = counts[inverse.ravel()] == 1
    return int(np.unique(np.arange(len(mesh.faces)).repeat(3)[boundary]).size)


def pitch_for_count(mesh: trimesh.Trimesh, count: int) -> float:
    """First guess of the pitch (mm) that gives about ``count`` filled voxels: (volume / count)^(1/3)."""
    if count is None or count < 1:
        raise FabError(f"--count must be at least 1 voxel, got {count}")
    volume = abs(float(mesh.volume)) if mesh.is_volume else float(np.prod(mesh.extents)) * 0.5
    if volume <= 0:
        raise FabError("the part has zero volume: nothing to voxelize")
    return (volume / count) ** (1.0 / 3.0)


def _voxelize_count(
    mesh: trimesh.Trimesh,
    vertices: np.ndarray,
    faces: np.ndarray,
    bounds: np.ndarray,
    count: int,
    memory_limit_mb: float,
    robust: bool,
    match_volume: bool,
    volume: float,
) -> tuple[float, np.ndarray, np.ndarray, dict]:
    """Pitch whose filled count is closest to ``count``.

    Secant steps on count ~ volume / pitch^3 converge in two or three grids for large counts; the count is a
    step function of the pitch, so once the target is bracketed, steps that leave the bracket bisect it instead.
    """
    pitch = pitch_for_count(mesh, count)
    best = None
    too_fine, too_coarse = 0.0, math.inf  # pitches known to give too many / too few voxels
    for _ in range(MAX_COUNT_GRIDS):
        why = f"--count {count} needs a pitch of about {pitch:.3g} mm: "
        shape = _check_memory(bounds, pitch, memory_limit_mb, why)
        occupancy, origin, meta = _voxelize_at(vertices, faces, pitch, shape, robust, match_volume, volume)
        got = int(np.count_nonzero(occupancy))
        if got and (best is None or abs(got - count) < abs(best[0] - count)):
            best = (got, pitch, occupancy, origin, meta)
        if got and abs(got - count) <= COUNT_TOLERANCE * count:
            break
        if got > count:
            too_fine = max(too_fine, pitch)
        else:
            too_coarse = min(too_coarse, pitch)
        # A part thinner than the pitch can miss every centre: halve the pitch rather than divide by zero.
        step = pitch * (got / count) ** (1.0 / 3.0) if got else 0.5 * pitch
        if not too_fine < step < too_coarse:
            step = math.sqrt(too_fine * too_coarse)
        if too_coarse / max(too_fine, 1e-300) < 1.0 + 1e-9:
            break  # no pitch gives a count nearer the target
        pitch = step
    if best is None:
        raise FabError(f"--count {count}: not a single voxel centre falls inside the part at any pitch tried")
    return best[1], best[2], best[3], best[4]


def voxelize(
    mesh: trimesh.Trimesh,
    pitch: float | None = None,
    count: int | None = None,
    *,
    memory_limit_mb: float = DEFAULT_MEMORY_LIMIT_MB,
    material_id: int | None = None,
    materials: tuple[str, ...] = (),
    source_sha256: str = "",
    robust: bool | None = None,
    match_volume: bool = True,
) -> VoxelGrid:
    """Voxelize a mesh (in mm): a voxel is filled when its centre is inside the mesh.

    Give exactly one of ``pitch`` (voxel edge in mm) or ``count`` (target number of filled voxels; the pitch is
    refined until the count is within 1 % or 12 grids have been tried; the closest is kept). Watertight meshes
    use exact ray parity along x on a lattice whose phase is shifted (under half a voxel per axis, recorded in
    ``meta["phase_voxels"]``) to match the mesh volume, unless ``match_volume=False``. Meshes with open faces
    (or ``robust=True``) vote with parity along x, y and z from rays that cross the surface an even number of
    times, then settle disputed voxels by their generalized winding number; a warning says how many faces are
    open and ``meta`` records ``method``, ``open_faces``, ``disputed_voxels`` and ``winding_checked``.
    The grid needs about ``BYTES_PER_CELL`` bytes per cell at peak and is refused above ``memory_limit_mb``.
    """
    if (pitch is None) == (count is None):
        raise FabError("give exactly one of pitch (mm) or count (voxels)")
    vertices, faces = _checked_mesh(mesh)
    open_faces = 0 if mesh.is_watertight else open_face_count(mesh)
    if robust is None:
        robust = open_faces > 0
    if open_faces:
        warnings.warn(
            f"the mesh is not watertight ({open_faces} of {len(faces)} faces are open); "
            "voxelizing by majority vote of three ray directions and winding numbers",
            stacklevel=2,
        )
    bounds = np.stack([vertices.min(axis=0), vertices.max(axis=0)])
    volume = float(mesh.volume)  # signed: negative for an inside-out mesh, as the crossing signs are
    match_volume = match_volume and not robust and abs(volume) > 0
    if count is not None:
        pitch, occupancy, origin, meta = _voxelize_count(
            mesh, vertices, faces, bounds, count, memory_limit_mb, robust, match_volume, volume
        )
    else:
        pitch = _check_pitch(pitch)
        shape = _check_memory(bounds, pitch, memory_limit_mb)
        occupancy, origin, meta = _voxelize_at(vertices, faces, pitch, shape, robust, match_volume, volume)
    if not occupancy.any():
        raise FabError(f"no voxel centre falls inside the part at pitch {pitch:g} mm; use a smaller pitch")
    meta["open_faces"] = open_faces
    material_ids = None
    if material_id is not None:
        material_ids = np.where(occupancy, np.uint8(material_id), np.uint8(0))
    return VoxelGrid(
        occupancy=occupancy,
        pitch=pitch,
        origin=origin,
        material_ids=material_ids,
        materials=materials,
        source_sha256=source_sha256,
        meta=meta,
    )
