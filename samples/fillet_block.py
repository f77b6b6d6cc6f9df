"""A fillet-heavy block: rounded edges, a grid of holes with rounded rims, side holes and a slot.

About 30k triangles when tessellated at 0.01-0.02 mm (angular tolerance 0.2 rad, the ``load_part``
defaults), which makes it the "CAD part of about 30k triangles" for the voxelizer benchmark.
Parameters (mm) are top-level variables for cqgi / CQ-editor; ``python samples/fillet_block.py [out.step]``
prints its size and volume and, given a path, writes a STEP file. Centred on the origin.
"""

import cadquery as cq

size = 40.0  # along x and y
height = 20.0  # along z
holes_per_side = 3  # grid of through holes from the top
hole_diameter = 6.0
fillet_radius = 3.0  # outer edges
rim_radius = 1.0  # rims of the top holes (the side holes get half)

if holes_per_side < 1:
    raise ValueError("holes_per_side must be at least 1")
pitch = size / (holes_per_side + 1)
if hole_diameter + 2 * rim_radius >= pitch:
    raise ValueError(f"holes of {hole_diameter} mm with {rim_radius} mm rims do not fit a {pitch:g} mm grid")

result = cq.Workplane("XY").box(size, size, height).edges().fillet(fillet_radius)
result = (
    result.faces(">Z").workplane().rarray(pitch, pitch, holes_per_side, holes_per_side).hole(hole_diameter)
)
result = result.faces(">Z").edges("%CIRCLE").fillet(rim_radius)
result = (
    result.faces(">X")
    .workplane(centerOption="CenterOfBoundBox")
    .rarray(size / 2, 1, 2, 1)
    .hole(hole_diameter * 0.6, size * 0.4)
)
result = result.faces(">X").edges("%CIRCLE").fillet(rim_radius / 2)
result = (
    result.faces("<Y")
    .workplane(centerOption="CenterOfBoundBox")
    .slot2D(size * 0.5, height * 0.4)
    .cutBlind(-size * 0.2)
)

if __name__ == "__main__":
    import sys

    solid = result.val()
    box = solid.BoundingBox()
    print(
        f"fillet_block: {box.xlen:.2f} x {box.ylen:.2f} x {box.zlen:.2f} mm, volume {solid.Volume():.2f} mm^3"
    )
    if len(sys.argv) > 1:
        from exporters.atomic import atomic_path

        with atomic_path(sys.argv[1]) as tmp:  # never leave a half-written file
            cq.exporters.export(result, str(tmp))
elif "show_object" in globals():
    show_object(result, name="fillet_block")  # noqa: F821 (provided by cqgi and CQ-editor)
