"""Writes samples/hook.stl: a mesh-only part (a hook built with manifold3d CSG), for the mesh import path."""

from pathlib import Path

import numpy as np
import trimesh
from manifold3d import CrossSection, Manifold

# A J-shaped hook: a shank, a half-ring and a tip, swept from 2D cross-sections, plus a mounting eye.
shank = Manifold.cube([6.0, 6.0, 50.0]).translate([-3.0, -3.0, 0.0])
ring = CrossSection.circle(3.0, 48).translate([12.0, 0.0]).revolve(64, 180.0).rotate([90.0, 0.0, 0.0])
ring = ring.translate([-9.0, 0.0, 0.0]).rotate([0.0, 180.0, 0.0]).translate([0.0, 0.0, 0.0])
tip = Manifold.cylinder(12.0, 3.0, 3.0, 48).translate([24.0, 0.0, 0.0])
eye = Manifold.cylinder(6.0, 8.0, 8.0, 64).rotate([90.0, 0.0, 0.0]).translate([0.0, 3.0, 58.0])
eye_hole = Manifold.cylinder(8.0, 4.0, 4.0, 48).rotate([90.0, 0.0, 0.0]).translate([0.0, 4.0, 58.0])
hook = (shank + ring + tip + eye) - eye_hole

if __name__ == "__main__":
    mesh = hook.to_mesh()
    part = trimesh.Trimesh(np.asarray(mesh.vert_properties)[:, :3], np.asarray(mesh.tri_verts))
    part.export(Path(__file__).with_name("hook.stl"))
