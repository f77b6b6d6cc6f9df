"""2D geometry of involute spur gears, as the gear plugin's public API: :mod:`geometry.involute` (plain numpy,
below fab and cad_plugins) with its GeometryError raised as fab's one-line FabError, as everywhere in the plugin.
Units: mm, degrees."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from fab.errors import FabError
from geometry import involute as _involute
from geometry.errors import GeometryError
from geometry.involute import DEFAULT_ROOT_FILLET, MIN_TEETH, ToothGeometry, inv


def _fab_errors(function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except GeometryError as exc:
            raise FabError(str(exc)) from exc

    return wrapper


base_pitch = _fab_errors(_involute.base_pitch)
check_module = _fab_errors(_involute.check_module)
check_pressure_angle = _fab_errors(_involute.check_pressure_angle)
check_teeth = _fab_errors(_involute.check_teeth)
contact_ratio = _fab_errors(_involute.contact_ratio)
fillet_points = _fab_errors(_involute.fillet_points)
fillet_samples = _fab_errors(_involute.fillet_samples)
gear_profile = _fab_errors(_involute.gear_profile)
involute_points = _fab_errors(_involute.involute_points)
involute_roll = _fab_errors(_involute.involute_roll)
involute_tangents = _fab_errors(_involute.involute_tangents)
outline_points = _fab_errors(_involute.outline_points)
root_angle = _fab_errors(_involute.root_angle)
tooth_geometry = _fab_errors(_involute.tooth_geometry)

__all__ = [
    "DEFAULT_ROOT_FILLET",
    "MIN_TEETH",
    "ToothGeometry",
    "base_pitch",
    "check_module",
    "check_pressure_angle",
    "check_teeth",
    "contact_ratio",
    "fillet_points",
    "fillet_samples",
    "gear_profile",
    "inv",
    "involute_points",
    "involute_roll",
    "involute_tangents",
    "outline_points",
    "root_angle",
    "tooth_geometry",
]
