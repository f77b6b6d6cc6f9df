"""The ``[morph] problem = "part"`` table beside ``[part]``: read every key, voxelize the design space at the job's
pitch (and the finer re-scoring pitch) and build the :class:`fab.morph.part.PartProblem`.

Errors are one line naming the file and the key (``job.toml: [morph] 'keep_in' ...``). Regions use the job file's
grammar (docs/job-file.md): ``[[fix]]`` and ``[[load]]`` regions are read on the part's voxel centres, as in a
stress test; ``keep_in`` and ``keep_out`` on the design space's. Lengths in mm, forces in N.
"""

from __future__ import annotations

import difflib
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from fab.errors import FabError
from fab.job import Job
from fab.morph.part import Layout, PartProblem, Rules, mirror_map
from fab.morph.search import METHODS, SearchSettings

PART_KEYS = {
    "problem": "part",
    "mode": "quick",  # "quick": one development with the tuned default genes; "search": CMA-ES over the genes
    "design_space": "part",  # "part", "bbox", a margin in mm, or a CAD file
    "keep_in": [],
    "keep_out": [],
    "keep_margin": None,  # mm around the fixed and loaded regions kept (default 2 pitches)
    "cases": None,  # [[1], [2]]: the [[load]] entries (1-based) of each load case; default one case of all
    "goal": "mass",
    "safety_factor": None,  # least mass: default the original's
    "volume_fraction": 0.3,  # stiffest: of the design space
    "min_thickness": None,  # mm, default 2 pitches
    "no_voids": True,
    "overhang": None,  # degrees from the build direction
    "build_direction": "+z",
    "symmetry": [],  # ["y = 0", ...]: planes in mm
    "steps": 30,
    "noise_seed": 0,
    "fine_pitch": None,  # mm, re-scoring pitch of a search (default 0.8 x the job's)
    "output": "out/refine",
    "method": "cma",
    "generations": 10,
    "population": 8,
    "sigma0": 0.2,
    "seed": 1,
    "workers": None,
    "budget_minutes": None,
    "rescore_top": 2,
    "rescore_tolerance": 0.1,
}
GOALS = ("mass", "stiffness")
MODES = ("quick", "search")
DIRECTIONS = ("+x", "-x", "+y", "-y", "+z", "-z")


@dataclass(frozen=True)
class RefineJob:
    """A refinement: the problem, how to run it and where its files go."""

    problem: PartProblem
    mode: str
    settings: SearchSettings
    workers: int | None
    output: Path
    safety_factor: float | None  # required (None: the original's)
    design_space: str
    cell_counts: dict[str, int]


class _Keys:
    def __init__(self, table: dict[str, Any], name: str) -> None:
        self.t, self.name = table, name

    def fail(self, key: str, msg: str) -> FabError:
        return FabError(f"{self.name}: [morph] {key!r} {msg}")

    def number(self, key: str, lo: float | None = None, hi: float | None = None) -> float | None:
        v = self.t.get(key, PART_KEYS[key])
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise self.fail(key, f"must be a number, got {v!r}")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise self.fail(key, f"must be between {lo} and {hi}, got {v!r}")
        return float(v)

    def whole(self, key: str, lo: int) -> int:
        v = self.t.get(key, PART_KEYS[key])
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise self.fail(key, f"must be a whole number >= {lo}, got {v!r}")
        return int(v)

    def regions(self, key: str) -> list[str]:
        from fab.regions import parse_region

        v = self.t.get(key, [])
        v = [v] if isinstance(v, str) else v
        if not isinstance(v, list) or not all(isinstance(r, str) and r.strip() for r in v):
            raise self.fail(key, f"must be a list of region expressions, got {v!r}")
        for r in v:
            try:
                parse_region(r)
            except FabError as exc:
                raise self.fail(key, str(exc)) from None
        return [r.strip() for r in v]

    def choice(self, key: str, choices: tuple[str, ...]) -> str:
        v = self.t.get(key, PART_KEYS[key])
        if not isinstance(v, str) or v.strip().lower() not in choices:
            raise self.fail(key, f"must be one of {', '.join(choices)}, got {v!r}")
        return v.strip().lower()


def is_part_job(job: Job) -> bool:
    """True when the job's [morph] table refines its own part (problem = "part")."""
    return job.morph is not None and job.morph.get("problem") == "part"


def read_refine_job(job: Job, part=None, grid=None, quiet: bool = True) -> RefineJob:
    """Check the job's [morph] table and build the refinement (voxelizing the design space)."""
    from fab.part import load_part
    from fab.voxels import voxelize

    name = job.path.name if job.path is not None else "job"
    table = dict(job.morph or {})
    k = _Keys(table, name)
    for key in table:
        if key not in PART_KEYS:
            close = difflib.get_close_matches(key, list(PART_KEYS), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise FabError(f"{name}: [morph] unknown key {key!r} for a part refinement: {hint}allowed: "
                           + ", ".join(PART_KEYS))
    if not job.fix:
        raise FabError(f"{name}: a refinement needs supports: add [[fix]] regions")
    if not job.load or any(ld.kind != "force" for ld in job.load):
        raise FabError(f"{name}: a refinement needs [[load]] forces (N): torque and displacement loads are not "
                       "refined yet; give each as a force on its region")
    mode = k.choice("mode", MODES)
    goal = k.choice("goal", GOALS)
    method = k.t.get("method", "cma")
    if method not in METHODS:
        raise k.fail("method", f"must be one of {', '.join(METHODS)}, got {method!r}")
    budget = k.number("budget_minutes", 0.01)
    settings = SearchSettings(
        method=method,
        generations=k.whole("generations", 1),
        population=k.whole("population", 4),
        sigma0=k.number("sigma0", 1e-4, 1.0),
        seed=k.whole("seed", 0),
        budget_seconds=None if budget is None else 60 * budget,
        rescore_top=k.whole("rescore_top", 0),
        rescore_tolerance=k.number("rescore_tolerance", 0.0),
    )
    workers = table.get("workers")
    if workers is not None:
        workers = k.whole("workers", 1)
    output = table.get("output", PART_KEYS["output"])
    if not isinstance(output, str) or not output.strip():
        raise k.fail("output", f"must be a folder path, got {output!r}")
    base = job.path.parent if job.path is not None else Path.cwd()
    out = Path(output).expanduser()
    out = (out if out.is_absolute() else base / out).resolve()
    cases = _cases(k, table.get("cases"), len(job.load))
    safety = k.number("safety_factor", 1e-3)
    vf = k.number("volume_fraction", 0.02, 0.98)
    if "safety_factor" in table and goal != "mass":
        raise k.fail("safety_factor", 'applies to goal = "mass" (least mass at a safety factor)')
    if "volume_fraction" in table and goal != "stiffness":
        raise k.fail("volume_fraction", 'applies to goal = "stiffness" (stiffest at a volume fraction)')
    overhang = k.number("overhang", 0.0, 89.0)
    direction = k.choice("build_direction", DIRECTIONS)
    no_voids = table.get("no_voids", True)
    if not isinstance(no_voids, bool):
        raise k.fail("no_voids", f"must be true or false, got {no_voids!r}")
    planes = _planes(k, table.get("symmetry", []))
    space = table.get("design_space", "part")
    if isinstance(space, bool) or not isinstance(space, str | int | float):
        raise k.fail("design_space", f'must be "part", "bbox", a margin in mm or a CAD file, got {space!r}')
    if isinstance(space, int | float) and not (math.isfinite(space) and space > 0):
        raise k.fail("design_space", f"margin must be > 0 mm, got {space!r}")
    envelope = None
    if isinstance(space, str) and space.strip().lower() not in ("part", "bbox"):
        envelope = _envelope(k, space, base)
    keep_in, keep_out = k.regions("keep_in"), k.regions("keep_out")

    if part is None and grid is None:
        part = load_part(job.part.source, params=job.part.params or None, units=job.part.units)
    if grid is None:
        grid = voxelize(part.mesh, pitch=job.voxels.pitch, count=job.voxels.count, source_sha256=part.source_sha256)
    pitch = grid.pitch
    _check_resolved(name, grid.occupancy, pitch)
    margin = k.number("keep_margin", 0.0)
    margin = 2 * pitch if margin is None else margin
    thickness = k.number("min_thickness", 0.0)
    thickness = 2 * pitch if thickness is None else thickness
    rules = Rules(thickness, no_voids, overhang, direction)
    coarse = _layout(k, job, grid, space, envelope, keep_in, keep_out, margin, cases, planes)
    fine = None
    if mode == "search" and settings.rescore_top > 0:
        fp = k.number("fine_pitch", 1e-3, pitch)
        fp = 0.8 * pitch if fp is None else fp
        if part is None:
            part = load_part(job.part.source, params=job.part.params or None, units=job.part.units)
        fgrid = voxelize(part.mesh, pitch=fp)
        fine = _layout(k, job, fgrid, space, envelope, keep_in, keep_out, margin, cases, planes)
    steps = k.whole("steps", 4)
    problem = PartProblem(
        layouts=(coarse, fine),
        material=job.material,
        rules=rules,
        goal=goal,
        volume_fraction=vf if vf is not None else 0.3,
        steps=steps,
        noise_seed=k.whole("noise_seed", 0),
        # The reference, the final design's solve and the stress report in the job's law (the development's
        # remodelling solves are PMB's); a law without a static elastic path here falls back to PMB.
        model="lps" if job.physics.model == "lps" else "pmb",
    )
    if goal == "stiffness" and problem.volume_fraction * coarse.domain.sum() < coarse.keep_in.sum():
        raise k.fail("volume_fraction", "is less than the keep-in regions hold: raise it or shrink them")
    counts = {
        "design_space": int(coarse.domain.sum()),
        "original": int(coarse.original.sum()),
        "keep_in": int(coarse.keep_in.sum()),
    }
    label = space if not isinstance(space, str) else space.strip()
    return RefineJob(problem, mode, settings, workers, out, safety, str(label), counts)


THIN_REFUSED = 0.25  # share of the part's cells in features one voxel wide past which the pitch is refused


def _check_resolved(name: str, original: np.ndarray, pitch: float) -> None:
    """Refuse a pitch at which much of the part is one voxel thick (a plate the refinement cannot thin, whose
    solves are a chain of single particles), warn where some of it is."""
    from fab.morph.guards import thin_fraction
    from fab.morph.part import THIN_LIMIT

    share = thin_fraction(original)
    if share <= THIN_LIMIT:
        return
    what = (f"at pitch {pitch:g} mm, {100 * share:.0f} % of the part's cells lie in features one voxel thick "
            f"(plates, ribs or rods under {2 * pitch:g} mm)")
    if share > THIN_REFUSED:
        raise FabError(f"{name}: {what}: the refinement cannot thin what it cannot resolve; set [voxels] pitch to "
                       f"{pitch / 2:g} mm or finer (2 voxels through the thinnest plate)")
    warnings.warn(f"{name}: {what}: those features can only stay or go whole; a finer pitch refines them",
                  stacklevel=2)


def _cases(k: _Keys, value: Any, loads: int) -> tuple[tuple[int, ...], ...]:
    if value is None:
        return (tuple(range(loads)),)
    ok = isinstance(value, list) and value and all(isinstance(c, list) and c for c in value)
    ok = ok and all(isinstance(i, int) and not isinstance(i, bool) for c in value for i in c)
    if not ok:
        raise k.fail("cases", f"must be a list of load cases, each a list of [[load]] numbers (1-based), got {value!r}")
    for c in value:
        for i in c:
            if not 1 <= i <= loads:
                raise k.fail("cases", f"names [[load]] {i}, but the job has {loads} [[load]] entries")
    return tuple(tuple(i - 1 for i in c) for c in value)


def _planes(k: _Keys, value: Any) -> list[tuple[int, float]]:
    value = [value] if isinstance(value, str) else value
    if not isinstance(value, list):
        raise k.fail("symmetry", f'must be a list of planes like "y = 0" (mm), got {value!r}')
    out = []
    for text in value:
        parts = str(text).replace(" ", "").split("=")
        try:
            axis = "xyz".index(parts[0].lower()) if len(parts) == 2 and len(parts[0]) == 1 else -1
            at = float(parts[1]) if axis >= 0 else math.nan
        except ValueError:
            axis, at = -1, math.nan
        if axis < 0 or not math.isfinite(at):
            raise k.fail("symmetry", f'planes are written "x = 0", "y = 12.5" (mm), got {text!r}')
        out.append((axis, at))
    return out


def _envelope(k: _Keys, space: str, base: Path):
    """The second CAD file of ``design_space``: its mesh, a closed solid (its inside is where material may go)."""
    from fab.part import MESH_SUFFIXES, SCRIPT_SUFFIXES, STEP_SUFFIXES, load_part

    path = Path(space.strip()).expanduser()
    path = path if path.is_absolute() else base / path
    known = MESH_SUFFIXES | STEP_SUFFIXES | SCRIPT_SUFFIXES
    if not path.is_file():
        if path.suffix.lower() in known:
            raise k.fail("design_space", f"CAD file not found: {path}")
        try:
            float(space)
            hint = " (a margin is a number, not a string: design_space = 2)"
        except ValueError:
            hint = ""
        raise k.fail("design_space", f'must be "part", "bbox", a margin in mm or a CAD file, got {space!r}: no '
                     f"such file{hint}")
    with warnings.catch_warnings(record=True) as caught:  # the import's warnings: said below, or again after
        warnings.simplefilter("always")
        try:
            mesh = load_part(path).mesh
        except FabError as exc:
            raise k.fail("design_space", f"cannot read {path.name}: {exc}") from None
    if not mesh.is_watertight or mesh.volume <= 0:
        raise k.fail("design_space", f"{path.name} is not a closed solid (its mesh has holes or faces inwards): "
                     "its inside, where material may grow, is undefined")
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return mesh


def _pad(grid, cells: int):
    from fab.voxels import VoxelGrid

    if cells <= 0:
        return grid
    occ = np.pad(grid.occupancy, cells)
    return VoxelGrid(occ, grid.pitch, grid.origin - cells * grid.pitch)


def _layout(k: _Keys, job: Job, grid, space, envelope, keep_in, keep_out, margin, cases, planes) -> Layout:
    from fab.regions import select

    pitch = grid.pitch
    grow = 0
    if isinstance(space, int | float) and not isinstance(space, bool):
        grow = math.ceil(space / pitch)
    grid = _pad(grid, grow + 1)  # an empty layer around the part: rules and filters see its surface
    original = grid.occupancy
    shape = original.shape
    centres = grid.origin + np.indices(shape).reshape(3, -1).T * pitch
    if envelope is not None:
        mesh = envelope
        lo, hi = mesh.bounds
        glo, ghi = centres.min(axis=0), centres.max(axis=0)
        if np.any(lo < glo - pitch) or np.any(hi > ghi + pitch):
            extra = int(math.ceil(max(np.max(glo - lo), np.max(hi - ghi), 0.0) / pitch)) + 1
            grid = _pad(grid, extra)
            original, shape = grid.occupancy, grid.occupancy.shape
            centres = grid.origin + np.indices(shape).reshape(3, -1).T * pitch
        domain = mesh.contains(centres).reshape(shape) | original
    elif isinstance(space, str) and space.strip().lower() == "bbox":
        ijk = np.argwhere(original)
        domain = np.zeros(shape, dtype=bool)
        lo, hi = ijk.min(axis=0), ijk.max(axis=0) + 1
        domain[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]] = True
    elif grow:
        dist = ndimage.distance_transform_edt(~original) * pitch
        domain = dist <= space + 1e-9
    else:
        domain = original.copy()
    part_pts = centres[original.ravel()]
    flat_orig = np.flatnonzero(original)

    def on_part(expr: str) -> np.ndarray:
        mask = np.zeros(original.size, dtype=bool)
        mask[flat_orig[select(expr, part_pts, pitch_mm=pitch)]] = True
        return mask.reshape(shape)

    def on_domain(key: str, expr: str) -> np.ndarray:
        flat_dom = np.flatnonzero(domain)
        try:
            sel = select(expr, centres[flat_dom], pitch_mm=pitch)
        except FabError as exc:
            raise k.fail(key, f"region {expr!r} lies outside the design space ({exc})") from None
        mask = np.zeros(original.size, dtype=bool)
        mask[flat_dom[sel]] = True
        return mask.reshape(shape)

    try:
        fixed = np.logical_or.reduce([on_part(f.region) for f in job.fix])
        loads = tuple(on_part(ld.region) for ld in job.load)
    except FabError as exc:
        raise FabError(f"{k.name}: {exc}") from None
    out = np.zeros(shape, dtype=bool)
    for expr in keep_out:
        out |= on_domain("keep_out", expr)
    if (fixed & out).any():
        raise k.fail("keep_out", "covers part of a [[fix]] region: a support cannot be kept out")
    for n, cells in enumerate(loads, start=1):
        if (cells & out).any():
            raise k.fail("keep_out", f"covers part of [[load]] {n} (region {job.load[n - 1].region!r}): "
                         "a loaded region cannot be kept out")
    user_in = np.zeros(shape, dtype=bool)
    for expr in keep_in:
        sel = on_domain("keep_in", expr)
        if (sel & out).any():
            raise k.fail("keep_in", f"region {expr!r} overlaps a keep_out region")
        user_in |= sel
    domain = domain & ~out
    anchor = fixed | np.logical_or.reduce(loads)
    if margin > 0:
        near = ndimage.distance_transform_edt(~anchor) * pitch <= margin + 1e-9
    else:
        near = anchor
    keep = (near & original & domain) | anchor | user_in
    mirrors = tuple(mirror_map(shape, grid.origin, pitch, axis, at) for axis, at in planes)
    lay = Layout(
        pitch,
        tuple(float(o) for o in grid.origin),
        domain,
        original,
        keep,
        fixed,
        loads,
        tuple(tuple(float(v) for v in ld.vector) for ld in job.load),
        cases,
        mirrors,
    )
    labels, _ = ndimage.label(domain)
    held = np.unique(labels[fixed])
    for n, cells in enumerate(loads, start=1):
        if not np.isin(labels[cells], held[held > 0]).all():
            raise k.fail("keep_out", f"cuts [[load]] {n} off the supports: no design can carry it")
    return lay
