"""A 20-tooth, module 2 spur gear, 10 mm wide, with an 8 mm bore.

Parameters (mm, degrees) are top-level variables for `fab convert samples/spur_gear.py -p teeth=30`.
"""

import cadquery as cq

from cad_plugins.gears import spur_gear

module = 2.0
teeth = 20
width = 10.0
pressure_angle = 20.0
bore = 8.0

result = spur_gear(module, teeth, width, pressure_angle=pressure_angle, bore=bore)

if __name__ == "__main__":
    cq.exporters.export(result, "spur_gear.step")
elif "show_object" in globals():
    show_object(result, name="spur_gear")  # noqa: F821 (provided by cqgi and CQ-editor)
