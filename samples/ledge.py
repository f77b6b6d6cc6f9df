"""A wall with a ledge cantilevering from its top: voxelized at 20 mm it is a 1 x 4 x 5 wall and a 10 x 4 slab
(the assembly sample of docs/assembly-format.md: the order of the slab's voxels decides how hard the robot's push
loads the joints)."""

import cadquery as cq

pitch = 20.0
wall = cq.Workplane("XY").box(pitch, 4 * pitch, 5 * pitch, centered=False)
ledge = cq.Workplane("XY").box(10 * pitch, 4 * pitch, pitch, centered=False).translate((pitch, 0, 4 * pitch))
result = wall.union(ledge)
