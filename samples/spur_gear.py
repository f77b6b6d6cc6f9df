"""A spur gear from the gear plugin: 20 teeth, module 2, 10 mm wide, with an 8 mm bore.

Parameters (mm, degrees, modules for the profile shift) are top-level variables, so cqgi
(``fab convert samples/spur_gear.py -p teeth=30``) and CQ-editor can override them.
``python samples/spur_gear.py [out.step]`` prints its size and volume and, given a path, writes a STEP file.
The gear's axis is z, its faces at z = 0 and z = width; tooth 0 is centred on +x.
"""

import cadquery as cq

from cad_plugins.gears import spur_gear

module = 2.0
teeth = 20
width = 10.0
pressure_angle = 20.0
profile_shift = 0.0
backlash = 0.0
bore = 8.0

result = spur_gear(
    module,
    teeth,
    width,
    pressure_angle=pressure_angle,
    profile_shift=profile_shift,
    backlash=backlash,
    bore=bore,
)

if __name__ == "__main__":
    import sys

    solid = result.val()
    box = solid.BoundingBox()
    print(f"spur_gear: {box.xlen:.2f} x {box.ylen:.2f} x {box.zlen:.2f} mm, volume {solid.Volume():.2f} mm^3")
    if len(sys.argv) > 1:
        from exporters.atomic import atomic_path

        with atomic_path(sys.argv[1]) as tmp:  # never leave a half-written file
            cq.exporters.export(result, str(tmp))
elif "show_object" in globals():
    show_object(result, name="spur_gear")  # noqa: F821 (provided by cqgi and CQ-editor)
