"""Force laws, selected by name like LAMMPS pair styles: one law is one module, registered with ``register_law``.

    from physics.laws import ForceLaw, register_law

    @register_law
    @dataclass
    class Spring(ForceLaw):
        name: ClassVar[str] = "spring"
        ...

A module in this package (importing ForceLaw and register_law from physics.laws.base) is found on import
(nothing else to edit); a law in another package is found through
the ``bits2atoms.laws`` entry-point group (``spring = "mypkg.spring"``), the ``BITS2ATOMS_LAWS`` environment
variable (module names, comma separated, like LAMMPS's ``plugin load``), or by importing its module before use.
``make_law("spring", ...)``, ``fab simulate --model spring`` and a job's ``[physics] model = "spring"`` then reach it.

The contract: everything the engine asks of a law. Nothing outside a law reads its private arrays. The core four
(``setup``, ``initial_bonds``, ``compute``, ``stable_time_step``) are required (``register_law`` checks); the
rest are capabilities: ForceLaw's defaults raise a PhysicsError that names the law and what it lacks (or, for
``elastic_copy``, opt out of multigrid), so a law offers what makes sense for it.

Calibration (class level, used by fab to build a law for a material; SI units: Pa, J/m^2):
- ``name``: the registry name (lower case); ``dimensions``: those it supports, (2, 3) or (3,).
- ``fixed_poisson_ratio(dimension, plane) -> float | None``: the Poisson ratio the law imposes (bond-based laws
  fix it: 1/4 in 3D), None when it takes the material's own.
- ``from_material(youngs_modulus=, poisson_ratio=, fracture_energy=, critical_stretch=, plane=)``: the law for a
  material. ``critical_stretch`` (when given) overrides the breaking stretch the law would derive from the
  fracture energy G0 and the horizon; ``plane`` is "stress" or "strain" for 2D bodies. A law that is not a
  continuum material (voxel joints: stiffness from part types) leaves it out; ``law_names(material=True)``
  lists the laws that have it (fab's ``--model`` choices).

Per body (``setup(body)`` first; ``body`` is a physics.body.Body: lattice, particle volume, density):
- ``setup(body)``: calibrate on the body's lattice (surface corrections, per-particle tables of its own).
- ``initial_bonds(body) -> (W, n) uint32``: one bit per stencil neighbour that is bonded (ForceLaw bonds every
  existing neighbour). Bonds only ever break; physics.analysis reads damage, fragments and stretches from them.
- ``compute(state)``: the force density (N/m^3) at the state's displacements into ``state.force`` (n, 3),
  overwriting it; a bond that breaks clears its bit in ``state.bits`` and adds 1 to ``state.newly_broken[i]`` of
  its particle. The state (a physics.Simulation, or the multigrid's probe) offers ``u`` (n, 3) float64
  displacements (m), the same on the padded lattice grid as ``ux``, ``uy``, ``uz`` in the law's ``dtype``,
  ``bits``, ``min_stretch`` (n,) scratch of that type, ``force`` and ``newly_broken``. A state whose
  ``breaking`` is False (Newton's tangent products and the multigrid's probes: linear operators that break
  nothing) lets the law skip its limit test; the forces must be the same either way.
- ``stable_time_step(body) -> float``: the largest stable explicit step (s).
- ``relaxation_stiffness(body) -> (n,)``: a diagonal stiffness bound per particle (N/m^3 per m): the fictitious
  masses of dynamic relaxation and the Jacobi scaling of the multigrid smoother.
- ``strain_energy_density(sim) -> (n,)`` J/m^3 and ``stress(sim) -> (n, 3, 3)`` Pa at the simulation's state
  (float64; physics.analysis delegates to them; physics.bonds has the bond kinematics they share).
- ``contact_stiffness() -> float``: the short-range repulsion k (N/m^7) that physics.contact.Contact uses by
  default: 15 c / delta, c the law's micromodulus or its bond-based equivalent.
- ``interior_energy_density(lattice, extension) -> (k,)`` J/m^3: the energy density of a particle with its full
  family on ``lattice`` (a physics.lattice.Lattice; the law need not be set up) at bond extensions ``extension``
  (k, nb) m; physics.fracture counts the energy of separating the lattice across a plane with it, the critical
  stretch calibrated on the lattice that fab uses (a law without it gets the bond-based continuum value).

Static solves (physics.relaxation.relax):
- ``relax(sim, max_steps, tolerance, callback=None) -> dict`` (optional): a static solver of the law's own,
  used instead of ADR and multigrid (voxel joints: a direct sparse solve); returns relax's dict.
- ``elastic_copy() -> law | None``: a fresh, unbreakable copy with the same parameters to set up on a coarser
  lattice of the same body (same horizon in spacings), for the multigrid; None (the default): plain ADR.
- ``interaction_range``: how many horizons apart two particles interact in the stiffness (1 bond-based, 2 state
  based: the dilatation couples neighbours of neighbours).
- ``linear_near_reference``: True when the forces are linear in tiny displacements about the reference state
  (the multigrid's finest level then probes the law itself); False for laws with a short-range contact of their
  own.

Precision:
- ``precisions`` (class level): the float types the law's kernels compute in, ("float32",) by default;
  ``use_precision(name)`` (before ``setup``) picks one and sets ``dtype``, the type of the grids and bond
  forces every state allocates for the law (``physics.laws.base.grid_dtype(law)``). PMB and LPS also compute in
  "float64" (``Simulation(..., precision="float64")``): numba compiles the float64 kernels on their first use
  only, so the default float32 path compiles nothing more.

Per-particle state beyond displacements:
- Tables that follow from the reference state and the bonds (LPS's shape tensors, PMB's surface factors) live
  on the law, made in ``setup`` and refreshed in ``compute`` when bonds break.
- Rotational degrees of freedom: a law with ``rotational = True`` gets ``q`` (n, 4) unit quaternions, ``w``
  (n, 3) angular velocities and ``torque`` (n, 3) torque densities on the Simulation beside ``u``, ``v`` and
  ``force``; ``compute`` writes ``state.torque`` too, ``inertia`` (kg m^2 per particle) sets the rotational
  dynamics, and supports hold rotations as well (physics/simulation.py, physics/laws/voxel_joint.py).
"""

from __future__ import annotations

import importlib
import pkgutil

from physics.laws.base import (
    ENTRY_POINTS,
    LAWS,
    REQUIRED,
    ForceLaw,
    law_class,
    law_names,
    make_law,
    register_law,
    unregister_law,
)

# Every module of this package, so a law file registers itself with nothing else to edit.
for _info in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_info.name}")

from physics.laws.lps import LPS  # noqa: E402
from physics.laws.pmb import PMB  # noqa: E402
from physics.laws.voxel_joint import VoxelJoint  # noqa: E402

__all__ = [
    "ENTRY_POINTS",
    "REQUIRED",
    "LAWS",
    "LPS",
    "PMB",
    "VoxelJoint",
    "ForceLaw",
    "law_class",
    "law_names",
    "make_law",
    "register_law",
    "unregister_law",
]
