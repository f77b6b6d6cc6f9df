"""Writes samples/plate_with_hole.step: a 100 x 40 x 6 mm plate with a central 20 mm hole (the Heywood case).

Run ``python samples/make_plate_step.py`` to regenerate it. Centred on the origin, thickness along z.
Net-section stress concentration for d/W = 0.5: Kt = 2 + (1 - 0.5)^3 = 2.125 (see REFERENCE.md).
"""

from pathlib import Path

import cadquery as cq

from exporters.atomic import atomic_path

TARGET = Path(__file__).with_name("plate_with_hole.step")
length, width, thickness, hole_diameter = 100.0, 40.0, 6.0, 20.0

plate = cq.Workplane("XY").box(length, width, thickness).faces(">Z").workplane().hole(hole_diameter)

if __name__ == "__main__":
    with atomic_path(TARGET) as tmp:
        cq.exporters.export(plate, str(tmp), exportType="STEP")
    print(f"wrote {TARGET}: volume {plate.val().Volume():.3f} mm^3")
