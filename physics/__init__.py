"""bits2atoms particle engine: peridynamics on lattices of particles, with breakable bonds.

Standalone (imports nothing from fab/, cad_plugins/ or exporters/). SI units throughout.
"""

from physics.body import Body
from physics.conditions import Displacement, Fixed, Force, Rotation, SphereIndenter, Torque, Velocity
from physics.errors import PhysicsError
from physics.lattice import Lattice, stencil_offsets
from physics.laws import LAWS, make_law
from physics.laws.lps import LPS
from physics.laws.pmb import PMB
from physics.simulation import Result, Simulation

__all__ = [
    "LAWS",
    "LPS",
    "PMB",
    "Body",
    "Displacement",
    "Fixed",
    "Force",
    "Lattice",
    "PhysicsError",
    "Result",
    "Rotation",
    "Simulation",
    "SphereIndenter",
    "Torque",
    "Velocity",
    "make_law",
    "stencil_offsets",
]
