"""The ``[morph]`` table of a morph job file: read, check every key, build the problem and search settings.

Errors are one line naming the file and the key, e.g. ``job.toml: [morph] 'teeth' must be a whole
number >= 6, got 3.5``. Paths are relative to the job file's folder. See docs/morphogenesis.md.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fab.errors import FabError
from fab.materials import Material, get_material
from fab.morph.problems import PROBLEMS, problem_module
from fab.morph.search import METHODS, SearchSettings

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
@dataclass(frozen=True)
class MorphJob:
    problem_name: str
    problem: Any  # a Program
    settings: SearchSettings
    output: Path
    workers: int | None
    path: Path
    options: dict[str, Any] = field(default_factory=dict)  # the problem's own job settings (gear: bore, files)

    def __getattr__(self, name: str) -> Any:
        """The problem's options read as attributes (``job.bore`` of a gear job)."""
        options = self.__dict__.get("options", {})
        if name in options:
            return options[name]
        raise AttributeError(f"{type(self).__name__!r} has no attribute {name!r}")

    def search_outputs(self) -> dict[str, str]:
        """The files every search writes in its output folder."""
        out = self.output
        return {
            "checkpoint": str(out / "checkpoint.pkl"),
            "convergence_png": str(out / "convergence.png"),
            "generations_png": str(out / "generations"),
        }


class Keys:
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
    k = Keys(table, name)
    problem_name = table.get("problem")
    if problem_name not in PROBLEMS:
        raise k.fail("problem", f"must be one of {', '.join(PROBLEMS)}, got {problem_name!r}")
    kind = problem_module(problem_name)
    allowed = ("problem", "output", *_SEARCH_KEYS, *kind.KEYS)
    every = {key for other in PROBLEMS for key in problem_module(other).KEYS}
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            what = f" for a {problem_name} job" if key in every else ""
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
    problem, options = kind.read(k, table)
    return MorphJob(problem_name, problem, settings, out, workers, path.resolve(), options)


def material(k: Keys, value: Any) -> Material:
    """The material of a [morph] ``material`` key (a library name or a table)."""
    spec = {"name": value} if isinstance(value, str) else value
    if not isinstance(spec, dict):
        raise k.fail("material", f"must be a material name or a table, got {value!r}")
    try:
        return get_material(spec)
    except FabError as exc:
        raise k.fail("material", str(exc)) from None
