"""CadQuery plugins. Importing this package attaches ``spur_gear``, ``rack`` and ``gear_from_profile``
to ``cq.Workplane`` (see :mod:`cad_plugins.gears`)."""

from cad_plugins.gears import base_pitch, contact_ratio, gear_from_profile, gear_profile, rack, spur_gear

__all__ = ["base_pitch", "contact_ratio", "gear_from_profile", "gear_profile", "rack", "spur_gear"]
