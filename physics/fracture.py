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
