"""Bond-based peridynamics, prototype microelastic brittle (PMB) material (Silling & Askari 2005).

Calibration (default): the micromodulus is calibrated on the lattice itself, c = 18 K / sum_j(|xi_j| V_j) over the
interior stencil, so a uniformly strained interior has exactly the continuum energy density (the continuum
c = 18K/(pi delta^4) misses by up to 10 % on a cubic lattice). In 2D, c = 6E / sum_j(|xi_j| V_j) for plane
stress (nu = 1/3) and 6.4E / sum_j(|xi_j| V_j) for plane strain (nu = 1/4). Critical stretch
s0 = sqrt(5 G0 / (9 K delta)) in 3D, sqrt(4 pi G0 / (9 E delta)) in 2D plane stress, sqrt(5 pi G0 / (12 E delta)) in
plane strain (fab passes ``critical_stretch`` calibrated on the body's own lattice instead: physics/fracture.py).
A surface correction (energy method: per particle and axis, the ratio of the bulk energy density to the particle's
under uniform strain along that axis) stiffens particles that miss part of their horizon; a bond averages its two ends' factors per axis and combines them by its direction,
G = (sum_a n_a^2 / G_a^2)^(-1/2) (Madenci & Oterkus), so axial bonds of a thin bar are not over-stiffened.
An optional ``stiffness_scale`` w (one weight per particle, e.g. from a graded or remodelled density) makes each
bond w_i w_j times as stiff (symmetric; the strain energy density and stress follow); None (default) changes
nothing and costs nothing.

The ``lammps`` variant reproduces LAMMPS's pair style peri/pmb exactly for comparisons: given micromodulus and
s00, alpha (s0_i = s00 - alpha * min stretch of i's bonds at the previous step; a bond breaks when its stretch
exceeds min(s0_i, s0_j)), the linear volume scaling of bonds within half a spacing of the horizon, short-range
contact between all stencil pairs, and no surface correction.

Units: SI (Pa, kg/m^3, J/m^2, m).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from physics.bonds import bond_geometry
from physics.errors import PhysicsError
from physics.laws import pmb_kernels as kern
from physics.laws.base import (
    GROUP_PARTICLES,
    ForceLaw,
    between_groups,
    chunk_groups,
    frame_inputs,
    register_law,
)


@register_law
@dataclass
class PMB(ForceLaw):
    youngs_modulus: float | None = None
    fracture_energy: float | None = None  # None: bonds never break
    micromodulus: float | None = None  # explicit c (N/m^6 in 3D); overrides the calibration
    critical_stretch: float | None = None  # explicit s0; overrides the fracture energy
    plane: str = "stress"  # 2D only: "stress" (nu = 1/3) or "strain" (nu = 1/4)
    surface_correction: bool = True
    variant: str = "calibrated"  # or "lammps"
    alpha: float = 0.0  # lammps variant: s0 = s00 - alpha * min stretch
    contact: bool = False  # short-range repulsion between stencil pairs (on by default in the lammps variant)
    stiffness_scale: np.ndarray | None = None  # (n,) weights w > 0: a bond x w_i w_j (surface correction on)
    name: ClassVar[str] = "pmb"
    # The surface-corrected forces over each bond once (pmb_kernels.PairPlan); False: each particle's whole stencil
    # (every bond twice), the kernels' reference in tests. The uncorrected / LAMMPS kernel has no pair version:
    # tests/test_physics_engine.py cuts bonds at one end only there, which a pair kernel (reading the bond bit of
    # the lower cell's particle) would apply to both.
    pairs: ClassVar[bool] = True
    precisions: ClassVar[tuple[str, ...]] = ("float32", "float64")
    tables: ClassVar[tuple[str, ...]] = (
        "xix", "xiy", "xiz", "length", "inv_len", "coef", "contact_d", "vol_grid", "g_axes", "n2", "s_grid",
        "w_grid",
    )  # fmt: skip

    def __post_init__(self) -> None:
        if self.variant not in ("calibrated", "lammps"):
            raise PhysicsError(f"PMB variant must be 'calibrated' or 'lammps', got {self.variant!r}")
        if self.micromodulus is None and not (self.youngs_modulus and self.youngs_modulus > 0):
            raise PhysicsError("PMB needs a positive youngs_modulus (Pa) or an explicit micromodulus")
        if self.variant == "lammps":
            self.contact = True
            self.surface_correction = False
        if self.stiffness_scale is not None and not self.surface_correction:
            raise PhysicsError("PMB stiffness_scale needs the (directional) surface_correction=True")

    # ---- the contract of physics/laws/__init__.py ---------------------------------------------------
    @classmethod
    def fixed_poisson_ratio(cls, dimension: int, plane: str = "stress") -> float | None:
        """Bond-based: 1/4 in 3D and 2D plane strain, 1/3 in 2D plane stress."""
        return 1.0 / 3.0 if dimension == 2 and plane == "stress" else 0.25

    @classmethod
    def from_material(
        cls,
        *,
        youngs_modulus: float,
        poisson_ratio: float,
        fracture_energy: float | None = None,
        critical_stretch: float | None = None,
        plane: str = "stress",
    ) -> PMB:
        """Calibrated from E alone (the Poisson ratio is the law's own, ``fixed_poisson_ratio``)."""
        return cls(
            youngs_modulus=youngs_modulus,
            fracture_energy=fracture_energy,
            critical_stretch=critical_stretch,
            plane=plane,
        )

    @property
    def linear_near_reference(self) -> bool:
        return not self.contact  # the stencil contact acts between unbonded neighbours whatever the strain

    def elastic_copy(self) -> PMB | None:
        """Unbreakable, without contact; None where c is given explicitly (tied to one lattice), for the LAMMPS
        variant, or with a ``stiffness_scale`` (one weight per particle of one body)."""
        if self.micromodulus is not None or self.variant != "calibrated" or self.stiffness_scale is not None:
            return None
        return dataclasses.replace(self, fracture_energy=None, critical_stretch=None, contact=False)

    def contact_stiffness(self) -> float:
        """15 c / delta (N/m^7), LAMMPS's short-range contact for PMB."""
        return 15.0 * float(self.c) / self.body.lattice.horizon

    # ---- calibration -------------------------------------------------------------------------------
    def setup(self, body) -> None:
        lat = body.lattice
        self.body = body
        xi = lat.stencil * lat.spacing
        lengths = np.linalg.norm(xi, axis=1)
        delta = lat.horizon
        volume = body.particle_volume
        scale = self._volume_scale(lengths, lat.spacing, delta)
        self.c = c = self._micromodulus(lat.dimension, lengths, volume, scale)
        if self.critical_stretch is not None:
            s0 = float(self.critical_stretch)
        elif self.fracture_energy is None:
            s0 = np.inf
        elif lat.dimension == 3:
            bulk = self.youngs_modulus / 1.5
            s0 = math.sqrt(5.0 * self.fracture_energy / (9.0 * bulk * delta))
        elif self.plane == "strain":
            # G0 = c s0^2 t delta^4 / 4 with c = 48E / (5 pi t delta^3) (Ha & Bobaru 2010).
            s0 = math.sqrt(5.0 * math.pi * self.fracture_energy / (12.0 * self.youngs_modulus * delta))
        else:
            s0 = math.sqrt(4.0 * math.pi * self.fracture_energy / (9.0 * self.youngs_modulus * delta))
        self.s00 = s0
        real = self.dtype  # the float type of every table the kernels read (float32 unless asked)
        # Per-cell tables live on the grid of the lattice's RunFrame (the kernels' order): particle i's values at
        # grid_cells[i]. Kernels visit the stencil in that grid's memory order: consecutive entries read the same
        # neighbour row (cache reuse).
        frame = lat.frame
        self.grid_cells = frame.grid_cells
        self.order = np.argsort(frame.flat_offset, kind="stable")
        self._plan = kern.PairPlan(body.lattice, frame, self.order)
        self.xix, self.xiy, self.xiz = (xi[:, a].astype(real) for a in range(3))
        self.length = lengths.astype(real)
        self.inv_len = (1.0 / lengths).astype(real)
        self.coef = (c * scale).astype(real)
        if self.contact:
            self.contact_d = np.minimum(0.9 * lengths, 1.35 * lat.spacing).astype(real)
            self.contact_k = 15.0 * c / delta
        else:
            self.contact_d = np.full(len(lengths), -1.0, dtype=real)
            self.contact_k = 0.0
        ncells = int(np.prod(lat.padded_shape))
        self.vol_grid = np.zeros(ncells, dtype=real)
        self.vol_grid[self.grid_cells] = volume
        # Per-axis surface factors (3, ncells) and squared bond direction cosines, for the directional rule.
        self.g_axes = np.ones((3, ncells if self.surface_correction else 0), dtype=real)
        self.n2 = ((xi / lengths[:, None]) ** 2).T.astype(real).copy()
        self.s_grid = np.zeros(ncells, dtype=real)
        # LAMMPS starts every particle with an unbounded s0 and sets it from the first step's stretches.
        self.s_grid[self.grid_cells] = 3.0e38 if self.variant == "lammps" and self.alpha else min(s0, 3.0e38)
        if self.surface_correction:
            self.g_axes[:, self.grid_cells] = self._surface_factors(body)
        self.w_grid = None
        self._row_stiffness = None
        if self.stiffness_scale is not None:
            scale = np.asarray(self.stiffness_scale, dtype=np.float64)
            if scale.shape != (body.count,) or not (np.isfinite(scale).all() and (scale > 0).all()):
                raise PhysicsError(
                    f"stiffness_scale must be {body.count} positive finite weights (one a particle)"
                )
            self.w_grid = np.zeros(ncells, dtype=real)
            self.w_grid[self.grid_cells] = scale
            self._row_stiffness = self._scaled_row_stiffness(body)

    def _micromodulus(self, dimension: int, lengths: np.ndarray, volume: float, scale: np.ndarray) -> float:
        """c (N/m^6 in 3D) calibrated on the stencil (bond lengths m, particle volume m^3, LAMMPS volume scale)."""
        if self.micromodulus is not None:
            return float(self.micromodulus)
        if dimension == 3:
            bulk = self.youngs_modulus / (3.0 * (1.0 - 2.0 * 0.25))
            return 18.0 * bulk / float((lengths * volume * scale).sum())
        if self.plane == "stress":
            # Continuum c = 9E / (pi t delta^3) = 6E / (t * 2 pi delta^3 / 3): the disc integral of |xi|, here summed.
            return 6.0 * self.youngs_modulus / float((lengths * volume * scale).sum())
        if self.plane == "strain":
            # Continuum c = 48E / (5 pi t delta^3) = 6.4E / (t * 2 pi delta^3 / 3).
            return 6.4 * self.youngs_modulus / float((lengths * volume * scale).sum())
        raise PhysicsError(f"2D plane must be 'stress' or 'strain', got {self.plane!r}")

    def _volume_scale(self, lengths: np.ndarray, spacing: float, delta: float) -> np.ndarray:
        """Per-bond volume scale: LAMMPS's linear ramp within half a spacing of the horizon, else 1."""
        if self.variant != "lammps":
            return np.ones_like(lengths)
        half = 0.5 * spacing
        return np.where(np.abs(lengths - delta) <= half, (delta + half - lengths) / spacing, 1.0)

    def interior_energy_density(self, lattice, extension: np.ndarray) -> np.ndarray:
        """(k,) J/m^3 of a particle with its full family on ``lattice`` (a physics.lattice.Lattice: its stencil,
        spacing and horizon), at bond extensions ``extension`` (k, nb) m: W = 1/4 sum_b c s_b^2 |xi_b| V (no
        surface factor inside the body; a 2D particle's thickness cancels). physics.fracture counts G0 with it."""
        lengths = np.linalg.norm(lattice.stencil * lattice.spacing, axis=1)
        volume = lattice.spacing**lattice.dimension  # 2D: dx^2 t with t = dx (W does not depend on t)
        scale = self._volume_scale(lengths, lattice.spacing, lattice.horizon)
        c = self._micromodulus(lattice.dimension, lengths, volume, scale)
        s = extension / lengths[None, :]
        return 0.25 * (c * scale * s * s * lengths * volume).sum(axis=1)

    def _surface_factors(self, body) -> np.ndarray:
        """Per-particle stiffness factors from the energy method under uniform strain along x, y (and z)."""
        lat = body.lattice
        nb = lat.neighbours()
        exists = nb >= 0
        xi = lat.stencil * lat.spacing
        lengths = np.linalg.norm(xi, axis=1)
        factors = [np.ones(lat.count)] * 3
        for axis in range(lat.dimension):
            # Under uniform strain e along axis, bond stretch is e * (xi_axis / |xi|)^2; energy ~ sum c s^2 |xi| V / 2.
            s2 = (xi[:, axis] / lengths) ** 4
            energy = (exists * (s2 * lengths)[None, :]).sum(axis=1)
            bulk = float((s2 * lengths).sum())
            # A particle none of whose bonds has a component along the axis (a coarse level's stray particle on a
            # thin member) has nothing to correct there: 1, not bulk / 1e-30, whose square overflowed float32 in
            # the kernels (NaN forces: no multigrid hierarchy for that body, Newton without it ran to its cap).
            factors[axis] = np.where(energy > 0.0, bulk / np.maximum(energy, 1e-300), 1.0)
        return np.array(factors, dtype=self.dtype)

    def _scaled_row_stiffness(self, body) -> np.ndarray:
        """(n,) sum_j c G_ij w_i w_j V_j / |xi_j| over each particle's bonds (weighted bodies: the ADR masses
        follow each particle's own row, so soft and stiff regions relax at the same pace)."""
        lat = body.lattice
        nb = lat.neighbours()
        out = np.empty(body.count)
        w = self.coef.astype(np.float64) * body.particle_volume / self.length.astype(np.float64)
        for start in range(0, body.count, 8192):
            sl = slice(start, min(body.count, start + 8192))
            j = nb[sl]
            factor = self.bond_factors(np.arange(sl.start, sl.stop), np.where(j >= 0, j, 0))
            out[sl] = (factor * (j >= 0) * w[None, :]).sum(axis=1)
        return out

    def stable_time_step(self, body) -> float:
        """Silling & Askari (2005): dt < sqrt(2 rho / sum_j V_j c / |xi_j|) for the stiffest particle."""
        lengths = self.length.astype(np.float64)
        stiffness = float((self.coef.astype(np.float64) * body.particle_volume / lengths).sum())
        gmax = float(self.g_axes.max()) if self.surface_correction else 1.0
        return math.sqrt(2.0 * body.density / (stiffness * gmax))

    # ---- force evaluation ---------------------------------------------------------------------------
    def bond_factors(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """(m, nb) surface-correction factor of each bond (1 without correction) times its ends' weights
        (``stiffness_scale``); as the kernels compute it. ``i`` (m,) particle ids, ``j`` (m, nb) their
        neighbours'."""
        if not self.surface_correction:
            return np.ones(j.shape)
        cells_i, cells_j = self.grid_cells[i], self.grid_cells[j]
        inv2 = 0.0
        for a in range(3):
            g = self.g_axes[a].astype(np.float64)
            mean = 0.5 * (g[cells_i][:, None] + g[cells_j])
            inv2 = inv2 + self.n2[a].astype(np.float64)[None, :] / (mean * mean)
        if self.w_grid is not None:
            w = self.w_grid.astype(np.float64)
            return w[cells_i][:, None] * w[cells_j] / np.sqrt(inv2)
        return 1.0 / np.sqrt(inv2)

    def relaxation_stiffness(self, body) -> np.ndarray:
        """(n,) ADR diagonal stiffness sum_j c_ij V_j / |xi_j| per particle (surface factors included)."""
        if self._row_stiffness is not None:
            return self._row_stiffness.copy()
        lengths = self.length.astype(np.float64)
        stiff = float((self.coef.astype(np.float64) * body.particle_volume / lengths).sum())
        return stiff * np.maximum(self.particle_factor(), 1.0)

    def particle_factor(self) -> np.ndarray:
        """(n,) the largest per-axis surface factor of each particle (for time steps and relaxation masses)."""
        if not self.surface_correction:
            return np.ones(self.body.count)
        return self.g_axes[:, self.grid_cells].max(axis=0).astype(np.float64)

    def compute(self, state) -> None:
        if self.surface_correction:
            self._compute_directional(state)
            return
        frame = self.body.lattice.frame
        per_particle = self.variant == "lammps" and bool(self.alpha)
        grids = frame_inputs(self, state)
        groups = chunk_groups(frame, state)
        for chunks in groups:
            self._forces(frame, chunks, state, grids, per_particle)
            between_groups(state, groups)
        if per_particle:
            # LAMMPS: s0_i for the next step from this step's smallest stretch of i's bonds.
            kern.stretch_limits(self.grid_cells, state.min_stretch, self.s00, self.alpha, self.s_grid)

    def _forces(self, frame, chunks, state, grids, per_particle: bool) -> None:
        ux, uy, uz, bits = grids
        kern.pmb_forces(
            frame.runs,
            chunks,
            ux,
            uy,
            uz,
            self.vol_grid,
            self.s_grid,
            self._uniform_limit(),
            bits,
            frame.particle,
            state.bits,
            frame.flat_offset,
            self.order,
            self.xix,
            self.xiy,
            self.xiz,
            self.inv_len,
            self.length,
            self.coef,
            self.body.particle_volume,
            self.contact_d if self.contact else None,
            self.contact_k,
            state.force,
            state.min_stretch if per_particle else None,
            state.newly_broken,
        )

    def _compute_directional(self, state) -> None:
        frame = self.body.lattice.frame
        grids = frame_inputs(self, state)
        groups = chunk_groups(frame, state)
        if self.pairs:
            self._pairs_directional(frame, state, grids, len(groups) > 1)
            return
        for chunks in groups:
            self._forces_directional(frame, chunks, state, grids)
            between_groups(state, groups)

    def _forces_directional(self, frame, chunks, state, grids) -> None:
        ux, uy, uz, bits = grids
        kern.pmb_forces_directional(
            frame.runs,
            chunks,
            ux,
            uy,
            uz,
            self.vol_grid,
            self.g_axes[0],
            self.g_axes[1],
            self.g_axes[2],
            self.n2[0],
            self.n2[1],
            self.n2[2],
            self.s_grid,
            self._uniform_limit(),
            bits,
            frame.particle,
            state.bits,
            frame.flat_offset,
            self.order,
            self.xix,
            self.xiy,
            self.xiz,
            self.inv_len,
            self.length,
            self.coef,
            self.body.particle_volume,
            self.contact_d if self.contact else None,
            self.contact_k,
            state.force,
            state.newly_broken,
            self.w_grid,
        )

    def _pairs_directional(self, frame, state, grids, split: bool) -> None:
        """_forces_directional over each bond once (pmb_kernels.PairPlan), then the finishing pass."""
        ux, uy, uz, bits = grids
        plan = self._plan
        grid = plan.grid(self, ux.dtype)
        for blocks in plan.calls(GROUP_PARTICLES if split else 0):
            kern.pmb_pair_directional(
                frame.runs, blocks, ux, uy, uz, self.vol_grid, self.g_axes[0], self.g_axes[1], self.g_axes[2],
                self.n2[0], self.n2[1], self.n2[2], self.s_grid, self._uniform_limit(), bits, frame.flat_offset,
                plan.half, self.xix, self.xiy, self.xiz, self.inv_len, self.length, self.coef,
                self.body.particle_volume, self.contact_d if self.contact else None, self.contact_k, grid,
                self.w_grid,
            )  # fmt: skip
            if split:
                state.between()
        kern.pmb_pair_finish(
            grid, frame.particle, plan.cells, state.bits, frame.flat_offset, ux, uy, uz, self.xix, self.xiy,
            self.xiz, self.length, self.inv_len, self.s_grid, state.force, state.newly_broken,
        )  # fmt: skip
        plan.done(self, ux.dtype)

    def _uniform_limit(self) -> float:
        """The critical stretch every particle shares (kernels then skip per-bond limit loads); -1: per particle.

        Only LAMMPS's alpha rule gives particles their own limits. "Never breaks" is 1e30: a limit times |xi| stays
        finite in float32."""
        if self.variant == "lammps" and self.alpha:
            return -1.0
        return min(float(self.s00), 1.0e30)

    # ---- outputs (float64, from the displacements; no time loop) -------------------------------------
    def _bond_fields(self, sim):
        """Yield (rows, xi, y, r, s, length, weight*intact) per chunk: weight = force density per unit stretch."""
        coef = self.coef.astype(np.float64)
        for sl, xi, y, r, s, length, j, intact in bond_geometry(sim):
            factor = self.bond_factors(np.arange(sl.start, sl.stop), j)
            weight = coef[None, :] * factor * sim.body.particle_volume * intact
            yield sl, xi, y, r, s, length, weight

    def strain_energy_density(self, sim) -> np.ndarray:
        """(n,) J/m^3: W_i = 1/4 sum_j c s^2 |xi| V_j (half of each bond's energy to each end)."""
        out = np.zeros(sim.body.count)
        for sl, _xi, _y, _r, s, length, weight in self._bond_fields(sim):
            out[sl] = 0.25 * (weight * s * s * length[None, :]).sum(axis=1)
        return out

    def stress(self, sim) -> np.ndarray:
        """(n, 3, 3) Pa, the virial sigma_i = 1/2 sum_j f_ij (x) xi_ij V_j with f_ij = c s V_j y/|y|: exact
        (sigma = C:eps) for uniform strain in the interior."""
        out = np.zeros((sim.body.count, 3, 3))
        for sl, xi, y, r, s, _length, weight in self._bond_fields(sim):
            f = (weight * s / np.maximum(r, 1e-300))[:, :, None] * y
            out[sl] = 0.5 * np.einsum("mba,bc->mac", f, xi)
        return out
