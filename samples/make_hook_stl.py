"""Writes samples/hook.stl: a mesh-only part (a J-hook built by manifold3d CSG) for the mesh import path.

Run ``python samples/make_hook_stl.py`` to regenerate it (binary STL, mm; deterministic output).
The shank is a 6 mm square bar along z from 0 to 50 mm with an eye (a ring of outer radius 8 mm) on top;
the bend is a half torus of 12 mm centre radius and 3 mm tube radius below it, ending in a 12 mm tip.
"""

from pathlib import Path

import numpy as np
import trimesh
from manifold3d import CrossSection, Manifold

from exporters.atomic import atomic_path

TARGET = Path(__file__).with_name("hook.stl")
SEGMENTS = 24  # around the 3 mm tube and the tip; the bend and the eye use more


def hook() -> trimesh.Trimesh:
    shank = Manifold.cube([6.0, 6.0, 50.0]).translate([-3.0, -3.0, 0.0])
    # Half torus in the xz plane: revolve a tube section about the z axis, turn it into the xz plane,
    # flip it so it hangs below z = 0 and centre it on x = 12 so its ends land on the shank and the tip.
    bend = CrossSection.circle(3.0, SEGMENTS).translate([12.0, 0.0]).revolve(2 * SEGMENTS, 180.0)
    bend = bend.rotate([90.0, 0.0, 0.0]).translate([-9.0, 0.0, 0.0]).rotate([0.0, 180.0, 0.0])
    tip = Manifold.cylinder(12.0, 3.0, 3.0, SEGMENTS).translate([24.0, 0.0, 0.0])
    eye = Manifold.cylinder(6.0, 8.0, 8.0, 2 * SEGMENTS).rotate([90.0, 0.0, 0.0]).translate([0.0, 3.0, 58.0])
    eye_hole = Manifold.cylinder(8.0, 4.0, 4.0, SEGMENTS).rotate([90.0, 0.0, 0.0]).translate([0.0, 4.0, 58.0])
    solid = (shank + bend + tip + eye) - eye_hole
    mesh = solid.to_mesh()
    return trimesh.Trimesh(np.asarray(mesh.vert_properties)[:, :3], np.asarray(mesh.tri_verts))


if __name__ == "__main__":
    part = hook()
    with atomic_path(TARGET) as tmp:
        part.export(tmp, file_type="stl")
    print(f"wrote {TARGET}: {len(part.faces)} triangles, volume {part.volume:.1f} mm^3")
