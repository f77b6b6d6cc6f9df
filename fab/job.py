"""The TOML job file: parse, validate, and build a :class:`Job` (also from CLI quick flags).

Every error is one line that names the file, the line and the key, e.g.
``job.toml:12: [[load]] 1: 'force' must be 3 numbers in N, got 'abc'``. ``tomllib`` reports no
positions for keys, so :class:`_KeyLines` finds them in the text. Units: lengths in mm, forces in N,
torques in N*m, velocities in m/s, material properties SI (see docs/job-file.md).
"""

from __future__ import annotations

import difflib
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fab.errors import FabError
from fab.materials import Material, MaterialError, get_material, material_names
from fab.regions import parse_region

TESTS = ("static", "failure", "shear", "impact")
LOAD_KINDS = ("force", "torque", "displacement", "velocity")
LOAD_UNITS = {"force": "N", "torque": "N*m", "displacement": "mm", "velocity": "m/s"}
EXPORT_KEYS = (
    "stl",
    "threemf",
    "gcode",
    "vtk",
    "png",
    "assembly",
    "voxels",
    "binvox",
    "vox",
    "dxf",
    "svg",
    "nc",
)
DEFAULT_COUNT = 100_000
DEFAULT_MODEL = "lps"
DEFAULT_HORIZON = 3.015

_TABLES: dict[str, tuple[str, ...]] = {
    "part": ("source", "params", "units", "part_type", "part_types"),
    "voxels": ("pitch", "count"),
    "physics": ("model", "dimension", "horizon", "thickness", "gravity"),
    "fix": ("region",),
    "load": ("region", *LOAD_KINDS, "point"),
    "test": (
        "kind",
        "steps",
        "tolerance",
        "increments",
        "max_factor",
        "duration",
        "frames",
        "indenter",
        "initial_velocity",
    ),
    "export": EXPORT_KEYS,  # and every registered exporter's key (export_keys)
}
_TOP = ("part", "voxels", "material", "physics", "fix", "load", "test", "export", "morph")
_ARRAYS = ("fix", "load")
_UNITS = ("mm", "cm", "m", "in", "inch", "ft")


# [export] keys that are not an exporter of exporters/__init__.py: fab run writes them (a 3MF beside the STL,
# the stress results, their picture, the voxel grid).
RUN_OUTPUTS = ("threemf", "vtk", "png", "voxels")
# What a job on an assembly plan (a lattice of voxel parts, fab/lattice.py) writes: the results, their picture,
# the VoxCAD / voxcraft lattice. Suffix of each.
PLAN_OUTPUTS = {"vtk": (".vtu",), "png": (".png",), "vxa": (".vxa", ".vxc")}
# Keys that apply only to an assembly plan ([part] source = "PLAN.json"), and keys that apply only to a solid part.
_PLAN_ONLY = {"part": ("part_type", "part_types"), "physics": ("gravity",)}
_PART_ONLY = {"part": ("params", "units"), "physics": ("model", "dimension", "horizon", "thickness")}


def export_keys() -> tuple[str, ...]:
    """The keys a job's [export] table takes: the built-in ones and every registered exporter's."""
    from exporters import EXPORTERS

    return tuple(dict.fromkeys([*EXPORT_KEYS, *(e.job_key or e.name for e in EXPORTERS.values())]))


def models() -> tuple[str, ...]:
    """The force laws a job can name: those registered in physics.laws that are calibrated from a material."""
    from physics.laws import law_names

    return law_names(material=True)


def __getattr__(name: str) -> Any:
    if name == "MODELS":  # the old constant, now read from the registry when asked for
        return models()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class PartSpec:
    """The part to import: ``source`` (absolute path), CadQuery ``params``, length ``units`` of the source. An
    assembly plan (``.json``) may name the ``part_type`` of every voxel and a ``part_types`` TOML file."""

    source: Path
    params: dict[str, Any] = field(default_factory=dict)
    units: str = "mm"
    part_type: str | None = None
    part_types: Path | None = None

    @property
    def is_plan(self) -> bool:
        """An assembly plan of voxel parts (docs/assembly-format.md), tested by the voxel-joint law."""
        return self.source.suffix.lower() == ".json"


@dataclass(frozen=True)
class VoxelSpec:
    """Lattice spacing: exactly one of ``pitch`` (mm) or ``count`` (target number of voxels)."""

    pitch: float | None = None
    count: int | None = None


@dataclass(frozen=True)
class PhysicsSpec:
    """Force law ``model`` (pmb | lps), ``dimension`` (3, or 2 = plane stress over ``thickness`` mm,
    None = the part's own thickness), ``horizon`` in lattice spacings."""

    model: str = "lps"
    dimension: int = 3
    horizon: float = DEFAULT_HORIZON
    thickness: float | None = None
    gravity: tuple[float, float, float] | None = None  # m/s^2, assembly plans only (None: 0, 0, -9.81)


@dataclass(frozen=True)
class Fix:
    """Particles held fixed (zero displacement), chosen by a region expression (fab.regions)."""

    region: str


@dataclass(frozen=True)
class Load:
    """A load on a region. ``kind`` is force (N, total over the region), torque (N*m about ``point`` mm,
    default the region's centroid), displacement (mm, prescribed) or velocity (m/s, prescribed)."""

    region: str
    kind: str
    vector: tuple[float, float, float]
    point: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class Indenter:
    """A rigid sphere pushed through the part in an ``impact`` test: centre and radius in mm, velocity m/s."""

    center: tuple[float, float, float]
    radius: float
    velocity: tuple[float, float, float]


@dataclass(frozen=True)
class TestSpec:
    """What to run: static | failure | shear | impact, and the knobs of each (see docs/job-file.md).

    ``steps`` caps solver iterations (static, failure, shear) or sets the explicit steps (impact);
    ``tolerance`` is the relative out-of-balance force at equilibrium; ``increments`` the displacement steps
    of a shear test; ``max_factor`` the largest load multiple a failure test tries; ``duration`` (s) and
    ``frames`` the length and the saved snapshots of an impact; ``initial_velocity`` (m/s) of the free part.
    """

    __test__ = False  # not a pytest test class despite the name

    kind: str = "static"
    steps: int | None = None
    tolerance: float = 2e-3
    increments: int = 20
    max_factor: float = 1000.0
    duration: float | None = None
    frames: int = 20
    indenter: Indenter | None = None
    initial_velocity: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class ExportSpec:
    """Output paths (absolute), None where not requested. ``threemf`` is a .3mf mesh, ``nc`` CNC G-code."""

    stl: Path | None = None
    threemf: Path | None = None
    gcode: Path | None = None
    vtk: Path | None = None
    png: Path | None = None
    assembly: Path | None = None
    voxels: Path | None = None
    binvox: Path | None = None
    vox: Path | None = None
    dxf: Path | None = None
    svg: Path | None = None
    nc: Path | None = None
    more: tuple[tuple[str, Path], ...] = ()  # (key, path) of registered exporters beyond the fields above

    def requested(self) -> dict[str, Path]:
        """The formats asked for, key -> path."""
        out = {k: getattr(self, k) for k in EXPORT_KEYS if getattr(self, k) is not None}
        return out | dict(self.more)

    def files(self) -> dict[str, Path]:
        """The exporters (exporters/__init__.py) asked for, exporter name -> path; the ``stl`` key takes the
        3MF when no STL is asked for (``RUN_OUTPUTS`` are fab run's own)."""
        from exporters import EXPORTERS

        requested = self.requested()
        out = {}
        for exporter in EXPORTERS.values():
            key = exporter.job_key or exporter.name
            if key not in RUN_OUTPUTS and key in requested:
                out[exporter.name] = requested[key]
        if "stl" not in out and self.threemf is not None:
            out["stl"] = self.threemf
        return out


@dataclass(frozen=True)
class Job:
    """A whole job: the part, its lattice and material, conditions, the test, outputs, morph options."""

    part: PartSpec
    voxels: VoxelSpec
    material: Material | None  # None for an assembly plan: its part types carry their materials
    physics: PhysicsSpec = PhysicsSpec()
    fix: tuple[Fix, ...] = ()
    load: tuple[Load, ...] = ()
    test: TestSpec = TestSpec()
    export: ExportSpec = ExportSpec()
    morph: dict[str, Any] | None = None
    path: Path | None = None

    @property
    def is_plan(self) -> bool:
        return self.part.is_plan


class _KeyLines:
    """Line numbers of tables and keys in TOML text: ``(table, index, key) -> line`` (1-based).

    ``index`` counts ``[[array]]`` entries from 1 (0 for plain tables); key "" is the header line.
    Good enough for error messages: multi-line values are attributed to the line of their key.
    """

    _HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_\-.\" ]+?)\s*\]\]?")
    _KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+|\"[^\"]*\")\s*(?:\.\s*([A-Za-z0-9_\-]+|\"[^\"]*\")\s*)?=")

    def __init__(self, text: str) -> None:
        self.lines: dict[tuple[str, int, str], int] = {}
        table, index, counts = "", 0, {}
        for n, line in enumerate(text.splitlines(), start=1):
            if m := self._HEADER.match(line):
                table = m.group(2).strip().strip('"')
                if m.group(1) == "[[":
                    counts[table] = counts.get(table, 0) + 1
                    index = counts[table]
                else:
                    index = 0
                self.lines.setdefault((table, index, ""), n)
            elif m := self._KEY.match(line):
                a, b = m.group(1).strip('"'), m.group(2)
                if b is not None and not table:  # dotted key at top level: physics.model = ...
                    self.lines.setdefault((a, 0, ""), n)
                    self.lines.setdefault((a, 0, b.strip('"')), n)
                else:
                    self.lines.setdefault((table, index, a), n)

    def find(self, table: str, index: int = 0, key: str = "") -> int | None:
        return self.lines.get((table, index, key)) or self.lines.get((table, index, ""))


class _Reader:
    """Validates one parsed TOML document, raising one-line ``FabError``s located by :class:`_KeyLines`."""

    def __init__(self, data: dict[str, Any], text: str, name: str, base: Path) -> None:
        self.data, self.name, self.base = data, name, base
        self.where = _KeyLines(text)

    def fail(self, table: str, index: int, key: str, msg: str) -> FabError:
        line = self.where.find(table, index, key)
        loc = f"{self.name}:{line}" if line else self.name
        label = f"[[{table}]] {index}" if index else f"[{table}]"
        return FabError(f"{loc}: {label}: {msg}")

    def table(self, name: str, index: int = 0, value: Any = None) -> dict[str, Any]:
        t = self.data.get(name, {}) if value is None else value
        if not isinstance(t, dict):
            kind = "[[...]] entries" if name in _ARRAYS else "a table"
            raise self.fail(name, index, "", f"must be {kind}, got {t!r}")
        allowed = export_keys() if name == "export" else _TABLES[name]
        for key in t:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise self.fail(name, index, key, f"unknown key {key!r}: {hint}allowed: {', '.join(allowed)}")
        return t

    def number(self, table: str, index: int, key: str, value: Any, unit: str, positive: bool = True) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.fail(table, index, key, f"{key!r} must be a number in {unit}, got {value!r}")
        if positive and value <= 0:
            raise self.fail(table, index, key, f"{key!r} must be > 0 {unit}, got {value!r}")
        return float(value)

    def string(self, table: str, index: int, key: str, value: Any, choices: tuple[str, ...] = ()) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(table, index, key, f"{key!r} must be a non-empty string, got {value!r}")
        if choices and value.strip().lower() not in choices:
            close = difflib.get_close_matches(value.strip().lower(), choices, n=1, cutoff=0.5)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise self.fail(
                table, index, key, f"{key!r} must be one of {', '.join(choices)}, got {value!r}{hint}"
            )
        return value.strip().lower() if choices else value.strip()

    def vector(self, table: str, index: int, key: str, value: Any, unit: str) -> tuple[float, float, float]:
        ok = isinstance(value, list) and len(value) == 3
        ok = ok and all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value
        )
        if not ok:
            bad = value
            if isinstance(value, list) and len(value) == 3:  # point at the offending element
                bad = next(
                    v
                    for v in value
                    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v)
                )
            raise self.fail(table, index, key, f"{key!r} must be 3 numbers in {unit}, got {bad!r}")
        return (float(value[0]), float(value[1]), float(value[2]))

    def region(self, table: str, index: int, value: Any) -> str:
        expr = self.string(table, index, "region", value)
        try:
            parse_region(expr)
        except FabError as exc:
            raise self.fail(table, index, "region", str(exc)) from None
        return expr

    def path(self, table: str, key: str, value: Any) -> Path:
        text = self.string(table, 0, key, value)
        p = Path(text).expanduser()
        return (p if p.is_absolute() else self.base / p).resolve()

    # -- sections ---------------------------------------------------------------------------------------

    def job(self, path: Path | None) -> Job:
        for key in self.data:
            if key not in _TOP:
                close = difflib.get_close_matches(key, _TOP, n=1, cutoff=0.6)
                hint = f"did you mean [{close[0]}]? " if close else ""
                line = self.where.find(key) or self.where.find(key, 1)
                loc = f"{self.name}:{line}" if line else self.name
                raise FabError(f"{loc}: unknown table or key {key!r}: {hint}allowed: {', '.join(_TOP)}")
        part = self.part()
        if part.is_plan:
            return self.plan_job(part, path)
        voxels, material, physics = self.voxels(), self.material(), self.physics()
        fix = tuple(self.fixes())
        load = tuple(self.loads(fix))
        if physics.dimension == 2:
            for i, ld in enumerate(load, start=1):
                if (why := out_of_plane(ld)) is not None:
                    raise self.fail("load", i, ld.kind, why)
        test, export = self.test(), self.export()
        morph = self.data.get("morph")
        if morph is not None and not isinstance(morph, dict):
            raise self.fail("morph", 0, "", f"must be a table, got {morph!r}")
        return Job(part, voxels, material, physics, fix, load, test, export, morph, path)

    def part(self) -> PartSpec:
        if "part" not in self.data:
            raise FabError(
                f'{self.name}: missing [part] table with source = "<CadQuery script, STEP or mesh>"'
            )
        t = self.table("part")
        if "source" not in t:
            raise self.fail("part", 0, "", "missing 'source' (CadQuery script, STEP or mesh file)")
        source = self.path("part", "source", t["source"])
        if not source.is_file():
            raise self.fail("part", 0, "source", f"part source not found: {source}")
        if source.suffix.lower() == ".json":
            return self.plan_part(t, source)
        self.only_for_plans("part", t)
        params = t.get("params", {})
        if not isinstance(params, dict):
            raise self.fail(
                "part", 0, "params", f"'params' must be a table like {{ length = 60 }}, got {params!r}"
            )
        units = self.string("part", 0, "units", t.get("units", "mm"), _UNITS)
        return PartSpec(source=source, params=dict(params), units=units)

    def voxels(self) -> VoxelSpec:
        t = self.table("voxels")
        if "pitch" in t and "count" in t:
            raise self.fail("voxels", 0, "count", "give either 'pitch' (mm) or 'count', not both")
        if "pitch" in t:
            return VoxelSpec(pitch=self.number("voxels", 0, "pitch", t["pitch"], "mm"))
        count = t.get("count", DEFAULT_COUNT)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise self.fail("voxels", 0, "count", f"'count' must be a positive whole number, got {count!r}")
        return VoxelSpec(count=count)

    def material(self) -> Material:
        spec = self.data.get("material")
        if spec is None:
            raise FabError(f'{self.name}: missing [material] table (name = "PLA", or SI properties)')
        if isinstance(spec, str):
            spec = {"name": spec}
        if not isinstance(spec, dict):
            raise self.fail("material", 0, "", f"must be a table, got {spec!r}")
        try:
            return get_material(spec)
        except MaterialError as exc:
            raise self.fail("material", 0, exc.key or "", str(exc)) from None

    def physics(self) -> PhysicsSpec:
        t = self.table("physics")
        self.only_for_plans("physics", t)
        model = self.string("physics", 0, "model", t.get("model", DEFAULT_MODEL), models())
        dim = t.get("dimension", 3)
        if isinstance(dim, bool) or dim not in (2, 3):
            raise self.fail("physics", 0, "dimension", f"'dimension' must be 3 or 2, got {dim!r}")
        horizon = self.number("physics", 0, "horizon", t.get("horizon", DEFAULT_HORIZON), "lattice spacings")
        if not 1.0 < horizon <= 6.0:
            raise self.fail(
                "physics",
                0,
                "horizon",
                f"'horizon' is in lattice spacings (1 < horizon <= 6, typically 3.015), got {horizon!r}",
            )
        thickness = None
        if "thickness" in t:
            if dim != 2:
                raise self.fail("physics", 0, "thickness", "'thickness' applies only to dimension = 2")
            thickness = self.number("physics", 0, "thickness", t["thickness"], "mm")
        return PhysicsSpec(model=model, dimension=int(dim), horizon=horizon, thickness=thickness)

    # -- assembly plans ([part] source = "PLAN.json") --------------------------------------------------

    def only_for_plans(self, table: str, t: dict[str, Any]) -> None:
        for key in _PLAN_ONLY.get(table, ()):
            if key in t:
                raise self.fail(table, 0, key, f"{key!r} applies to an assembly plan ([part] source = \"PLAN.json\")")

    def plan_part(self, t: dict[str, Any], source: Path) -> PartSpec:
        from fab.part_types import get_part_type, load_part_types

        for key in _PART_ONLY["part"]:
            if key in t:
                raise self.fail("part", 0, key, f"{key!r} applies to a solid part, not an assembly plan")
        table = {}
        part_types = None
        if "part_types" in t:
            part_types = self.path("part", "part_types", t["part_types"])
            if not part_types.is_file():
                raise self.fail("part", 0, "part_types", f"part type file not found: {part_types}")
            try:
                table = load_part_types(part_types)
            except FabError as exc:
                raise self.fail("part", 0, "part_types", str(exc)) from None
        part_type = None
        if "part_type" in t:
            part_type = self.string("part", 0, "part_type", t["part_type"])
            try:
                get_part_type(part_type, table)
            except FabError as exc:
                msg = str(exc).replace("--part-types FILE.toml", "[part] part_types = \"FILE.toml\"")
                raise self.fail("part", 0, "part_type", msg) from None
        # The plan itself (buildable, its part types known and of its pitch): checked here to name the job's line.
        from fab.lattice import load_structure

        try:
            load_structure(source, part_types, part_type)
        except FabError as exc:
            msg = str(exc).replace("--part-type NAME", "[part] part_type = NAME")
            msg = msg.replace("--part-types FILE.toml", "[part] part_types = FILE.toml")
            raise self.fail("part", 0, "part_type" if part_type else "source", msg) from None
        return PartSpec(source=source, part_type=part_type, part_types=part_types)

    def plan_job(self, part: PartSpec, path: Path | None) -> Job:
        """A job on an assembly plan: the plan's lattice sets the voxels and its part types the material; the
        voxel-joint law takes gravity, [[fix]], force / torque / displacement [[load]]s and a static or failure
        test (fab/lattice.py), and writes the outputs of a lattice (PLAN_OUTPUTS)."""
        from fab.lattice import TESTS as PLAN_TESTS

        why = {
            "voxels": "the plan's lattice sets the voxels",
            "material": "the plan's part types carry their materials (choose one with [part] part_type)",
            "morph": "morphogenesis refines a solid part",
        }
        for key, reason in why.items():
            if key in self.data:
                raise self.fail(key, 0, "", f"does not apply to an assembly plan: {reason}")
        t = self.table("physics")
        for key in _PART_ONLY["physics"]:
            if key in t:
                raise self.fail(
                    "physics", 0, key, f"{key!r} applies to a solid part; an assembly plan takes only 'gravity'"
                )
        gravity = None if "gravity" not in t else self.vector("physics", 0, "gravity", t["gravity"], "m/s^2")
        fix = tuple(self.fixes())
        load = tuple(self.loads(fix))
        for i, ld in enumerate(load, start=1):
            if ld.kind == "velocity":
                raise self.fail(
                    "load", i, "velocity", "an assembly plan takes force, torque or displacement loads (velocity "
                    "is for impact tests of a solid part)"
                )
        t = self.table("test")
        kind = self.string("test", 0, "kind", t.get("kind", "static"), PLAN_TESTS)
        for key in t:
            if key != "kind":
                raise self.fail("test", 0, key, f"{key!r} applies to a solid part; an assembly plan takes only 'kind'")
        t = self.data.get("export", {})
        if not isinstance(t, dict):
            raise self.fail("export", 0, "", f"must be a table, got {t!r}")
        allowed = tuple(PLAN_OUTPUTS)
        more = []
        for key, value in t.items():
            if key not in allowed:
                what = "an output of a solid part" if key in export_keys() else "not an output"
                raise self.fail(
                    "export", 0, key, f"{key!r} is {what}, not of an assembly plan: write {', '.join(allowed)}"
                )
            out = self.path("export", key, value)
            if out.suffix.lower() not in PLAN_OUTPUTS[key]:
                raise self.fail(
                    "export", 0, key, f"{key!r} of an assembly plan is a {' or '.join(PLAN_OUTPUTS[key])} file, got {out.name}"
                )
            more.append((key, out))
        paths = dict(more)
        if "vxa" in paths and gravity is not None and (gravity[0] or gravity[1]):
            raise self.fail("physics", 0, "gravity", "[export] vxa: a .vxa file holds gravity along z only")
        export = ExportSpec(vtk=paths.get("vtk"), png=paths.get("png"), more=tuple(p for p in more if p[0] == "vxa"))
        return Job(part, VoxelSpec(), None, PhysicsSpec(gravity=gravity), fix, load, TestSpec(kind=kind), export,
                   None, path)  # fmt: skip

    def _entries(self, name: str) -> list[dict[str, Any]]:
        entries = self.data.get(name, [])
        if isinstance(entries, dict):
            raise self.fail(name, 0, "", f"write [[{name}]] (an array of tables), not [{name}]")
        if not isinstance(entries, list):
            raise FabError(f"{self.name}: '{name}' must be [[{name}]] tables, got {entries!r}")
        return [self.table(name, i, e) for i, e in enumerate(entries, start=1)]

    def fixes(self) -> list[Fix]:
        out = []
        for i, t in enumerate(self._entries("fix"), start=1):
            if "region" not in t:
                raise self.fail("fix", i, "", "missing 'region' (e.g. region = \"<X\")")
            out.append(Fix(self.region("fix", i, t["region"])))
        return out

    def loads(self, fixes: tuple[Fix, ...]) -> list[Load]:
        fixed = {_normal(f.region): f.region for f in fixes}
        out = []
        for i, t in enumerate(self._entries("load"), start=1):
            if "region" not in t:
                raise self.fail("load", i, "", "missing 'region' (e.g. region = \">X\")")
            region = self.region("load", i, t["region"])
            if _normal(region) in fixed:
                raise self.fail(
                    "load",
                    i,
                    "region",
                    f"load region {region!r} is also a [[fix]] region: a fixed particle cannot be loaded",
                )
            kinds = [k for k in LOAD_KINDS if k in t]
            if len(kinds) != 1:
                got = ", ".join(kinds) if kinds else "none"
                raise self.fail(
                    "load",
                    i,
                    kinds[-1] if kinds else "",
                    f"give exactly one of {', '.join(LOAD_KINDS)} (got {got})",
                )
            kind = kinds[0]
            vec = self.vector("load", i, kind, t[kind], LOAD_UNITS[kind])
            point = None
            if "point" in t:
                if kind != "torque":
                    raise self.fail("load", i, "point", "'point' (mm) applies only to a torque")
                point = self.vector("load", i, "point", t["point"], "mm")
            if kind in ("force", "torque") and not any(vec):
                raise self.fail("load", i, kind, f"{kind!r} is zero: a load must push or twist")
            out.append(Load(region=region, kind=kind, vector=vec, point=point))
        return out

    def whole(self, table: str, key: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self.fail(table, 0, key, f"{key!r} must be a positive whole number, got {value!r}")
        return value

    def test(self) -> TestSpec:
        t = self.table("test")
        kind = self.string("test", 0, "kind", t.get("kind", "static"), TESTS)
        steps = None if "steps" not in t else self.whole("test", "steps", t["steps"])
        tolerance = self.number("test", 0, "tolerance", t.get("tolerance", 2e-3), "(relative force)")
        if tolerance >= 0.5:
            raise self.fail("test", 0, "tolerance", f"'tolerance' is relative (e.g. 2e-3), got {tolerance!r}")
        increments = self.whole("test", "increments", t.get("increments", 20))
        max_factor = self.number("test", 0, "max_factor", t.get("max_factor", 1000.0), "(load multiple)")
        if max_factor <= 1.0:
            raise self.fail("test", 0, "max_factor", f"'max_factor' must be > 1, got {max_factor!r}")
        duration = None if "duration" not in t else self.number("test", 0, "duration", t["duration"], "s")
        frames = self.whole("test", "frames", t.get("frames", 20))
        indenter = None
        if "indenter" in t:
            ind = t["indenter"]
            if not isinstance(ind, dict) or set(ind) != {"center", "radius", "velocity"}:
                raise self.fail(
                    "test",
                    0,
                    "indenter",
                    "'indenter' must be { center = [x, y, z] (mm), radius = r (mm), velocity = [vx, vy, vz] "
                    f"(m/s) }}, got {ind!r}",
                )
            indenter = Indenter(
                center=self.vector("test", 0, "indenter", ind["center"], "mm"),
                radius=self.number("test", 0, "indenter", ind["radius"], "mm"),
                velocity=self.vector("test", 0, "indenter", ind["velocity"], "m/s"),
            )
        initial = None
        if "initial_velocity" in t:
            initial = self.vector("test", 0, "initial_velocity", t["initial_velocity"], "m/s")
        for key in ("duration", "frames", "indenter", "initial_velocity"):
            if key in t and kind != "impact":
                raise self.fail("test", 0, key, f'{key!r} applies only to kind = "impact"')
        if "increments" in t and kind != "shear":
            raise self.fail("test", 0, "increments", "'increments' applies only to kind = \"shear\"")
        if "max_factor" in t and kind != "failure":
            raise self.fail("test", 0, "max_factor", "'max_factor' applies only to kind = \"failure\"")
        return TestSpec(
            kind=kind,
            steps=steps,
            tolerance=tolerance,
            increments=increments,
            max_factor=max_factor,
            duration=duration,
            frames=frames,
            indenter=indenter,
            initial_velocity=initial,
        )

    def export(self) -> ExportSpec:
        t = self.table("export")
        paths = {k: self.path("export", k, v) for k, v in t.items()}
        more = tuple((k, v) for k, v in paths.items() if k not in EXPORT_KEYS)
        return ExportSpec(**{k: v for k, v in paths.items() if k in EXPORT_KEYS}, more=more)


def _normal(region: str) -> str:
    return "".join(region.split())


def parse_job(text: str, *, base: Path, name: str = "job.toml", path: Path | None = None) -> Job:
    """Validate TOML ``text``; relative paths resolve against ``base``; ``name`` prefixes error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line, col = getattr(exc, "lineno", None), getattr(exc, "colno", None)
        msg = str(getattr(exc, "msg", exc)).split(" (at line")[0]
        if line is None:  # Python 3.11 puts the position only in the message
            m = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
            line, col = (int(m.group(1)), int(m.group(2))) if m else (None, None)
        loc = f"{name}:{line}:{col}" if line else name
        raise FabError(f"{loc}: TOML syntax error: {msg}") from None
    return _Reader(data, text, name, base).job(path)


def load_job(path: str | Path) -> Job:
    """Read and validate a TOML job file; every error is one ``FabError`` line with file:line and key."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise FabError(f"job file not found: {p}")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FabError(f"cannot read job file {p}: {exc}") from None
    return parse_job(text, base=p.resolve().parent, name=p.name, path=p.resolve())


def out_of_plane(load: Load) -> str | None:
    """Why ``load`` cannot act on a plane-stress model (dimension = 2, the xy section), or None.

    The section has no z: a force out of its plane meets nothing that resists it (the solve runs away), and a
    torque can only turn about z; refused rather than dropped or diverged."""
    x, y, z = load.vector
    if load.kind == "torque":
        if x or y:
            return (f"dimension = 2 is plane stress in xy, so a torque turns about z only; its axis ({x:g}, {y:g}, "
                    f"{z:g}) has an x or y part: use dimension = 3")
        return None
    if z:
        return (f"dimension = 2 is plane stress in xy, and this {load.kind} has a z component ({z:g} "
                f"{LOAD_UNITS[load.kind]}) the section cannot carry: use dimension = 3, or load in x and y")
    return None


_LOAD_FLAG = re.compile(
    r"^(?P<region>.+):\s*(?P<kind>force|torque|displacement|velocity)\s*=\s*(?P<vec>[^:]*)$"
)


def parse_load_flag(text: str) -> Load:
    """Parse ``REGION:force=Fx,Fy,Fz`` (or torque / displacement / velocity, same units as the job file)."""
    m = _LOAD_FLAG.match(text.strip())
    if not m:
        raise FabError(
            f"--load {text!r}: expected REGION:force=Fx,Fy,Fz (or torque=, displacement=, velocity=)"
        )
    kind = m.group("kind")
    try:
        vec = tuple(float(v) for v in m.group("vec").split(","))
    except ValueError:
        vec = ()
    if len(vec) != 3 or not all(math.isfinite(v) for v in vec):
        raise FabError(
            f"--load {text!r}: {kind} must be 3 numbers in {LOAD_UNITS[kind]}, got {m.group('vec')!r}"
        )
    region = m.group("region").strip()
    try:
        parse_region(region)
    except FabError as exc:
        raise FabError(f"--load {text!r}: {exc}") from None
    if kind in ("force", "torque") and not any(vec):
        raise FabError(f"--load {text!r}: {kind} is zero")
    return Load(region=region, kind=kind, vector=(vec[0], vec[1], vec[2]))


def job_from_flags(
    part: str | Path,
    material: str = "PLA",
    pitch: float | None = None,
    count: int | None = None,
    fix: list[str] | None = None,
    load: list[str] | None = None,
    test: str = "static",
    model: str = "lps",
    dimension: int = 3,
    units: str = "mm",
) -> Job:
    """Build a Job from ``fab simulate`` quick flags (same validation as the job file, errors name the flag)."""
    source = Path(part).expanduser().resolve()
    if not source.is_file():
        raise FabError(f"part source not found: {source}")
    if pitch is not None and count is not None:
        raise FabError("give either --pitch (mm) or --count, not both")
    if pitch is not None and not (math.isfinite(pitch) and pitch > 0):
        raise FabError(f"--pitch must be > 0 mm, got {pitch!r}")
    if count is not None and count < 1:
        raise FabError(f"--count must be a positive whole number, got {count!r}")
    voxels = VoxelSpec(pitch=float(pitch)) if pitch is not None else VoxelSpec(count=count or DEFAULT_COUNT)
    try:
        mat = get_material(material)
    except FabError as exc:
        # The library's message speaks of SI keys (job files, Python); on the command line the choices are a
        # built-in name or a job file.
        head = str(exc).split(" built-in:")[0].rstrip()
        raise FabError(
            f"--material: {head} --material takes a built-in ({', '.join(material_names())}); for a material of "
            "your own, write a job file with a [material] table of SI properties (docs/job-file.md)"
        ) from None
    fixes = []
    for f in fix or []:
        try:
            parse_region(f)
        except FabError as exc:
            raise FabError(f"--fix {f!r}: {exc}") from None
        fixes.append(Fix(f.strip()))
    loads = [parse_load_flag(t) for t in load or []]
    fixed = {_normal(f.region) for f in fixes}
    for ld in loads:
        if _normal(ld.region) in fixed:
            raise FabError(
                f"--load region {ld.region!r} is also a --fix region: a fixed particle cannot be loaded"
            )
    if test.strip().lower() not in TESTS:
        raise FabError(f"--test must be one of {', '.join(TESTS)}, got {test!r}")
    if model.strip().lower() not in models():
        raise FabError(f"--model must be one of {', '.join(models())}, got {model!r}")
    if dimension not in (2, 3) or isinstance(dimension, bool):
        raise FabError(f"--dimension must be 3 or 2, got {dimension!r}")
    if units.strip().lower() not in _UNITS:
        raise FabError(f"--units must be one of {', '.join(_UNITS)}, got {units!r}")
    for ld in loads if dimension == 2 else ():
        if (why := out_of_plane(ld)) is not None:
            raise FabError(f"--load {ld.region}:{ld.kind}=...: {why}")
    return Job(
        part=PartSpec(source=source, units=units.strip().lower()),
        voxels=voxels,
        material=mat,
        physics=PhysicsSpec(model=model.strip().lower(), dimension=dimension),
        fix=tuple(fixes),
        load=tuple(loads),
        test=TestSpec(kind=test.strip().lower()),
    )
