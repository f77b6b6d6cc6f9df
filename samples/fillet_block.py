"""A fillet-heavy block with a grid of holes and pockets, about 30k triangles at the default tessellation.

Used by benchmarks/bench_voxelize.py as the "CAD part of about 30k triangles".
"""

import cadquery as cq

size = 40.0
holes_per_side = 3
hole_diameter = 6.0
fillet_radius = 3.0

pitch = size / (holes_per_side + 1)
result = cq.Workplane("XY").box(size, size, size).edges().fillet(fillet_radius)
result = result.faces(">Z").workplane().rarray(pitch, pitch, holes_per_side, holes_per_side).hole(hole_diameter)
result = result.faces(">X").workplane().rarray(pitch, pitch, 2, 2).hole(hole_diameter * 0.8, size * 0.4)
result = result.faces("<Y").workplane().rect(size * 0.5, size * 0.5).cutBlind(-size * 0.2)

if __name__ == "__main__":
    cq.exporters.export(result, "fillet_block.step")
elif "show_object" in globals():
    show_object(result, name="fillet_block")  # noqa: F821 (provided by cqgi and CQ-editor)
