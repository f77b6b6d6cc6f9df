"""An L-bracket with two bolt holes in the base, one in the upright, and a filleted inside corner.

Parameters (mm) are top-level variables, so `fab convert samples/bracket.py -p length=80` overrides them.
Run it with `python samples/bracket.py` (writes bracket.step) or open it in CQ-editor.
"""

import cadquery as cq

length = 60.0  # along x
width = 30.0  # along y
height = 40.0  # upright, along z
thickness = 5.0
hole_diameter = 6.0
fillet_radius = 4.0

profile = [(0, 0), (length, 0), (length, thickness), (thickness, thickness), (thickness, height), (0, height)]
result = cq.Workplane("XZ").polyline(profile).close().extrude(width / 2, both=True)
inside_corner = cq.selectors.NearestToPointSelector((thickness, 0, thickness))
result = result.edges(inside_corner).fillet(fillet_radius)
result = (
    result.faces(">Z[-2]")
    .workplane(centerOption="CenterOfBoundBox")
    .pushPoints([(length * 0.15, -width * 0.25), (length * 0.15, width * 0.25)])
    .hole(hole_diameter)
)
result = (
    result.faces("<X")
    .workplane(centerOption="CenterOfBoundBox")
    .center(0, height * 0.2)
    .hole(hole_diameter)
)

if __name__ == "__main__":
    cq.exporters.export(result, "bracket.step")
elif "show_object" in globals():
    show_object(result, name="bracket")  # noqa: F821 (provided by cqgi and CQ-editor)
