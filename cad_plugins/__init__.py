"""CadQuery plugins. Importing this package attaches methods to ``cq.Workplane``:

- the gear library, :mod:`cad_plugins.gears` (2D geometry in :mod:`cad_plugins.involute`): ``spur_gear``,
  ``rack``, ``gear_from_profile``;
- the pipeline, :mod:`cad_plugins.workplane`: ``voxelize``, ``stress_test``, ``export_stl``,
  ``export_gcode``, ``export_cnc``, ``export_assembly``, ``morph``.
"""

from cad_plugins.gears import base_pitch, contact_ratio, gear_from_profile, gear_profile, rack, spur_gear
from cad_plugins.involute import ToothGeometry, tooth_geometry
from cad_plugins.workplane import part_shape, stress_loads

__all__ = [
    "ToothGeometry",
    "base_pitch",
    "contact_ratio",
    "gear_from_profile",
    "gear_profile",
    "part_shape",
    "rack",
    "spur_gear",
    "stress_loads",
    "tooth_geometry",
]
