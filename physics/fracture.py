"""The critical stretch calibrated on the lattice: the stretch at which a law's own lattice, separated across a
plane, releases the fracture energy G0 per unit area.

Silling & Askari's s0 = sqrt(5 G0 / (9 K delta)) (3D; Ha & Bobaru's sqrt(4 pi G0 / (9 E delta)) in 2D plane
stress) integrates a bond-based continuum over the bonds crossing a plane. A body here is a lattice: its bonds
are the stencil's offsets, their stiffness is calibrated on the stencil's sums (PMB) or its weights and shape
tensors (LPS), and the state-based energy of a particle also holds a dilatation and deviatoric terms that the
bond-based integral lacks. So G0 is counted on the lattice itself, as the definition of G0 reads: put every bond
crossing a lattice plane at the stretch s and every other bond at zero, sum the energy of every particle within a
horizon of the plane (the law's own energy density of an interior particle, ``interior_energy_density``) per
unit area of the plane. Once those bonds break, both halves are unstrained, so that energy is the work of
separation; it is quadratic in s, and s0 = sqrt(G0 / energy at s = 1).

The plane lies between two lattice planes normal to x (a cubic or square lattice's axes are equivalent); a plane
at another angle crosses the lattice differently (the count is exact only for lattice planes). For PMB with a
fine stencil the count tends to the continuum formula (tests/test_fracture.py).

A crack does not break a plane's bonds all at once: it runs through the lattice bond by bond, each bond at s0
while its neighbours ahead still carry the crack tip's field, and on a coarse stencil that costs more than the
plane count (a discrete crack tip is trapped by the lattice until G exceeds the Griffith value: Thomson, Hsieh &
Rana, J. Appl. Phys. 42 (1971) 3154). ``crack_run_ratio`` measures it where G is known exactly and does not
depend on the crack length, a cracked strip in fixed grip, and ``CRACK_RUN`` holds the measured ratios: on fab's
2D stencil (28 bonds) a crack runs at 1.5-1.75 G0 of the plane count, and notched failure tests drift toward
that value as the pitch shrinks (docs/physics.md). fab divides s0 by the square root of the ratio there.

Units: SI (m, Pa, J/m^2).
"""

from __future__ import annotations

import math

import numpy as np

from physics.lattice import Lattice


def crossing_layers(stencil: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The particles within reach of the plane x = 1/2 (between lattice planes x = 0 and x = 1) by layer:
    (layers (k,) their x in cells, crossing (k, nb) bool: which stencil bonds of a particle of that layer cross
    the plane). One particle a layer stands for the layer (every particle of a layer has the same bonds)."""
    kx = stencil[:, 0].astype(np.int64)
    reach = int(np.abs(kx).max())
    layers = np.arange(1 - reach, reach + 1)
    crossing = np.where(
        layers[:, None] <= 0, layers[:, None] + kx[None, :] >= 1, layers[:, None] + kx[None, :] <= 0
    )
    return layers, crossing


def separation_energy(law, dimension: int, horizon_cells: float, spacing: float, stretch: float = 1.0) -> float:
    """J/m^2: the energy per unit area of a lattice plane held by the law's interior lattice (``horizon_cells``
    spacings, ``spacing`` m) with every bond crossing the plane at ``stretch`` and every other bond unstretched.
    ``law`` is a force law offering ``interior_energy_density`` (not set up: its calibration constants only)."""
    lattice = Lattice.from_occupancy(np.ones((1,) * dimension, bool), spacing, horizon_cells=horizon_cells)
    lengths = np.linalg.norm(lattice.stencil * spacing, axis=1)
    _, crossing = crossing_layers(lattice.stencil)
    extension = np.where(crossing, stretch * lengths[None, :], 0.0)
    density = law.interior_energy_density(lattice, extension)
    # One particle's volume over the plane's area per particle of a layer: dx^3 / dx^2 (2D: dx^2 t / (dx t)).
    return float(density.sum()) * spacing


def critical_stretch(law, fracture_energy: float, dimension: int, horizon_cells: float, spacing: float) -> float:
    """s0 such that the separation energy of the law's lattice is ``fracture_energy`` (J/m^2) per unit area."""
    return math.sqrt(fracture_energy / separation_energy(law, dimension, horizon_cells, spacing))


# The G at which a crack runs through the law's lattice over the G0 of the plane count (``crack_run_ratio`` on its
# default strip; benchmarks/crack_run.py measures and prints each row): (law, dimension, plane, horizon in
# spacings) -> ((Poisson ratio, ratio), ...), linear in the Poisson ratio between rows, the end rows' values
# outside them. fab's critical stretch divides the plane count's s0 by the ratio's square root, so that a crack
# runs through the lattice at G0 (Griffith) instead of at 1.5-1.8 G0. Only fab's 2D default stencil (28 bonds)
# is listed: that is where a crack was measured to need more than the plane count (notched failure tests 1.25-
# 1.55 G0, drifting up as the pitch shrinks toward this strip's value); fab's 3D default stencil (122 bonds) ran
# the same specimens as slabs at 1.02 G0 and stays on the plane count (its strip is not measured: a 3D strip
# costs ~100x). A law or stencil not listed gets 1 (the plane count). At nu 0.22 strips 24, 30, 40 and 60 cells
# tall read 1.60, 1.54, 1.45 and 1.51 (the discrete crack's breaking sequence), steps of 1.0025-1.01 x the grip
# displacement 1.55, 1.54, 1.56: the ratio is known to about 4 %, the failure loads it sets to about 2 %.
CRACK_RUN: dict[tuple[str, int, str, float], tuple[tuple[float, float], ...]] = {
    ("lps", 2, "stress", 3.015): ((0.22, 1.541), (0.30, 1.613), (0.38, 1.749)),
}


def crack_run_factor(law: str, dimension: int, horizon_cells: float, poisson_ratio: float,
                     plane: str = "stress") -> float:  # fmt: skip
    """``CRACK_RUN``'s ratio for a law (its registered name), dimension, 2D plane and stencil at a Poisson
    ratio; 1 where the table has no row."""
    rows = CRACK_RUN.get((law, dimension, plane if dimension == 2 else "", round(float(horizon_cells), 9)))
    if rows is None:
        return 1.0
    nus, ratios = zip(*rows, strict=True)
    return float(np.interp(poisson_ratio, nus, ratios))


def _cut_plane(sim, plane_row: float, tip_column: float) -> None:
    """Break every bond of a 2D body crossing the lattice line y = ``plane_row`` (cells, between two rows) at x <
    ``tip_column`` (cells): a zero-width crack along a lattice plane."""
    lat = sim.body.lattice
    ij = lat.ijk[:, :2].astype(np.float64)
    nbr = lat.neighbours()
    k = lat.stencil[:, :2].astype(np.float64)
    yi = ij[:, 1:2] - plane_row
    crosses = (yi * (yi + k[None, :, 1]) < 0) & (nbr >= 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_cross = ij[:, 0:1] + k[None, :, 0] * (-yi / k[None, :, 1])
    rows, cols = np.nonzero(crosses & (x_cross < tip_column))
    for word in range(sim.bits.shape[0]):
        sel = (cols >> 5) == word
        mask = np.zeros(sim.bits.shape[1], dtype=np.uint32)
        np.bitwise_or.at(mask, rows[sel], np.left_shift(np.uint32(1), (cols[sel] & 31).astype(np.uint32)))
        sim.bits[word] &= ~mask


def crack_run_ratio(law, horizon_cells: float, *, length: int = 150, height: int = 30, crack: int = 40,
                    step: float = 1.005, progress=None) -> float:  # fmt: skip
    """G at which a crack runs through the law's 2D lattice, over the separation energy's G0: the factor by which
    the lattice's crack tip costs more than separating a plane at once.

    The configuration has an energy release rate known exactly and independent of the crack length: a strip
    ``length`` x ``height`` cells in fixed grip (the rows within a horizon of each long edge held, the top ones
    moved by Delta normal to the strip), cut along its mid-plane from the left end to ``crack`` cells. Far from
    its ends each cracked section is unstrained and each intact one uniformly strained, so G = the energy per
    unit length of an intact section (measured: the elastic energy difference of the strip cut 3 cells shorter
    and 3 longer, over 6 cells) and G grows as Delta^2. Delta is raised by ``step`` (or to the next predicted
    bond break when none breaks), bonds over s0 break and the strip re-equilibrates (Newton) until none does;
    the crack runs when one step carries its tip more than four horizons on (fixed grip: a crack that stops
    within a step grows stably, on a rising resistance). Only particles within two horizons of the plane may
    break (the grips' corners at the free ends are stress raisers of their own). ``law``: an LPS not set up
    (its calibration constants only; s0 from ``separation_energy``, any G0: the ratio does not depend on it,
    nor on the spacing). Measured in tests/test_fracture.py and benchmarks/crack_run.py."""
    import dataclasses

    from physics import analysis, newton
    from physics.body import Body
    from physics.conditions import Displacement, Fixed
    from physics.errors import PhysicsError
    from physics.simulation import Simulation

    if not hasattr(law, "set_particle_limits"):
        raise PhysicsError(f"crack_run_ratio needs a law with per-particle limits (LPS), got {type(law).__name__}")
    dx, g0 = 1e-3, 1.0
    s0 = critical_stretch(law, g0, 2, horizon_cells, dx)
    body = Body.from_occupancy(np.ones((length, height), bool), dx, 1000.0, horizon_cells=horizon_cells,
                               thickness=dx)  # fmt: skip
    ij = body.lattice.ijk
    held = int(math.floor(horizon_cells))
    bottom, top = np.flatnonzero(ij[:, 1] < held), np.flatnonzero(ij[:, 1] >= height - held)
    plane = height / 2 - 0.5
    unit = 1e-7  # m: Delta of the pattern's factor 1

    def strip(breakable: bool, tip: float) -> Simulation:
        one = dataclasses.replace(law, fracture_energy=None, critical_stretch=s0 if breakable else None)
        sim = Simulation(body, one, [Fixed(bottom), Displacement(top, (0.0, unit, 0.0))], precision="float64")
        _cut_plane(sim, plane, tip)
        return sim

    def energy(tip: float) -> float:
        sim = strip(False, tip)
        newton.solve(sim, tolerance=1e-8, balance=1e-8)
        return float((sim.law.strain_energy_density(sim) * body.particle_volume).sum())

    g_unit = (energy(crack - 3) - energy(crack + 3)) / (6 * dx * body.thickness)  # J/m^2 at factor 1; G ~ factor^2
    sim = strip(True, crack)
    band = (np.abs(ij[:, 1] - plane) < 2 * horizon_cells) & (ij[:, 0] < length - 2 * horizon_cells)
    sim.law.set_particle_limits(np.where(band, s0, np.inf))
    cut = sim.bits.copy()
    solver = newton.newton_for(sim)
    solver.pattern = pattern = newton.Pattern(sim)

    def tip() -> int:
        lost = np.bitwise_count(cut).sum(axis=0) - np.bitwise_count(sim.bits).sum(axis=0)
        damaged = (lost > 0) & band
        return int(ij[damaged, 0].max()) if damaged.any() else crack - 1

    def next_break(factor: float) -> float:
        return factor * s0 / float(analysis.max_bond_stretch(sim)[band].max()) * (1.0 + 1e-4)

    solver.solve(1e-6, 1e-6)
    factor = next_break(1.0)
    run = 4 * horizon_cells
    while True:
        pattern.scale(factor)
        start = tip()
        solver.solve(1e-5, 1e-5)
        while solver.break_bonds() and tip() - start <= run:
            solver.solve(1e-5, 1e-5)
        if progress is not None:
            progress(g_unit * factor**2 / g0, tip() - crack + 1)
        if tip() - start > run:
            return g_unit * factor**2 / g0
        if tip() > length - 2 * horizon_cells - run:
            raise PhysicsError("crack_run_ratio: the crack grew stably to the strip's end; make the strip longer")
        factor = max(factor * step, next_break(factor))
