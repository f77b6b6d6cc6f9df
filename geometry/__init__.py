"""Plain 2D geometry (numpy, scipy; no CAD kernel), used by both fab and cad_plugins: involute spur gears
(:mod:`geometry.involute`). Lengths in mm."""

from geometry.errors import GeometryError

__all__ = ["GeometryError"]
