"""CadQuery plugins. Importing this package attaches ``spur_gear``, ``rack`` and ``gear_from_profile``
to ``cq.Workplane`` (see :mod:`cad_plugins.gears`; the 2D gear geometry is :mod:`cad_plugins.involute`)."""

from cad_plugins.gears import base_pitch, contact_ratio, gear_from_profile, gear_profile, rack, spur_gear
from cad_plugins.involute import ToothGeometry, tooth_geometry

__all__ = [
    "ToothGeometry",
    "base_pitch",
    "contact_ratio",
    "gear_from_profile",
    "gear_profile",
    "rack",
    "spur_gear",
    "tooth_geometry",
]
