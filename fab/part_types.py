"""Voxel part types: the discrete parts a robot assembles, and the stiffness and strength of their joints.

A part type is a cubic voxel of edge ``pitch_mm`` made of a library material (fab/materials.py), a fraction
``fill`` of its volume solid (mass = fill x density x pitch^3), joined to each face neighbour by a joint of one
``joint`` kind. The joint is a beam between voxel centres (physics/laws/voxel_joint.py) whose section is the
solid a x a face scaled by ``fill`` and by the kind's factors:

    stiffness: axial E A / a, shear kappa G A / a (kappa = 5/6), bending E I / a, torsion G J / a
               with A = a^2, I = a^4/12, J = 0.1406 a^4 (square section), times fill x stiffness_factor
    strength:  tension sigma_t A, shear tau A, bending sigma_t a^3/6, torsion 0.208 tau a^3
               (tau = the material's shear strength, else sigma_t / sqrt(3)), times fill x strength_factor

Kinds: ``bonded`` (glued or printed as one: factors 1 and 1), ``bolted`` (0.5 and 0.3) and ``snap`` (0.2 and
0.1). The bolted and snap factors are ASSUMED round figures, not measurements: a joint you have tested should be
given by its own numbers, which override the derived ones (SI: axial_stiffness N/m, shear_stiffness N/m,
bending_stiffness N m/rad, torsion_stiffness N m/rad, tensile_strength N, shear_strength N, bending_strength
N m, torsion_strength N m). Rotational inertia: m a^2 / 6 for a solid voxel (fill 1), 5 m a^2 / 18 (a thin-walled
box) otherwise.

A TOML file of part types has one table per type, e.g.::

    [my-voxel]
    material = "PETG"
    pitch_mm = 20.0
    fill = 0.3
    joint = "bolted"
    bending_strength = 2.5     # N m, measured

Units: geometry mm, everything else SI; converted to metres once, in ``PartType.law_parameters``.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from fab.errors import FabError
from fab.materials import Material, get_material

MM = 1e-3
KAPPA = 5.0 / 6.0
TORSION_J = 0.1406  # J / a^4 of a square section (Roark)
TORSION_W = 0.208  # torsion section modulus / a^3 of a square section (Roark)
JOINT_KINDS: dict[str, tuple[float, float]] = {  # kind -> (stiffness factor, strength factor)
    "bonded": (1.0, 1.0),
    "bolted": (0.5, 0.3),
    "snap": (0.2, 0.1),
}
OVERRIDES = (
    "axial_stiffness",
    "shear_stiffness",
    "bending_stiffness",
    "torsion_stiffness",
    "tensile_strength",
    "shear_strength",
    "bending_strength",
    "torsion_strength",
)
KEYS = ("material", "pitch_mm", "fill", "joint", "mass_g", *OVERRIDES)


@dataclass(frozen=True)
class PartType:
    """One voxel part type (see the module docstring). ``overrides``: measured joint values in SI."""

    name: str
    material: Material
    pitch_mm: float
    fill: float = 1.0
    joint: str = "bonded"
    mass_g: float | None = None
    overrides: dict[str, float] = field(default_factory=dict)

    @property
    def mass_kg(self) -> float:
        if self.mass_g is not None:
            return self.mass_g * 1e-3
        return self.fill * self.material.density * (self.pitch_mm * MM) ** 3

    @property
    def inertia_factor(self) -> float:
        return 1.0 / 6.0 if self.fill >= 1.0 else 5.0 / 18.0

    def law_parameters(self) -> dict[str, float]:
        """The joint's stiffness and strength in SI, keyed like physics.VoxelJoint's parameters."""
        a = self.pitch_mm * MM
        mat = self.material
        ks, kr = JOINT_KINDS[self.joint]
        area = a * a * self.fill
        tau = mat.shear_strength or mat.tensile_strength / math.sqrt(3.0)
        out = {
            "axial_stiffness": mat.youngs_modulus * area / a * ks,
            "shear_stiffness": KAPPA * mat.shear_modulus * area / a * ks,
            "bending_stiffness": mat.youngs_modulus * a**4 / 12.0 * self.fill / a * ks,
            "torsion_stiffness": mat.shear_modulus * TORSION_J * a**4 * self.fill / a * ks,
            "tensile_strength": mat.tensile_strength * area * kr,
            "shear_strength": tau * area * kr,
            "bending_strength": mat.tensile_strength * a**3 / 6.0 * self.fill * kr,
            "torsion_strength": TORSION_W * tau * a**3 * self.fill * kr,
        }
        out.update(self.overrides)
        return out

    def describe(self) -> dict[str, Any]:
        """Plain dict for reports (SI joint values, mass in kg, pitch in mm)."""
        return {
            "name": self.name,
            "material": self.material.name,
            "pitch_mm": self.pitch_mm,
            "fill": self.fill,
            "joint": self.joint,
            "mass_kg": self.mass_kg,
            **self.law_parameters(),
        }


_BUILTIN: dict[str, dict[str, Any]] = {
    "PLA-10mm-bonded": {"material": "PLA", "pitch_mm": 10.0, "fill": 1.0, "joint": "bonded"},
    "PLA-20mm-bolted": {"material": "PLA", "pitch_mm": 20.0, "fill": 0.25, "joint": "bolted"},
    "PLA-20mm-snap": {"material": "PLA", "pitch_mm": 20.0, "fill": 0.25, "joint": "snap"},
    "Al6061-25mm-bolted": {"material": "Al6061-T6", "pitch_mm": 25.0, "fill": 0.1, "joint": "bolted"},
}


def part_type_names() -> list[str]:
    return sorted(_BUILTIN)


def make_part_type(name: str, spec: dict[str, Any], where: str = "") -> PartType:
    """Build and check a part type from a table (keys: KEYS); errors are one line naming ``where``."""
    at = f"{where}part type {name!r}"
    unknown = sorted(set(spec) - set(KEYS))
    if unknown:
        hint = difflib.get_close_matches(unknown[0], KEYS, n=1)
        raise FabError(f"{at}: unknown key {unknown[0]!r}" + (f" (did you mean {hint[0]!r}?)" if hint else ""))
    if "material" not in spec or "pitch_mm" not in spec:
        raise FabError(f"{at}: needs 'material' and 'pitch_mm'")
    try:
        material = get_material(spec["material"])
    except FabError as exc:
        raise FabError(f"{at}: {exc}") from None

    def number(key: str, default: float | None) -> float | None:
        value = spec.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
            raise FabError(f"{at}: {key!r} must be a positive number, got {value!r}")
        return float(value)

    pitch = number("pitch_mm", None)
    fill = number("fill", 1.0)
    if fill is not None and fill > 1.0:
        raise FabError(f"{at}: 'fill' is the solid fraction of the voxel, 0 < fill <= 1, got {fill}")
    joint = str(spec.get("joint", "bonded")).strip().lower()
    if joint not in JOINT_KINDS:
        raise FabError(f"{at}: 'joint' must be one of {', '.join(JOINT_KINDS)}, got {spec.get('joint')!r}")
    overrides = {k: number(k, None) for k in OVERRIDES if k in spec}
    return PartType(name, material, pitch, fill, joint, number("mass_g", None), overrides)  # type: ignore[arg-type]


def get_part_type(name: str, table: dict[str, PartType] | None = None) -> PartType:
    """A part type by name from ``table`` (a user file's types) or the built-ins."""
    if table and name in table:
        return table[name]
    if name in _BUILTIN:
        return make_part_type(name, _BUILTIN[name])
    known = sorted(set(_BUILTIN) | set(table or {}))
    hint = difflib.get_close_matches(name, known, n=1)
    raise FabError(
        f"unknown voxel part type {name!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")
        + f"; built-in: {', '.join(part_type_names())}, or give --part-types FILE.toml"
    )


def load_part_types(path: str | Path) -> dict[str, PartType]:
    """Read a TOML file of part types (one table per type)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FabError(f"part-type file not found: {path}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise FabError(f"{path}: not a TOML part-type file: {exc}") from None
    out = {}
    for name, spec in data.items():
        if not isinstance(spec, dict):
            raise FabError(f"{path}: {name!r} must be a table [{name}] of part-type keys")
        out[name] = make_part_type(name, spec, f"{path}: ")
    if not out:
        raise FabError(f"{path}: no part types in the file")
    return out


def with_pitch(part: PartType, pitch_mm: float) -> PartType:
    """The same part type at another pitch (for a plan whose lattice sets the voxel size)."""
    return replace(part, pitch_mm=float(pitch_mm))
