"""Writes samples/plate_with_hole.step: a 100 x 40 x 6 mm plate with a central 20 mm hole (the Heywood case)."""

from pathlib import Path

import cadquery as cq

plate = cq.Workplane("XY").box(100.0, 40.0, 6.0).faces(">Z").workplane().hole(20.0)

if __name__ == "__main__":
    cq.exporters.export(plate, str(Path(__file__).with_name("plate_with_hole.step")))
