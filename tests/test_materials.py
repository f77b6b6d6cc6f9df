"""Materials library: built-ins, aliases, derived moduli, user-defined tables, and every error path."""

from __future__ import annotations

import math

import pytest

from fab.errors import FabError
from fab.materials import Material, MaterialError, fracture_energy_from_k_ic, get_material, material_names

CUSTOM = {
    "youngs_modulus": 3.5e9,
    "poisson_ratio": 0.3,
    "density": 1200.0,
    "fracture_energy": 5000.0,
    "tensile_strength": 50e6,
}


def test_library_has_the_required_materials_with_sources() -> None:
    names = {n.lower() for n in material_names()}
    assert {"pla", "petg", "abs", "pa12", "al6061-t6", "steel1045", "ti-6al-4v", "glass"} <= names
    for n in material_names():
        m = get_material(n)
        assert m.source and -1 < m.poisson_ratio < 0.5
        assert (
            m.youngs_modulus > 1e8 and m.density > 500 and m.fracture_energy > 0 and m.tensile_strength > 1e6
        )


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("pla", "PLA"),
        ("PA12", "PA12"),
        ("nylon12", "PA12"),
        ("Nylon 12", "PA12"),
        ("Al6061", "Al6061-T6"),
        ("ti64", "Ti-6Al-4V"),
        ("STEEL_1045", "Steel1045"),
        ("soda-lime", "Glass"),
    ],
)
def test_aliases_are_case_insensitive(alias: str, name: str) -> None:
    assert get_material(alias).name == name


def test_derived_properties_match_formulas() -> None:
    al = get_material("Al6061-T6")
    e, nu = al.youngs_modulus, al.poisson_ratio
    assert al.bulk_modulus == pytest.approx(e / (3 * (1 - 2 * nu)))
    assert al.shear_modulus == pytest.approx(e / (2 * (1 + nu)))
    assert al.wave_speed == pytest.approx(math.sqrt(e / 2700.0))
    assert 5000 < al.wave_speed < 5200  # handbook bar speed of aluminium
    assert al.k_ic == pytest.approx(29e6)  # round trip through plane-strain G = K^2 (1 - nu^2) / E
    assert fracture_energy_from_k_ic(1e6, 1e9, 0.0) == pytest.approx(1000.0)
    glass = get_material("glass")
    assert 5 < glass.fracture_energy < 10  # soda-lime glass is ~8 J/m^2


def test_user_defined_and_overrides() -> None:
    m = get_material({"name": "mine", **CUSTOM})
    assert isinstance(m, Material) and m.name == "mine" and m.fracture_energy == 5000.0
    k = get_material({**{k: v for k, v in CUSTOM.items() if k != "fracture_energy"}, "k_ic": 2e6})
    assert k.name == "custom" and k.k_ic == pytest.approx(2e6)
    over = get_material({"name": "PLA", "tensile_strength": 40e6})
    assert over.tensile_strength == 40e6 and over.youngs_modulus == get_material("PLA").youngs_modulus
    assert "overridden" in over.source
    stiffer = get_material({"name": "PLA", "youngs_modulus": 4e9})
    assert stiffer.k_ic == pytest.approx(get_material("PLA").k_ic)  # toughness kept, G rescaled
    assert get_material(m) is m


@pytest.mark.parametrize(
    ("spec", "key", "words"),
    [
        ("unobtainium", "name", "unknown material"),
        ("PLAA", "name", "did you mean 'PLA'"),
        ({**CUSTOM, "youngs_modulus": 3.5}, "youngs_modulus", "3.5e9 Pa"),
        ({**CUSTOM, "youngs_modulus": 3500.0}, "youngs_modulus", "3.5e9 Pa"),
        ({**CUSTOM, "density": 1.24}, "density", "1240 kg/m^3"),
        ({**CUSTOM, "tensile_strength": 50}, "tensile_strength", "5e7 Pa"),
        (
            {**{k: v for k, v in CUSTOM.items() if k != "fracture_energy"}, "k_ic": 3.0},
            "k_ic",
            "3e6 Pa*sqrt(m)",
        ),
        ({**CUSTOM, "youngs_modulus": 1e14}, "youngs_modulus", "implausibly large"),
        ({**CUSTOM, "poisson_ratio": 0.5}, "poisson_ratio", "(-1, 0.5)"),
        ({**CUSTOM, "poisson_ratio": -1.2}, "poisson_ratio", "(-1, 0.5)"),
        ({**CUSTOM, "density": -5.0}, "density", "positive"),
        ({**CUSTOM, "fracture_energy": float("nan")}, "fracture_energy", "finite"),
        ({**CUSTOM, "fracture_energy": float("inf")}, "fracture_energy", "finite"),
        ({**CUSTOM, "density": "heavy"}, "density", "must be a number"),
        ({**CUSTOM, "densty": 1.0}, "densty", "did you mean 'density'"),
        ({"youngs_modulus": 3e9}, "poisson_ratio", "missing"),
        ({**CUSTOM, "k_ic": 1e6}, "k_ic", "not both"),
        ({**CUSTOM, "yield_strength": 1e9}, "yield_strength", "3x tensile_strength"),
    ],
)
def test_errors_name_the_key(spec, key: str, words: str) -> None:
    with pytest.raises(MaterialError) as err:
        get_material(spec)
    assert err.value.key == key and words in str(err.value) and "\n" not in str(err.value)
    assert isinstance(err.value, FabError)
