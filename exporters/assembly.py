"""Voxel assembly plans: the order in which a robot places discrete lattice voxels, one at a time.

The file format and the three buildability rules are specified in ``docs/assembly-format.md``. In short,
with placement indices 0..n-1 and lattice indices ijk (k is up, k == 0 is the ground layer):

1. support: a placement is on the ground (k == 0) or shares a face with an earlier placement;
2. no insertion: a placement never has both opposite face neighbours along one axis placed already;
3. ground up: the *sweep level* of the placements never decreases. The sweep level of a voxel is the
   lowest height h such that the voxel is face-connected to the ground through voxels with k <= h, i.e.
   its layer for an ordinary voxel and the layer of its support for a voxel hanging under an overhang.

``plan_assembly`` builds an order that keeps every rule: a priority queue keyed by (sweep level, k, j, i)
grows the structure from the ground; a voxel whose placement would later force an insertion (its line of
voxels along some axis already has a placed voxel, but not next to it) waits until its neighbour is
placed. Rule 2 over a whole plan is equivalent to "along every axis line, the placed voxels of each
contiguous run always form one interval", which is what that test keeps.

Geometry: ``pitch`` and ``origin`` (centre of voxel (0, 0, 0)) are in mm; the plan's lattice is the
grid cropped to the occupied bounding box, so its ijk start at 0 and its ground is k == 0.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numba as nb
import numpy as np
from scipy import ndimage

from exporters.atomic import atomic_open
from exporters.errors import ExportError
from exporters.grid import checked_grid

FORMAT_NAME = "bits2atoms-assembly"
FORMAT_VERSION = 1
DEFAULT_RATE_PER_HOUR = 360.0  # placements per hour; a relative robot of the BILL-E class does ~1 per 10 s

RULES = ("bounds", "duplicate", "part_type", "support", "insertion", "ground_up")

# Face-neighbour offsets: +x, -x, +y, -y, +z, -z.
_OFFS = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=np.int64)


@dataclass(frozen=True)
class AssemblyViolation:
    """One placement that breaks a rule: its index in the plan, its ijk, the rule, and a one-line message."""

    index: int
    ijk: tuple[int, int, int]
    rule: str
    message: str

    def __str__(self) -> str:
        return self.message


# --------------------------------------------------------------------------------------------- kernels


@nb.njit(cache=True)
def _heap_push(heap, size, key):
    i = size
    heap[i] = key
    while i > 0:
        parent = (i - 1) >> 1
        if heap[parent] <= heap[i]:
            break
        heap[parent], heap[i] = heap[i], heap[parent]
        i = parent
    return size + 1


@nb.njit(cache=True)
def _heap_pop(heap, size):
    top = heap[0]
    size -= 1
    heap[0] = heap[size]
    i = 0
    while True:
        left = 2 * i + 1
        if left >= size:
            break
        child = left
        if left + 1 < size and heap[left + 1] < heap[left]:
            child = left + 1
        if heap[i] <= heap[child]:
            break
        heap[i], heap[child] = heap[child], heap[i]
        i = child
    return top, size


@nb.njit(cache=True)
def _run_ids(occ):
    """For each axis, an id of the maximal contiguous run of filled voxels each voxel belongs to (-1 empty)."""
    nx, ny, nz = occ.shape
    ids = np.full((3, nx, ny, nz), -1, dtype=np.int64)
    count = 0
    for i in range(nx):
        for j in range(ny):
            for k in range(nz):
                if occ[i, j, k]:
                    if k > 0 and occ[i, j, k - 1]:
                        ids[2, i, j, k] = ids[2, i, j, k - 1]
                    else:
                        ids[2, i, j, k] = count
                        count += 1
                    if j > 0 and occ[i, j - 1, k]:
                        ids[1, i, j, k] = ids[1, i, j - 1, k]
                    else:
                        ids[1, i, j, k] = count
                        count += 1
                    if i > 0 and occ[i - 1, j, k]:
                        ids[0, i, j, k] = ids[0, i - 1, j, k]
                    else:
                        ids[0, i, j, k] = count
                        count += 1
    return ids, count


@nb.njit(cache=True)
def _sweep_levels(occ):
    """Lowest h such that a voxel connects to the ground (k == 0) through voxels with k <= h; -1 if never."""
    nx, ny, nz = occ.shape
    level = np.full((nx, ny, nz), -1, dtype=np.int64)
    n = 0
    for i in range(nx):
        for j in range(ny):
            for k in range(nz):
                if occ[i, j, k]:
                    n += 1
    # Bucket queue: processed in increasing level; each voxel enters once, at its final level.
    heap = np.empty(n * 6 + 1, dtype=np.int64)
    size = 0
    plane = nx * ny
    for i in range(nx):
        for j in range(ny):
            if occ[i, j, 0]:
                level[i, j, 0] = 0
                size = _heap_push(heap, size, (0 * nz) * plane + (j * nx + i))
    while size > 0:
        key, size = _heap_pop(heap, size)
        h = key // (nz * plane)
        rest = key - h * nz * plane
        k = rest // plane
        rest -= k * plane
        j = rest // nx
        i = rest - j * nx
        if level[i, j, k] != h:
            continue
        for d in range(6):
            a = i + _OFFS[d, 0]
            b = j + _OFFS[d, 1]
            c = k + _OFFS[d, 2]
            if a < 0 or b < 0 or c < 0 or a >= nx or b >= ny or c >= nz or not occ[a, b, c]:
                continue
            lv = max(h, c)
            if level[a, b, c] == -1 or lv < level[a, b, c]:
                level[a, b, c] = lv
                size = _heap_push(heap, size, (lv * nz + c) * plane + (b * nx + a))
    return level


@nb.njit(cache=True)
def _order_kernel(occ, level, run_ids, n_runs):
    """Greedy buildable order; returns (ijk[n_placed, 3], n_placed). Stops early when stuck."""
    nx, ny, nz = occ.shape
    plane = nx * ny
    n = 0
    for i in range(nx):
        for j in range(ny):
            for k in range(nz):
                if occ[i, j, k]:
                    n += 1
    placed = np.zeros((nx, ny, nz), dtype=np.bool_)
    queued = np.zeros((nx, ny, nz), dtype=np.bool_)
    run_placed = np.zeros(n_runs, dtype=np.int64)
    out = np.empty((n, 3), dtype=np.int64)
    heap = np.empty(n * 7 + 1, dtype=np.int64)
    size = 0
    for i in range(nx):
        for j in range(ny):
            if occ[i, j, 0]:
                size = _heap_push(heap, size, (level[i, j, 0] * nz + 0) * plane + j * nx + i)
                queued[i, j, 0] = True
    m = 0
    while size > 0:
        key, size = _heap_pop(heap, size)
        rest = key % (nz * plane)
        k = rest // plane
        rest -= k * plane
        j = rest // nx
        i = rest - j * nx
        queued[i, j, k] = False
        if placed[i, j, k]:
            continue
        ok = True
        for ax in range(3):
            if run_placed[run_ids[ax, i, j, k]] > 0:
                # its run already has placed voxels: this one must extend that interval
                a0 = i - _OFFS[2 * ax, 0]
                b0 = j - _OFFS[2 * ax, 1]
                c0 = k - _OFFS[2 * ax, 2]
                a1 = i + _OFFS[2 * ax, 0]
                b1 = j + _OFFS[2 * ax, 1]
                c1 = k + _OFFS[2 * ax, 2]
                lo = a0 >= 0 and b0 >= 0 and c0 >= 0 and placed[a0, b0, c0]
                hi = a1 < nx and b1 < ny and c1 < nz and placed[a1, b1, c1]
                if not (lo or hi):
                    ok = False
                    break
        if not ok:
            continue  # re-queued when one of its neighbours is placed
        placed[i, j, k] = True
        for ax in range(3):
            run_placed[run_ids[ax, i, j, k]] += 1
        out[m, 0] = i
        out[m, 1] = j
        out[m, 2] = k
        m += 1
        for d in range(6):
            a = i + _OFFS[d, 0]
            b = j + _OFFS[d, 1]
            c = k + _OFFS[d, 2]
            if a < 0 or b < 0 or c < 0 or a >= nx or b >= ny or c >= nz:
                continue
            if occ[a, b, c] and not placed[a, b, c] and not queued[a, b, c]:
                queued[a, b, c] = True
                size = _heap_push(heap, size, (level[a, b, c] * nz + c) * plane + b * nx + a)
    return out, m


@nb.njit(cache=True)
def _check_kernel(ijk, types, n_types, shape, level):
    """First violation as (index, rule code) with rule codes indexing RULES; (-1, -1) if the plan is valid."""
    nx, ny, nz = shape[0], shape[1], shape[2]
    placed = np.zeros((nx, ny, nz), dtype=np.bool_)
    last_level = 0
    for p in range(ijk.shape[0]):
        i, j, k = ijk[p, 0], ijk[p, 1], ijk[p, 2]
        if i < 0 or j < 0 or k < 0 or i >= nx or j >= ny or k >= nz:
            return p, 0
        if placed[i, j, k]:
            return p, 1
        if types[p] < 0 or types[p] >= n_types:
            return p, 2
        supported = k == 0
        for d in range(6):
            a = i + _OFFS[d, 0]
            b = j + _OFFS[d, 1]
            c = k + _OFFS[d, 2]
            if a >= 0 and b >= 0 and c >= 0 and a < nx and b < ny and c < nz and placed[a, b, c]:
                supported = True
                break
        if not supported:
            return p, 3
        for ax in range(3):
            a0 = i - _OFFS[2 * ax, 0]
            b0 = j - _OFFS[2 * ax, 1]
            c0 = k - _OFFS[2 * ax, 2]
            a1 = i + _OFFS[2 * ax, 0]
            b1 = j + _OFFS[2 * ax, 1]
            c1 = k + _OFFS[2 * ax, 2]
            lo = a0 >= 0 and b0 >= 0 and c0 >= 0 and placed[a0, b0, c0]
            hi = a1 < nx and b1 < ny and c1 < nz and placed[a1, b1, c1]
            if lo and hi:
                return p, 4
        if level[i, j, k] < last_level:
            return p, 5
        last_level = level[i, j, k]
        placed[i, j, k] = True
    return -1, -1


# --------------------------------------------------------------------------------------------- planning


def _unsupported_island(occ: np.ndarray) -> str | None:
    """Describe the first face-connected island that never touches the ground layer, or None."""
    labels, n = ndimage.label(occ)  # default structure = face connectivity
    if n <= 1 and occ[:, :, 0].any():
        return None
    grounded = np.unique(labels[:, :, 0])
    floating = np.setdiff1d(np.arange(1, n + 1), grounded)
    if len(floating) == 0:
        return None
    lab = int(floating[0])
    sl = ndimage.find_objects((labels == lab).astype(np.int32))[0]
    idx = np.argwhere(labels[sl] == lab)[0] + [s.start for s in sl]
    lo = [s.start for s in sl]
    hi = [s.stop - 1 for s in sl]
    return (
        f"{len(floating)} voxel island(s) never touch the ground layer and can never be supported; "
        f"the first spans ijk {tuple(lo)}..{tuple(hi)} and contains voxel {tuple(int(v) for v in idx)}"
    )


def plan_assembly(
    occupancy: np.ndarray,
    pitch: float,
    origin=(0.0, 0.0, 0.0),
    material_ids: np.ndarray | None = None,
    materials: tuple[str, ...] | list[str] = (),
    part_names: dict[int, str] | None = None,
    placement_rate_per_hour: float = DEFAULT_RATE_PER_HOUR,
    lattice_kind: str = "cubic",
) -> dict:
    """Build a buildable assembly plan (a dict in the documented format, placements as an int64 array).

    ``occupancy`` bool[nx, ny, nz] with z up; ``pitch`` mm; ``origin`` = centre of voxel (0, 0, 0) in mm.
    ``material_ids`` (uint8, same shape) pick the part type of each voxel; ``materials`` names them and
    ``part_names`` (material id -> voxel part name) overrides the default part name ``"<material>-voxel"``.
    Raises ExportError for an empty grid, a floating island, or a shape with no buildable greedy order.
    """
    occ, pitch, org = checked_grid(occupancy, pitch, origin, "assemble")
    rate = float(placement_rate_per_hour)
    if not np.isfinite(rate) or rate <= 0:
        raise ExportError(f"placement rate must be a positive number per hour, got {placement_rate_per_hour}")
    if material_ids is not None:
        mids = np.asarray(material_ids)
        if mids.shape != occ.shape:
            raise ExportError(f"material_ids shape {mids.shape} differs from occupancy shape {occ.shape}")
    # Crop to the occupied box so the ground is k == 0.
    nz_any = np.nonzero(occ.any(axis=(1, 2)))[0], np.nonzero(occ.any(axis=(0, 2)))[0]
    lo = np.array([nz_any[0][0], nz_any[1][0], np.nonzero(occ.any(axis=(0, 1)))[0][0]])
    hi = np.array([nz_any[0][-1], nz_any[1][-1], np.nonzero(occ.any(axis=(0, 1)))[0][-1]]) + 1
    crop = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    occ = np.ascontiguousarray(occ[crop])
    problem = _unsupported_island(occ)
    if problem:
        raise ExportError(problem.replace("ijk ", f"ijk (cropped grid, offset {tuple(int(v) for v in lo)}) "))
    level = _sweep_levels(occ)
    run_ids, n_runs = _run_ids(occ)
    ijk, m = _order_kernel(occ, level, run_ids, n_runs)
    n = int(np.count_nonzero(occ))
    if m < n:
        rest = np.argwhere(occ & ~_placed_mask(occ.shape, ijk[:m]))[0]
        raise ExportError(
            f"no buildable order found: after {m} of {n} placements, voxel {tuple(int(v) for v in rest + lo)} "
            "could only be inserted between two placed neighbours"
        )
    ijk = ijk[:m]
    if material_ids is not None:
        mids = np.asarray(material_ids)[crop]
        raw = mids[ijk[:, 0], ijk[:, 1], ijk[:, 2]].astype(np.int64)
    else:
        raw = np.zeros(m, dtype=np.int64)
    used = np.unique(raw)
    part_types = []
    for t, mid in enumerate(used):
        mat = materials[mid] if mid < len(materials) else f"material-{mid}"
        name = (part_names or {}).get(int(mid), f"{mat}-voxel")
        part_types.append({"id": t, "material_id": int(mid), "material": str(mat), "name": str(name)})
    types = np.searchsorted(used, raw)
    placements = np.column_stack([np.arange(m), ijk, types]).astype(np.int64)
    plan = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "lattice": {
            "kind": lattice_kind,
            "pitch_mm": pitch,
            "origin_mm": [float(v) for v in org + lo * pitch],
            "shape": [int(v) for v in occ.shape],
            "up": "+k",
            "ground_k": 0,
        },
        "part_types": part_types,
        "placements": placements,
        "summary": _summary(placements, part_types, rate, level),
    }
    return plan


def _placed_mask(shape, ijk: np.ndarray) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[ijk[:, 0], ijk[:, 1], ijk[:, 2]] = True
    return mask


def _summary(placements: np.ndarray, part_types: list[dict], rate: float, level: np.ndarray) -> dict:
    counts = np.bincount(placements[:, 4], minlength=len(part_types))
    ijk = placements[:, 1:4]
    hanging = int(np.count_nonzero(level[ijk[:, 0], ijk[:, 1], ijk[:, 2]] != ijk[:, 2]))
    seconds = len(placements) / rate * 3600.0
    return {
        "placements": int(len(placements)),
        "per_part_type": {pt["name"]: int(c) for pt, c in zip(part_types, counts, strict=True)},
        "layers": int(ijk[:, 2].max()) + 1,
        "hanging_placements": hanging,
        "placement_rate_per_hour": rate,
        "estimated_build_time_s": seconds,
        "estimated_build_time_h": seconds / 3600.0,
    }


# --------------------------------------------------------------------------------------------- file I/O


def write_assembly(plan: dict, path: str | os.PathLike[str]) -> None:
    """Write a plan as JSON (one placement ``[index, i, j, k, type]`` per line, so large plans stay diffable)."""
    placements = np.asarray(plan["placements"], dtype=np.int64)
    head = {key: value for key, value in plan.items() if key != "placements"}
    text = json.dumps(head, indent=1)
    rows = ",\n".join(map("[%d,%d,%d,%d,%d]".__mod__, map(tuple, placements.tolist())))
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(text[:-2] if text.endswith("\n}") else text[:-1])
        fh.write(',\n "placements": [\n')
        fh.write(rows)
        fh.write("\n ]\n}\n")


def read_assembly(path: str | os.PathLike[str]) -> dict:
    """Read a plan written by ``write_assembly`` (placements become an int64 array of shape (n, 5))."""
    try:
        with open(path, encoding="utf-8") as fh:
            plan = json.load(fh)
    except FileNotFoundError:
        raise ExportError(f"assembly plan not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ExportError(f"{path} is not a JSON assembly plan: {exc}") from None
    if not isinstance(plan, dict) or plan.get("format") != FORMAT_NAME:
        raise ExportError(f"{path} is not a {FORMAT_NAME} file (missing or wrong 'format')")
    plan["placements"] = _placements_array(plan.get("placements"))
    return plan


def _placements_array(raw) -> np.ndarray:
    try:
        arr = np.asarray(raw if raw is not None else [])
    except (TypeError, ValueError):
        arr = np.asarray([[None]], dtype=object)
    if arr.size == 0:
        return np.zeros((0, 5), dtype=np.int64)
    if arr.dtype.kind not in "iu":  # floats, strings, nulls or ragged rows: not silently truncated
        raise ExportError("placements must be a list of [index, i, j, k, type] integer rows")
    arr = arr.astype(np.int64)
    if arr.ndim != 2 or arr.shape[1] != 5:
        raise ExportError(f"placements must be rows of [index, i, j, k, type], got shape {arr.shape}")
    return arr


def export_assembly(
    occupancy: np.ndarray,
    pitch: float,
    origin,
    path: str | os.PathLike[str],
    material_ids: np.ndarray | None = None,
    materials: tuple[str, ...] | list[str] = (),
    placement_rate_per_hour: float = DEFAULT_RATE_PER_HOUR,
) -> dict:
    """One call: plan the assembly of a voxel grid and write it to ``path`` (JSON); return the plan."""
    plan = plan_assembly(
        occupancy,
        pitch,
        origin,
        material_ids=material_ids,
        materials=materials,
        placement_rate_per_hour=placement_rate_per_hour,
    )
    write_assembly(plan, path)
    return plan


# --------------------------------------------------------------------------------------------- checking


def check_assembly(plan: dict | str | os.PathLike[str]) -> list[AssemblyViolation]:
    """Validate a plan (dict or path); return [] if buildable, else the first violation (a one-item list).

    Rules are checked in placement order, so the violation reported is the first placement that breaks
    one (see the module docstring and docs/assembly-format.md for the rules).
    """
    if not isinstance(plan, dict):
        plan = read_assembly(plan)
    placements = _placements_array(plan.get("placements"))
    if len(placements) == 0:
        raise ExportError("the plan has no placements")
    lattice = plan.get("lattice") or {}
    try:
        shape = np.asarray(lattice["shape"], dtype=np.int64).reshape(3)
    except (KeyError, TypeError, ValueError):
        raise ExportError("the plan's lattice has no valid 'shape' [nx, ny, nz]") from None
    if np.any(shape <= 0):
        raise ExportError(f"the plan's lattice shape must be positive, got {shape.tolist()}")
    n = len(placements)
    # Index fields and lattice bounds are checked with numpy; the rest runs in the kernel on the prefix
    # before the first such problem, on a grid no larger than what that prefix occupies.
    bad_index = np.nonzero(placements[:, 0] != np.arange(n))[0]
    outside = np.nonzero(np.any((placements[:, 1:4] < 0) | (placements[:, 1:4] >= shape), axis=1))[0]
    first_index = int(bad_index[0]) if len(bad_index) else n
    first_outside = int(outside[0]) if len(outside) else n
    limit = min(first_index, first_outside)
    ijk = np.ascontiguousarray(placements[:limit, 1:4])
    types = np.ascontiguousarray(placements[:limit, 4])
    n_types = len(plan.get("part_types") or [])
    grid = ijk.max(axis=0) + 1 if limit else np.ones(3, dtype=np.int64)
    occ = np.zeros(tuple(int(v) for v in grid), dtype=bool)
    occ[ijk[:, 0], ijk[:, 1], ijk[:, 2]] = True
    # Sweep levels come from the structure the checked placements build.
    level = _sweep_levels(occ)
    level[occ & (level < 0)] = np.iinfo(np.int64).max  # floating voxels fail support before this matters
    p, code = _check_kernel(ijk, types, n_types, grid, level)
    if p >= 0:
        return [_violation(int(p), RULES[code], ijk[p], types[p], shape)]
    if limit == n:
        return []
    row = placements[limit]
    if limit == first_index:
        return [
            AssemblyViolation(
                limit,
                tuple(int(v) for v in row[1:4]),
                "index",
                f"placement {limit}: index field is {int(row[0])}, expected {limit}",
            )
        ]
    return [_violation(limit, "bounds", row[1:4], row[4], shape)]


def _violation(p: int, rule: str, ijk: np.ndarray, ptype: int, shape: np.ndarray) -> AssemblyViolation:
    where = tuple(int(v) for v in ijk)
    text = {
        "bounds": f"lies outside the lattice of shape {tuple(int(v) for v in shape)}",
        "duplicate": "places a voxel where one was already placed",
        "part_type": f"uses part type {int(ptype)}, which is not in part_types",
        "support": "is not on the ground (k == 0) and touches no earlier voxel face to face",
        "insertion": "is inserted between two already-placed opposite neighbours",
        "ground_up": "goes back down: its sweep level is lower than an earlier placement's",
    }[rule]
    return AssemblyViolation(p, where, rule, f"placement {p} at ijk {where} {text} (rule: {rule})")


def export(grid, path: str | os.PathLike[str], placement_rate_per_hour: float | None = None,
           material: str | None = None) -> dict:  # fmt: skip
    """The exporter entry point (exporters/__init__.py): ``grid`` has occupancy, pitch (mm), origin,
    material_ids and materials (fab.voxels.VoxelGrid); ``material`` names the material of the voxels the grid
    leaves unnamed (a part voxelized from one solid: fab export's --material, a job's [material]), so that the
    plan's part types are made of a library material (fab check-assembly --physics reads them); returns the
    plan's summary."""
    rate = {} if placement_rate_per_hour is None else {"placement_rate_per_hour": placement_rate_per_hour}
    materials = tuple(grid.materials)
    if material is not None:
        ids = np.asarray(grid.material_ids) if grid.material_ids is not None else np.zeros(1, dtype=np.int64)
        count = max(int(ids.max()) + 1, len(materials))
        materials = materials + (str(material),) * (count - len(materials))
    plan = export_assembly(
        grid.occupancy, grid.pitch, grid.origin, path, material_ids=grid.material_ids, materials=materials,
        **rate,
    )  # fmt: skip
    return dict(plan.get("summary", {}))
