"""An L-bracket: a base plate and an upright, a filleted inside corner, rounded free corners, four bolt holes.

Parameters (mm) are the top-level variables below, so cqgi (``fab convert samples/bracket.py -p length=80``)
and CQ-editor can override them. ``python samples/bracket.py [out.step]`` prints the part's size and volume
and, given a path, writes a STEP file.

Layout: the base lies on z = 0 and runs along +x; the upright stands at x = 0..thickness; y is centred.
"""

import cadquery as cq

length = 60.0  # base, along x (including the upright's thickness)
width = 30.0  # along y
height = 40.0  # upright, along z (including the base's thickness)
thickness = 5.0
hole_diameter = 6.0
fillet_radius = 4.0  # inside corner between base and upright
corner_radius = 5.0  # free corners of the base and the upright

if min(length, width, height, thickness, hole_diameter, fillet_radius, corner_radius) <= 0:
    raise ValueError("every bracket dimension must be positive")
if hole_diameter >= width / 2:
    raise ValueError(
        f"hole_diameter {hole_diameter} must be less than width/2 = {width / 2} (holes at y = +-width/4)"
    )
if hole_diameter >= min(length, height) - thickness - fillet_radius:
    raise ValueError("hole_diameter does not fit between the inside fillet and the free end")
if corner_radius >= width / 2:
    raise ValueError(f"corner_radius {corner_radius} must be less than width/2 = {width / 2}")

base = cq.Workplane("XY").box(length, width, thickness, centered=(False, True, False))
upright = cq.Workplane("XY").box(thickness, width, height, centered=(False, True, False))
bracket = base.union(upright)
bracket = (
    bracket.edges("|Y")
    .edges(cq.selectors.NearestToPointSelector((thickness, 0, thickness)))
    .fillet(fillet_radius)
)
bracket = bracket.edges("|Z").edges(">X").fillet(corner_radius)
bracket = bracket.edges("|X").edges(">Z").fillet(corner_radius)

# Bolt holes centred between the inside fillet and the free end, at a quarter width from the centre.
base_x = (thickness + fillet_radius + length) / 2
upright_z = (thickness + fillet_radius + height) / 2
quarter = width / 4
base_holes = (
    cq.Workplane("XY")
    .pushPoints([(base_x, -quarter), (base_x, quarter)])
    .circle(hole_diameter / 2)
    .extrude(thickness)
)
upright_holes = (  # the YZ workplane's local (x, y) is global (y, z); it extrudes along +x
    cq.Workplane("YZ")
    .pushPoints([(-quarter, upright_z), (quarter, upright_z)])
    .circle(hole_diameter / 2)
    .extrude(thickness)
)
result = bracket.cut(base_holes).cut(upright_holes)

if __name__ == "__main__":
    import sys

    solid = result.val()
    box = solid.BoundingBox()
    print(f"bracket: {box.xlen:.2f} x {box.ylen:.2f} x {box.zlen:.2f} mm, volume {solid.Volume():.2f} mm^3")
    if len(sys.argv) > 1:
        from exporters.atomic import atomic_path

        with atomic_path(sys.argv[1]) as tmp:  # never leave a half-written file
            cq.exporters.export(result, str(tmp))
elif "show_object" in globals():
    show_object(result, name="bracket")  # noqa: F821 (provided by cqgi and CQ-editor)
