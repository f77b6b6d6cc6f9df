"""Force laws, selected by name. Each law lives in its own module with its parameters, calibration and kernel.

A law implements ``setup(body) -> None``, ``compute(state) -> None`` (force density into ``state.force`` from the
displacements, breaking bonds as it goes) and ``stable_time_step(body) -> float``; laws may also provide ``strain_energy_density(sim)`` and ``stress(sim)``
(physics/analysis.py delegates to them). Integrators never look inside.
"""

from __future__ import annotations

from physics.errors import PhysicsError
from physics.laws.lps import LPS
from physics.laws.pmb import PMB
from physics.laws.voxel_joint import VoxelJoint

LAWS = {"pmb": PMB, "lps": LPS, "voxel_joint": VoxelJoint}


def make_law(name: str, **parameters):
    """Instantiate a force law by name (``"pmb"``, ``"lps"``)."""
    try:
        return LAWS[name.lower()](**parameters)
    except KeyError:
        raise PhysicsError(f"unknown force law {name!r}; available: {', '.join(sorted(LAWS))}") from None
