"""Printer and filament profiles for the FDM slicer, loaded from TOML.

A printer profile describes the machine only: one TOML file with the sections ``[machine]``, ``[filament]``
(just the ``diameter`` its extruder takes), ``[speed]``, ``[acceleration]``, ``[retraction]`` and ``[gcode]``
(see ``exporters/printers/*.toml`` and docs/gcode.md). What is printed sets the temperatures, the fan and the
density: a :class:`FilamentProfile` (from the material library, ``fab.materials.print_settings``, or a
filament TOML of one's own) applied with :func:`with_filament`. Units are those of G-code: millimetres, mm/s,
mm/s^2 and degrees Celsius; filament density is g/cm^3 because that is how spools are labelled. The built-ins
live beside this module and are named by their file stem.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from pathlib import Path

from exporters.errors import ExportError

BUILTIN_DIR = Path(__file__).with_name("printers")
DEFAULT_PRINTER = "prusa_mk3s"


@dataclasses.dataclass(frozen=True)
class PrinterProfile:
    """An FDM printer with its loaded filament (mm, mm/s, mm/s^2, degrees C, g/cm^3)."""

    name: str
    bed_x: float
    bed_y: float
    max_z: float
    nozzle_diameter: float = 0.4
    extrusion_width: float = 0.45
    layer_height: float = 0.2
    first_layer_height: float = 0.2
    max_acceleration: float = 1250.0
    travel_acceleration: float = 1250.0
    jerk: float = 8.0
    flavor: str = "marlin"
    filament_diameter: float = 1.75
    filament_density: float = 1.24
    nozzle_temp: float = 215.0
    bed_temp: float = 60.0
    first_layer_nozzle_temp: float = 215.0
    first_layer_bed_temp: float = 60.0
    fan_percent: float = 100.0
    speed_external_perimeter: float = 25.0
    speed_perimeter: float = 45.0
    speed_infill: float = 80.0
    speed_solid_infill: float = 80.0
    speed_top_solid_infill: float = 40.0
    speed_first_layer: float = 20.0
    speed_travel: float = 180.0
    accel_perimeter: float = 800.0
    accel_infill: float = 1250.0
    accel_first_layer: float = 800.0
    accel_default: float = 1000.0
    retract_length: float = 0.8
    retract_speed: float = 35.0
    retract_lift: float = 0.0
    retract_min_travel: float = 1.0
    retract_layer_change: bool = True
    start_gcode: str = ""
    end_gcode: str = ""
    filament: str = "PLA"  # what the temperatures, fan and density are for

    def __post_init__(self) -> None:
        positive = (
            "bed_x bed_y max_z nozzle_diameter extrusion_width layer_height first_layer_height max_acceleration "
            "travel_acceleration filament_diameter filament_density speed_external_perimeter speed_perimeter "
            "speed_infill speed_solid_infill speed_top_solid_infill speed_first_layer speed_travel "
            "accel_perimeter accel_infill accel_first_layer accel_default retract_speed"
        ).split()
        for field in positive:
            value = getattr(self, field)
            if not isinstance(value, (int, float)) or not value > 0:
                raise ExportError(
                    f"printer profile {self.name!r}: {field} must be a positive number, got {value!r}"
                )
        for field in ("jerk", "retract_length", "retract_lift", "retract_min_travel"):
            if not getattr(self, field) >= 0:
                raise ExportError(f"printer profile {self.name!r}: {field} must be >= 0")
        if not isinstance(self.retract_layer_change, bool):
            raise ExportError(f"printer profile {self.name!r}: retraction.layer_change must be true or false")
        if self.flavor != "marlin":
            raise ExportError(
                f"printer profile {self.name!r}: only flavor 'marlin' is supported, got {self.flavor!r}"
            )

    @property
    def filament_area_mm2(self) -> float:
        """Cross-section of the filament strand, mm^2."""
        return float(3.141592653589793 * (self.filament_diameter / 2.0) ** 2)


# TOML section -> {toml key: dataclass field}
_SECTIONS: dict[str, dict[str, str]] = {
    "machine": {
        k: k
        for k in (
            "bed_x bed_y max_z nozzle_diameter extrusion_width layer_height first_layer_height "
            "max_acceleration travel_acceleration jerk flavor"
        ).split()
    },
    "filament": {"diameter": "filament_diameter"},
    "speed": {
        k: f"speed_{k}"
        for k in "external_perimeter perimeter infill solid_infill top_solid_infill first_layer travel".split()
    },
    "acceleration": {k: f"accel_{k}" for k in "perimeter infill first_layer default".split()},
    "retraction": {k: f"retract_{k}" for k in "length speed lift min_travel layer_change".split()},
    "gcode": {"start": "start_gcode", "end": "end_gcode"},
}


def builtin_printers() -> list[str]:
    """Names of the built-in profiles (usable as ``load_printer(name)``)."""
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.toml"))


def profile_from_dict(data: dict, *, source: str = "<dict>") -> PrinterProfile:
    """Build a profile from parsed TOML; unknown sections or keys are an error (they are usually typos)."""
    kwargs: dict[str, object] = {"name": str(data.get("name", Path(source).stem))}
    for section, value in data.items():
        if section == "name":
            continue
        if section not in _SECTIONS or not isinstance(value, dict):
            raise ExportError(f"{source}: unknown section [{section}] (expected one of {sorted(_SECTIONS)})")
        for key, item in value.items():
            if key not in _SECTIONS[section]:
                if section == "filament" and key in FILAMENT_KEYS:
                    raise ExportError(
                        f"{source}: [filament] {key} belongs to the filament, not the printer: give the material "
                        "(fab export --material, or the job's [material]) or a filament TOML (--filament)"
                    )
                raise ExportError(f"{source}: unknown key {key!r} in [{section}]")
            kwargs[_SECTIONS[section][key]] = item
    for key in ("bed_x", "bed_y", "max_z"):
        if key not in kwargs:
            raise ExportError(f"{source}: [machine] needs {key}")
    try:
        return PrinterProfile(**kwargs)  # type: ignore[arg-type]
    except TypeError as exc:
        raise ExportError(f"{source}: bad profile ({exc})") from None


def load_printer(name_or_path: str | os.PathLike[str] | None = None) -> PrinterProfile:
    """Load a built-in profile by name (``prusa_mk3s``, ``ender3``) or a TOML file; None gives the default."""
    if isinstance(name_or_path, PrinterProfile):
        return name_or_path
    name = DEFAULT_PRINTER if name_or_path is None else name_or_path
    path = Path(name)
    if not path.suffix and not path.exists():
        # prusa-mk3s, Prusa_MK3S and prusa_mk3s all name the built-in prusa_mk3s.toml
        path = BUILTIN_DIR / f"{str(name).strip().lower().replace('-', '_')}.toml"
        if not path.exists():
            raise ExportError(f"unknown printer {str(name)!r} (built-ins: {', '.join(builtin_printers())})")
    if not path.is_file():
        raise ExportError(f"printer profile not found: {path}")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ExportError(f"{path}: invalid TOML ({exc})") from None
    return profile_from_dict(data, source=str(path))


FILAMENT_KEYS = ("density", "nozzle_temp", "bed_temp", "first_layer_nozzle_temp", "first_layer_bed_temp", "fan_percent")
# (low, high) for each key: outside them the number is a typo or in the wrong unit.
_FILAMENT_RANGES = {
    "density": (0.5, 3.0),
    "nozzle_temp": (150.0, 350.0),
    "first_layer_nozzle_temp": (150.0, 350.0),
    "bed_temp": (0.0, 150.0),
    "first_layer_bed_temp": (0.0, 150.0),
    "fan_percent": (0.0, 100.0),
}


@dataclasses.dataclass(frozen=True)
class FilamentProfile:
    """What the printer prints: temperatures (degrees C), part-cooling fan (%), density (g/cm^3)."""

    name: str
    nozzle_temp: float
    bed_temp: float
    fan_percent: float
    density: float
    first_layer_nozzle_temp: float | None = None  # None: the same as nozzle_temp
    first_layer_bed_temp: float | None = None
    source: str = ""

    def __post_init__(self) -> None:
        for key, (lo, hi) in _FILAMENT_RANGES.items():
            value = getattr(self, key)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
                raise ExportError(f"filament {self.name!r}: {key} must be a number in [{lo:g}, {hi:g}], got {value!r}")


def filament_from_dict(data: dict, *, source: str = "<dict>") -> FilamentProfile:
    """A filament from parsed TOML: ``name`` and the keys of FILAMENT_KEYS at the top level (or in a
    ``[filament]`` table); nozzle_temp, bed_temp, fan_percent and density are required."""
    table = dict(data.get("filament", {})) if isinstance(data.get("filament"), dict) else {}
    table.update({k: v for k, v in data.items() if k != "filament"})
    unknown = sorted(set(table) - {"name", "source", *FILAMENT_KEYS})
    if unknown:
        raise ExportError(f"{source}: unknown filament key(s) {', '.join(unknown)} (known: name, {', '.join(FILAMENT_KEYS)})")
    missing = [k for k in ("nozzle_temp", "bed_temp", "fan_percent", "density") if k not in table]
    if missing:
        raise ExportError(f"{source}: a filament needs {', '.join(missing)}")
    table.setdefault("name", Path(source).stem)
    return FilamentProfile(**table)


def load_filament(spec: str | os.PathLike[str] | dict | FilamentProfile) -> FilamentProfile:
    """A filament profile: a FilamentProfile, a dict of its keys, or a TOML file."""
    if isinstance(spec, FilamentProfile):
        return spec
    if isinstance(spec, dict):
        return filament_from_dict(spec)
    path = Path(spec)
    if not path.is_file():
        raise ExportError(f"filament profile not found: {path} (a TOML file with name, nozzle_temp, bed_temp, fan_percent, density)")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ExportError(f"{path}: invalid TOML ({exc})") from None
    return filament_from_dict(data, source=str(path))


def with_filament(printer: PrinterProfile, filament: FilamentProfile) -> PrinterProfile:
    """The printer loaded with ``filament``: its temperatures, fan and density replace the defaults."""
    nozzle, bed = filament.nozzle_temp, filament.bed_temp
    return dataclasses.replace(
        printer,
        filament=filament.name,
        filament_density=filament.density,
        nozzle_temp=nozzle,
        bed_temp=bed,
        first_layer_nozzle_temp=nozzle if filament.first_layer_nozzle_temp is None else filament.first_layer_nozzle_temp,
        first_layer_bed_temp=bed if filament.first_layer_bed_temp is None else filament.first_layer_bed_temp,
        fan_percent=filament.fan_percent,
    )
