"""bits2atoms particle engine: peridynamics on lattices of particles, with breakable bonds.

Standalone (imports nothing from fab/, cad_plugins/ or exporters/). SI units throughout.
"""

import os

# numba's OpenMP threading layer (GNU libgomp) spins its threads at every parallel region's barrier. On a machine
# with more runnable processes than cores, spinning threads eat the time slices the other thread needs: the
# 3,487-particle in.peri.pmb run took 8.7-11.8 s for 1,000 steps with spinning threads and 1.06 s with sleeping
# ones (load 4.4 on 2 cores); large blocks gain too (3.8 -> 4.9 M particle-steps/s). Read when libgomp loads,
# at the first parallel kernel, so set before any kernel runs; a value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# numba takes TBB as its threading layer whenever libtbb is installed (Debian's prusa-slicer and lammps pull it
# in): the figures above were measured with OpenMP, and under load TBB's shutdown (tbb::finalize at exit) spins
# in sched_yield for minutes, so a finished `fab` or pytest process did not exit. OpenMP unless the user chose.
os.environ.setdefault("NUMBA_THREADING_LAYER", "omp")


def _threading_layer() -> None:
    """Apply NUMBA_THREADING_LAYER even when numba was imported first (numba reads its environment once, at
    import; the layer itself is chosen at the first parallel kernel). fab's voxelizer calls this too."""
    import numba

    numba.config.THREADING_LAYER = os.environ["NUMBA_THREADING_LAYER"]


_threading_layer()

from physics.body import Body  # noqa: E402
from physics.cells import CellList, pairs_within  # noqa: E402
from physics.conditions import (  # noqa: E402
    Displacement,
    Fixed,
    Force,
    Gravity,
    PlaneIndenter,
    Rotation,
    SphereIndenter,
    Torque,
    Velocity,
)
from physics.contact import Contact  # noqa: E402
from physics.errors import PhysicsError  # noqa: E402
from physics.lattice import Lattice, stencil_offsets  # noqa: E402
from physics.laws import LAWS, ForceLaw, law_class, law_names, make_law, register_law  # noqa: E402
from physics.laws.lps import LPS  # noqa: E402
from physics.laws.pmb import PMB  # noqa: E402
from physics.laws.voxel_joint import VoxelJoint  # noqa: E402
from physics.simulation import Result, Simulation  # noqa: E402

__all__ = [
    "LAWS",
    "LPS",
    "PMB",
    "Body",
    "CellList",
    "Contact",
    "Displacement",
    "Fixed",
    "Force",
    "ForceLaw",
    "Gravity",
    "Lattice",
    "PhysicsError",
    "PlaneIndenter",
    "Result",
    "Rotation",
    "Simulation",
    "SphereIndenter",
    "Torque",
    "Velocity",
    "VoxelJoint",
    "law_class",
    "law_names",
    "make_law",
    "pairs_within",
    "register_law",
    "stencil_offsets",
]
