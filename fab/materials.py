"""Materials: a small built-in library with sourced figures, user-defined materials, and validation.

All properties are SI: Pa, kg/m^3, J/m^2, Pa*sqrt(m). Every built-in figure carries a ``source``
(datasheet, handbook or paper); see docs/materials.md. Fracture toughness K_IC is converted to the
fracture energy the particle engine needs with the plane-strain relation G = K_IC^2 (1 - nu^2) / E,
because handbook K_IC values are plane-strain values (ASTM E399).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from fab.errors import FabError

REQUIRED_KEYS = ("youngs_modulus", "poisson_ratio", "density", "tensile_strength")
"""Keys a user-defined material must give, plus one of ``fracture_energy`` or ``k_ic``."""
OPTIONAL_KEYS = ("yield_strength", "shear_strength", "source")
ALL_KEYS = ("name", *REQUIRED_KEYS, "fracture_energy", "k_ic", *OPTIONAL_KEYS)


class MaterialError(FabError):
    """A bad material; ``key`` names the offending key (None when the material as a whole is wrong)."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class Material:
    """An isotropic linear-elastic, brittle-fracture material in SI units.

    ``fracture_energy`` G0 (J/m^2) is the energy to open a unit area of crack; ``tensile_strength`` is
    the ultimate tensile strength. Strengths are in Pa.
    """

    name: str
    youngs_modulus: float
    poisson_ratio: float
    density: float
    fracture_energy: float
    tensile_strength: float
    yield_strength: float | None = None
    shear_strength: float | None = None
    source: str = ""

    @property
    def bulk_modulus(self) -> float:
        """K = E / (3 (1 - 2 nu)), Pa."""
        return self.youngs_modulus / (3.0 * (1.0 - 2.0 * self.poisson_ratio))

    @property
    def shear_modulus(self) -> float:
        """G = E / (2 (1 + nu)), Pa."""
        return self.youngs_modulus / (2.0 * (1.0 + self.poisson_ratio))

    @property
    def wave_speed(self) -> float:
        """Bar wave speed c0 = sqrt(E / rho), m/s (the speed the stable time step is based on)."""
        return math.sqrt(self.youngs_modulus / self.density)

    @property
    def k_ic(self) -> float:
        """Plane-strain fracture toughness K_IC = sqrt(G E / (1 - nu^2)), Pa*sqrt(m)."""
        return math.sqrt(self.fracture_energy * self.youngs_modulus / (1.0 - self.poisson_ratio**2))

    def as_dict(self) -> dict[str, Any]:
        """Plain dict of the stored fields (SI), e.g. for a results file."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def fracture_energy_from_k_ic(k_ic: float, youngs_modulus: float, poisson_ratio: float) -> float:
    """Plane-strain fracture energy G = K_IC^2 (1 - nu^2) / E, J/m^2 (K_IC in Pa*sqrt(m), E in Pa)."""
    return k_ic**2 * (1.0 - poisson_ratio**2) / youngs_modulus


def _from_k_ic(name: str, e: float, nu: float, rho: float, k_ic: float, uts: float, **kw: Any) -> Material:
    return Material(name, e, nu, rho, fracture_energy_from_k_ic(k_ic, e, nu), uts, **kw)


# Built-in library. Polymers are unfilled, 100 % dense material (printed parts are weaker and
# anisotropic: treat these as upper bounds). Sources are listed in docs/materials.md.
_LIBRARY: dict[str, Material] = {
    "PLA": _from_k_ic(
        "PLA",
        3.5e9,
        0.36,
        1240.0,
        3.0e6,
        53e6,
        yield_strength=60e6,
        source="NatureWorks Ingeo 4043D datasheet (E 3.6 GPa, yield 60 MPa, break 53 MPa, 1.24 g/cc); "
        "nu and K_IC ~3 MPa*sqrt(m): Ashby & Jones, Engineering Materials 2 / Granta EduPack PLA record",
    ),
    "PETG": _from_k_ic(
        "PETG",
        2.1e9,
        0.38,
        1270.0,
        2.5e6,
        50e6,
        yield_strength=50e6,
        source="Eastman Eastar 6763 datasheet (E 2.1 GPa, yield 50 MPa, 1.27 g/cc); "
        "nu and K_IC ~2.5 MPa*sqrt(m): Granta EduPack PETG record (typical mid-range)",
    ),
    "ABS": _from_k_ic(
        "ABS",
        2.3e9,
        0.35,
        1050.0,
        3.0e6,
        40e6,
        yield_strength=43e6,
        source="Ashby, Materials Selection in Mechanical Design, 4th ed., Table A (ABS: E 1.1-2.9 GPa, "
        "K_IC 1.2-4.3 MPa*sqrt(m), rho 1010-1210); MatWeb 'Overview of materials for ABS, molded' (UTS 40 MPa)",
    ),
    "PA12": _from_k_ic(
        "PA12",
        1.65e9,
        0.39,
        1010.0,
        3.0e6,
        48e6,
        source="EOS PA 2200 datasheet (E 1650 MPa, UTS 48 MPa, laser-sintered); density of solid PA12 "
        "1.01 g/cc (Evonik Vestamid L); nu and K_IC ~3 MPa*sqrt(m): Granta EduPack PA12 record",
    ),
    "Al6061-T6": _from_k_ic(
        "Al6061-T6",
        68.9e9,
        0.33,
        2700.0,
        29e6,
        310e6,
        yield_strength=276e6,
        shear_strength=207e6,
        source="ASM Handbook Vol. 2 / ASM Aerospace Specification Metals 'Aluminum 6061-T6' "
        "(E 68.9 GPa, nu 0.33, UTS 310 MPa, yield 276 MPa, shear 207 MPa, K_IC 29 MPa*sqrt(m))",
    ),
    "Steel1045": _from_k_ic(
        "Steel1045",
        205e9,
        0.29,
        7870.0,
        50e6,
        625e6,
        yield_strength=530e6,
        shear_strength=375e6,
        source="MatWeb 'AISI 1045 Steel, cold drawn' (E 205 GPa, nu 0.29, UTS 625 MPa, yield 530 MPa, "
        "7.87 g/cc); K_IC ~50 MPa*sqrt(m): ASM Handbook Vol. 19 (medium-carbon steels); shear = 0.6 UTS",
    ),
    "Ti-6Al-4V": _from_k_ic(
        "Ti-6Al-4V",
        113.8e9,
        0.342,
        4430.0,
        75e6,
        950e6,
        yield_strength=880e6,
        shear_strength=550e6,
        source="ASM Aerospace Specification Metals 'Titanium Ti-6Al-4V (Grade 5), Annealed' "
        "(E 113.8 GPa, nu 0.342, UTS 950 MPa, yield 880 MPa, shear 550 MPa, K_IC 75 MPa*sqrt(m))",
    ),
    "Glass": _from_k_ic(
        "Glass",
        72e9,
        0.22,
        2500.0,
        0.75e6,
        41e6,
        source="Soda-lime glass: Ashby, Materials Selection in Mechanical Design, 4th ed. (E 72 GPa, "
        "nu 0.22, rho 2.5 g/cc); K_IC 0.75 MPa*sqrt(m): Wiederhorn, J. Am. Ceram. Soc. 52 (1969) 99; "
        "annealed tensile strength 41 MPa: ASTM E1300 / Pilkington design value",
    ),
}

_ALIASES: dict[str, str] = {
    "pla": "PLA",
    "polylactide": "PLA",
    "petg": "PETG",
    "pet-g": "PETG",
    "abs": "ABS",
    "pa12": "PA12",
    "pa-12": "PA12",
    "nylon12": "PA12",
    "nylon-12": "PA12",
    "nylon 12": "PA12",
    "nylon": "PA12",
    "al6061-t6": "Al6061-T6",
    "al6061": "Al6061-T6",
    "6061": "Al6061-T6",
    "6061-t6": "Al6061-T6",
    "aluminium": "Al6061-T6",
    "aluminum": "Al6061-T6",
    "aluminium6061": "Al6061-T6",
    "aluminum6061": "Al6061-T6",
    "aluminium6061-t6": "Al6061-T6",
    "aluminum6061-t6": "Al6061-T6",
    "steel1045": "Steel1045",
    "steel-1045": "Steel1045",
    "1045": "Steel1045",
    "aisi1045": "Steel1045",
    "steel": "Steel1045",
    "ti-6al-4v": "Ti-6Al-4V",
    "ti6al4v": "Ti-6Al-4V",
    "ti64": "Ti-6Al-4V",
    "titanium": "Ti-6Al-4V",
    "glass": "Glass",
    "soda-lime": "Glass",
    "sodalime": "Glass",
    "soda-lime-glass": "Glass",
}


# FDM print settings of the printable built-ins: what `fab export --gcode` heats and cools to when the part is
# made of that material (degrees C, part-cooling fan %). The printer profile holds only the machine.
PRINTABLE: dict[str, dict[str, Any]] = {
    "PLA": dict(nozzle_temp=215, first_layer_nozzle_temp=215, bed_temp=60, first_layer_bed_temp=60,
                fan_percent=100, source="PrusaSlicer Generic PLA preset"),
    "PETG": dict(nozzle_temp=240, first_layer_nozzle_temp=230, bed_temp=90, first_layer_bed_temp=85,
                 fan_percent=50, source="PrusaSlicer Generic PETG preset"),
    "ABS": dict(nozzle_temp=255, first_layer_nozzle_temp=255, bed_temp=110, first_layer_bed_temp=100,
                fan_percent=0, source="PrusaSlicer Generic ABS preset (cooling off)"),
    "PA12": dict(nozzle_temp=260, first_layer_nozzle_temp=260, bed_temp=90, first_layer_bed_temp=90,
                 fan_percent=0, source="middle of the ranges on PA12 filament datasheets (nozzle 250-270 C, "
                 "bed 80-100 C, fan off)"),
}


def print_settings(material: str | Mapping[str, Any] | Material) -> dict[str, Any]:
    """The FDM print settings of a material: ``name``, temperatures (degrees C), ``fan_percent`` and ``density``
    in g/cm^3 (spool units), for :class:`exporters.printers.FilamentProfile`. A material outside the printable
    built-ins (a metal, glass, a custom table) raises MaterialError saying what to give instead."""
    mat = get_material(material)
    base = next((name for name in PRINTABLE if name == mat.name), None)
    if base is None:
        raise MaterialError(
            f"{mat.name} is not an FDM filament in the library (printable: {', '.join(PRINTABLE)}): give one of "
            "those, or a filament TOML with name, nozzle_temp, bed_temp, fan_percent, density (--filament)",
            key="name",
        )
    settings = {k: v for k, v in PRINTABLE[base].items()}
    return {"name": mat.name, "density": mat.density / 1000.0, **settings}


def resolved_alias(name: str) -> str | None:
    """The built-in a name stands for when it is an alias rather than the built-in's own name ("aluminium 6061"
    -> "Al6061-T6"); None for a canonical name (any case) or an unknown one."""
    key = _key(name)
    canon = _ALIASES.get(key) or _ALIASES.get(key.replace(" ", "")) or _ALIASES.get(key.replace(" ", "-"))
    if canon is None or key == canon.lower():
        return None
    return canon


def material_names() -> list[str]:
    """Canonical names of the built-in materials."""
    return list(_LIBRARY)


def _key(name: str) -> str:
    return " ".join(name.strip().lower().replace("_", "-").split())


def _lookup(name: str) -> Material:
    key = _key(name)
    canon = _ALIASES.get(key) or _ALIASES.get(key.replace(" ", "")) or _ALIASES.get(key.replace(" ", "-"))
    if canon is None:
        choices = sorted(set(_ALIASES) | {n.lower() for n in _LIBRARY})
        close = difflib.get_close_matches(key, choices, n=3, cutoff=0.5)
        names = dict.fromkeys(_ALIASES.get(c, c) for c in close)  # several aliases may name one material
        hint = f"did you mean {', '.join(repr(n) for n in names)}? " if close else ""
        raise MaterialError(
            f"unknown material {name!r}: {hint}built-in: {', '.join(_LIBRARY)} "
            "(or give youngs_modulus, poisson_ratio, density, fracture_energy, tensile_strength in SI)",
            key="name",
        )
    if key != canon.lower():  # an alias: say which material it stands for, it may not be the one meant
        import warnings

        warnings.warn(f"material {name!r} is the built-in {canon} (docs/materials.md)", UserWarning, stacklevel=3)
    return _LIBRARY[canon]


# Plausible SI ranges; outside them the number is almost surely in another unit. (lo, hi, unit, hints)
# where hints are (below-this, factor, "what the user probably typed") tried in order.
_RANGES: dict[str, tuple[float, float, str, tuple[tuple[float, float, str], ...]]] = {
    "youngs_modulus": (1e6, 2e12, "Pa", ((1e3, 1e9, "GPa"), (1e6, 1e6, "MPa"))),
    "density": (50.0, 25000.0, "kg/m^3", ((50.0, 1000.0, "g/cm^3"),)),
    "tensile_strength": (1e4, 2e10, "Pa", ((1e4, 1e6, "MPa"),)),
    "yield_strength": (1e4, 2e10, "Pa", ((1e4, 1e6, "MPa"),)),
    "shear_strength": (1e4, 2e10, "Pa", ((1e4, 1e6, "MPa"),)),
    "fracture_energy": (1e-2, 1e7, "J/m^2", ((1e-2, 1e3, "kJ/m^2"),)),
    "k_ic": (1e3, 1e9, "Pa*sqrt(m)", ((1e3, 1e6, "MPa*sqrt(m)"),)),
}


def _si(v: float) -> str:
    """3.5e9 rather than 3.5e+09: the form a user would type into the job file."""
    return f"{v:.6g}".replace("e+0", "e").replace("e+", "e").replace("e-0", "e-")


def _check_number(key: str, value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MaterialError(f"{where}'{key}' must be a number, got {value!r}", key=key)
    v = float(value)
    if not math.isfinite(v):
        raise MaterialError(f"{where}'{key}' must be finite, got {value!r}", key=key)
    if key == "poisson_ratio":
        if not -1.0 < v < 0.5:
            raise MaterialError(f"{where}'poisson_ratio' must be in (-1, 0.5), got {value!r}", key=key)
        return v
    if v <= 0.0:
        raise MaterialError(f"{where}'{key}' must be positive, got {value!r}", key=key)
    lo, hi, unit, hints = _RANGES[key]
    if v < lo:
        for below, factor, typed in hints:
            if v < below:
                raise MaterialError(
                    f"{where}'{key}' = {value!r} looks like {typed}; give SI {unit}, e.g. {_si(v * factor)} {unit}",
                    key=key,
                )
        raise MaterialError(f"{where}'{key}' = {value!r} {unit} is implausibly small", key=key)
    if v > hi:
        raise MaterialError(f"{where}'{key}' = {value!r} {unit} is implausibly large (SI units?)", key=key)
    return v


def get_material(spec: str | Mapping[str, Any] | Material) -> Material:
    """Resolve a material: a built-in name or alias (case-insensitive), a ``Material``, or a table.

    A table either names a built-in (``{"name": "PLA"}``), optionally overriding some of its
    properties, or gives a complete user-defined material in SI: ``youngs_modulus`` (Pa),
    ``poisson_ratio``, ``density`` (kg/m^3), ``tensile_strength`` (Pa), and ``fracture_energy``
    (J/m^2) or ``k_ic`` (Pa*sqrt(m), plane strain); optionally ``yield_strength``, ``shear_strength``
    (Pa), ``source``. Raises :class:`MaterialError` (a ``FabError``) naming the bad key.
    """
    if isinstance(spec, Material):
        return spec
    if isinstance(spec, str):
        return _lookup(spec)
    if not isinstance(spec, Mapping):
        raise MaterialError(f"material must be a name or a table, got {spec!r}")
    table = dict(spec)
    for key in table:
        if key not in ALL_KEYS:
            close = difflib.get_close_matches(str(key), ALL_KEYS, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise MaterialError(
                f"unknown material key {key!r}{hint}; allowed: {', '.join(ALL_KEYS)}", key=str(key)
            )
    if "fracture_energy" in table and "k_ic" in table:
        raise MaterialError("give either 'fracture_energy' or 'k_ic', not both", key="k_ic")
    name = table.get("name")
    if name is not None and not isinstance(name, str):
        raise MaterialError(f"material 'name' must be a string, got {name!r}", key="name")
    props = {k: table[k] for k in ALL_KEYS if k in table and k not in ("name", "source")}
    where = ""
    checked = {k: _check_number(k, v, where) for k, v in props.items()}
    source = table.get("source")
    if source is not None and not isinstance(source, str):
        raise MaterialError(f"material 'source' must be a string, got {source!r}", key="source")

    complete = all(k in checked for k in REQUIRED_KEYS) and (
        "fracture_energy" in checked or "k_ic" in checked
    )
    if name is not None and not complete:
        base = _lookup(name)
    elif complete:
        base = None
    else:
        missing = [k for k in REQUIRED_KEYS if k not in checked]
        if "fracture_energy" not in checked and "k_ic" not in checked:
            missing.append("fracture_energy (or k_ic)")
        raise MaterialError(
            f"material is missing {', '.join(repr(m) for m in missing)} (or give 'name' of a built-in)",
            key=missing[0].split()[0],
        )

    k_ic = checked.pop("k_ic", None)
    if base is None:
        # fracture_energy is filled in from k_ic below when that is what was given.
        mat = Material(
            name=name or "custom", source=source or "user-defined", **{"fracture_energy": 0.0, **checked}
        )
    else:
        mat = replace(base, **checked)
        changed = [*checked, *(["k_ic"] if k_ic is not None else [])]
        if source is not None or changed:
            mat = replace(mat, source=source or f"{base.source}; overridden: {', '.join(changed)}")
    if k_ic is not None:
        mat = replace(
            mat, fracture_energy=fracture_energy_from_k_ic(k_ic, mat.youngs_modulus, mat.poisson_ratio)
        )
    elif (
        base is not None
        and "fracture_energy" not in checked
        and ("youngs_modulus" in checked or "poisson_ratio" in checked)
    ):
        # Keep the built-in's toughness (K_IC is the measured quantity), not its G, when E or nu change.
        mat = replace(
            mat, fracture_energy=fracture_energy_from_k_ic(base.k_ic, mat.youngs_modulus, mat.poisson_ratio)
        )
    for key in ("yield_strength", "shear_strength"):
        value = getattr(mat, key)
        if value is not None and value > 3.0 * mat.tensile_strength:
            raise MaterialError(
                f"'{key}' = {value:.6g} Pa is more than 3x tensile_strength ({mat.tensile_strength:.6g} Pa)",
                key=key,
            )
    return mat
