"""The ``[morph]`` table of a morph job file: read, check every key, build the problem and search settings.

Errors are one line naming the file and the key, e.g. ``job.toml: [morph] 'teeth' must be a whole
number >= 6, got 3.5``. Paths are relative to the job file's folder. See docs/morphogenesis.md.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fab.errors import FabError
from fab.materials import Material, get_material
from fab.morph.search import METHODS, SearchSettings

PROBLEMS = ("gear", "bracket")

_SEARCH_KEYS = {
    "method": "cma",
    "generations": 30,
    "population": 12,
    "sigma0": 0.25,
    "seed": 1,
    "workers": None,
    "budget_minutes": None,
    "rescore_top": 3,
    "rescore_tolerance": 0.1,
}
_GEAR_KEYS = {
    "module": 2.0,
    "teeth": 20,
    "face_width": 10.0,
    "torque": 20.0,
    "material": "Steel1045",
    "centre_error": 0.03,
    "backlash": [0.02, 0.25],
    "min_contact_ratio": 1.2,
    "te_scale": 1e-4,
    "strength_weight": 1.0,
    "spacing": 0.125,
    "fine_spacing": 0.08,
    "roll_steps": 800,
    "fine_roll_steps": 2000,
    "mesh_samples": 32,
    "relax_steps": 3000,
    "relax_tolerance": 1e-2,
    "strength_gate": 3.0,
    "gated_stress_ratio": 0.2,
    "bore": 8.0,
    "printer": None,
    "tool": "laser-co2-3mm-plywood",
    "files": ["csv", "outline_dxf", "dxf", "nc", "stl", "gcode", "step"],
}
_BRACKET_KEYS = {
    "width": 60.0,
    "height": 30.0,
    "thickness": 5.0,
    "pitch": 1.5,
    "fine_pitch": 1.0,
    "force": 100.0,
    "material": "PLA",
    "volume_fraction": 0.4,
    "support_depth": 3.0,
    "pad_depth": 3.0,
    "pad_height": 6.0,
    "load_y": 15.0,
    "hole": [30.0, 15.0, 4.0],
    "steps": 30,
    "relax_steps": 20000,
    "relax_tolerance": 1e-3,
    "noise_seed": 0,
    "strength_weight": 1.0,
}
_PROBLEM_KEYS = {"gear": _GEAR_KEYS, "bracket": _BRACKET_KEYS}
_ALL = ("problem", "output", *_SEARCH_KEYS, *_GEAR_KEYS, *(k for k in _BRACKET_KEYS if k not in _GEAR_KEYS))


@dataclass(frozen=True)
class MorphJob:
    problem_name: str
    problem: Any  # a Program
    settings: SearchSettings
    output: Path
    workers: int | None
    bore: float
    printer: str | None
    tool: str
    files: tuple[str, ...]
    path: Path


class _Keys:
    def __init__(self, table: dict[str, Any], name: str) -> None:
        self.t, self.name = table, name

    def fail(self, key: str, msg: str) -> FabError:
        return FabError(f"{self.name}: [morph] {key!r} {msg}")

    def number(self, key: str, default: Any, lo: float | None = None, hi: float | None = None) -> float:
        v = self.t.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise self.fail(key, f"must be a number, got {v!r}")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise self.fail(key, f"must be between {lo} and {hi}, got {v!r}")
        return float(v)

    def whole(self, key: str, default: Any, lo: int, hi: int | None = None) -> int:
        v = self.t.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v > hi):
            bound = f">= {lo}" if hi is None else f"between {lo} and {hi}"
            raise self.fail(key, f"must be a whole number {bound}, got {v!r}")
        return int(v)


def read_morph_job(path: str | Path) -> MorphJob:
    """Read a morph job file (a TOML file with a ``[morph]`` table)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise FabError(f"job file not found: {p}")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise FabError(f"cannot read job file {p}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise FabError(f"{p.name}: TOML syntax error: {exc}") from None
    return morph_job_from_table(data, p)


def morph_job_from_table(data: dict[str, Any], path: Path) -> MorphJob:
    name = path.name
    table = data.get("morph")
    if not isinstance(table, dict):
        raise FabError(f'{name}: missing [morph] table (problem = "gear", ...)')
    others = [k for k in data if k != "morph"]
    if others:
        raise FabError(f"{name}: a morph job holds only a [morph] table, got {others[0]!r}")
    k = _Keys(table, name)
    problem_name = table.get("problem")
    if problem_name not in PROBLEMS:
        raise k.fail("problem", f"must be one of {', '.join(PROBLEMS)}, got {problem_name!r}")
    allowed = ("problem", "output", *_SEARCH_KEYS, *_PROBLEM_KEYS[problem_name])
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            what = f" for a {problem_name} job" if key in _ALL else ""
            raise FabError(f"{name}: [morph] unknown key {key!r}{what}: {hint}allowed: {', '.join(allowed)}")
    method = table.get("method", "cma")
    if method not in METHODS:
        raise k.fail("method", f"must be one of {', '.join(METHODS)}, got {method!r}")
    budget = table.get("budget_minutes")
    settings = SearchSettings(
        method=method,
        generations=k.whole("generations", 30, 1),
        population=k.whole("population", 12, 4),
        sigma0=k.number("sigma0", 0.25, 1e-4, 1.0),
        seed=k.whole("seed", 1, 0),
        budget_seconds=None if budget is None else 60 * k.number("budget_minutes", None, 0.01),
        rescore_top=k.whole("rescore_top", 3, 0),
        rescore_tolerance=k.number("rescore_tolerance", 0.1, 0.0),
    )
    workers = table.get("workers")
    if workers is not None:
        workers = k.whole("workers", None, 1)
    output = table.get("output", "out/morph")
    if not isinstance(output, str) or not output.strip():
        raise k.fail("output", f"must be a folder path, got {output!r}")
    out = Path(output).expanduser()
    out = (out if out.is_absolute() else path.resolve().parent / out).resolve()
    if problem_name == "bracket":
        return MorphJob(
            problem_name, _bracket(k, table), settings, out, workers, 0.0, None, "", (), path.resolve()
        )
    problem = _gear(k, table)
    bore = k.number("bore", 8.0, 0.0)
    printer = table.get("printer")
    if printer is not None and (not isinstance(printer, str) or not printer.strip()):
        raise k.fail("printer", f"must be a printer name or TOML path, got {printer!r}")
    tool = table.get("tool", _GEAR_KEYS["tool"])
    if not isinstance(tool, str) or not tool.strip():
        raise k.fail("tool", f"must be a CNC tool name or TOML path, got {tool!r}")
    files = table.get("files", _GEAR_KEYS["files"])
    known = _GEAR_KEYS["files"]
    if not isinstance(files, list) or not all(isinstance(f, str) and f in known for f in files):
        raise k.fail("files", f"must be a list of {', '.join(known)}, got {files!r}")
    return MorphJob(
        problem_name, problem, settings, out, workers, bore, printer, tool, tuple(files), path.resolve()
    )


def _material(k: _Keys, value: Any) -> Material:
    spec = {"name": value} if isinstance(value, str) else value
    if not isinstance(spec, dict):
        raise k.fail("material", f"must be a material name or a table, got {value!r}")
    try:
        return get_material(spec)
    except FabError as exc:
        raise k.fail("material", str(exc)) from None


def _gear(k: _Keys, table: dict[str, Any]):
    from fab.morph.gear import GearProblem

    band = table.get("backlash", _GEAR_KEYS["backlash"])
    ok = isinstance(band, list) and len(band) == 2
    ok = ok and all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in band)
    if not ok or not 0 <= band[0] < band[1]:
        raise k.fail("backlash", f"must be [min, max] in mm with 0 <= min < max, got {band!r}")
    return GearProblem(
        module=k.number("module", 2.0, 0.05, 100.0),
        teeth=k.whole("teeth", 20, 6, 400),
        face_width=k.number("face_width", 10.0, 1e-3),
        torque=k.number("torque", 20.0, 1e-9),
        material=_material(k, table.get("material", _GEAR_KEYS["material"])),
        centre_error=k.number("centre_error", 0.03, 0.0, 0.5),
        backlash_min=float(band[0]),
        backlash_max=float(band[1]),
        min_contact_ratio=k.number("min_contact_ratio", 1.2, 1.0, 3.0),
        te_scale=k.number("te_scale", 1e-4, 1e-12),
        strength_weight=k.number("strength_weight", 1.0, 0.0),
        spacing=k.number("spacing", 0.125, 0.02, 0.5),
        fine_spacing=k.number("fine_spacing", 0.08, 0.01, 0.5),
        roll_steps=k.whole("roll_steps", 800, 50),
        fine_roll_steps=k.whole("fine_roll_steps", 2000, 50),
        mesh_samples=k.whole("mesh_samples", 32, 4),
        relax_steps=k.whole("relax_steps", 3000, 50),
        relax_tolerance=k.number("relax_tolerance", 1e-2, 1e-5, 0.5),
        strength_gate=k.number("strength_gate", 3.0, 0.0),
        gated_stress_ratio=k.number("gated_stress_ratio", 0.2, 0.0),
    )


def _bracket(k: _Keys, table: dict[str, Any]):
    from fab.morph.bracket import BracketProblem

    d = _BRACKET_KEYS
    width = k.number("width", d["width"], 1.0, 1e4)
    height = k.number("height", d["height"], 1.0, 1e4)
    pitch = k.number("pitch", d["pitch"], 1e-3, min(width, height) / 4)
    fine_pitch = k.number("fine_pitch", d["fine_pitch"], 1e-3, pitch)
    cells = (width / fine_pitch) * (height / fine_pitch)
    if cells > 250_000:
        raise k.fail(
            "fine_pitch", f"gives {cells:,.0f} cells over {width:g} x {height:g} mm: at most 250,000"
        )
    hole = table.get("hole", d["hole"])
    ok = isinstance(hole, list) and len(hole) in (0, 3)
    ok = ok and all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in hole)
    if not ok or (hole and hole[2] <= 0):
        raise k.fail("hole", f"must be [cx, cy, r] in mm with r > 0, or [] for none, got {hole!r}")
    seed = k.whole("noise_seed", d["noise_seed"], 0)
    problem = BracketProblem(
        width=width,
        height=height,
        thickness=k.number("thickness", d["thickness"], 1e-3),
        pitch=pitch,
        fine_pitch=fine_pitch,
        force=k.number("force", d["force"], 1e-9),
        material=_material(k, table.get("material", d["material"])),
        volume_fraction=k.number("volume_fraction", d["volume_fraction"], 0.05, 0.95),
        support_depth=k.number("support_depth", d["support_depth"], pitch, width / 2),
        pad_depth=k.number("pad_depth", d["pad_depth"], pitch, width / 2),
        pad_height=k.number("pad_height", d["pad_height"], pitch, height),
        load_y=k.number("load_y", d["load_y"], 0.0, height),
        hole=tuple(float(v) for v in hole),
        steps=k.whole("steps", d["steps"], 8),
        relax_steps=k.whole("relax_steps", d["relax_steps"], 50),
        relax_tolerance=k.number("relax_tolerance", d["relax_tolerance"], 1e-6, 0.5),
        noise_seed=seed,
        strength_weight=k.number("strength_weight", d["strength_weight"], 0.0, 10.0),
    )
    lay = problem.layout()
    if lay.target <= int(lay.keep_in.sum()):
        raise k.fail("volume_fraction", "leaves no cells beyond the support and the pad: raise it")
    if not problem.connectable():
        raise k.fail("hole", "cuts the pad off the support: move or shrink it")
    return problem
