"""Linear peridynamic solid (LPS): ordinary state-based peridynamics for any Poisson ratio (Silling et al. 2007).

Energy of particle i (d = 2 or 3, e_b = |y_b| - |xi_b| the extension of bond b, V_j the neighbour's volume):

    W_i = K theta_i^2 / 2 + 1/2 sum_b beta_ib wd_b (e_b - theta_i |xi_b| / d)^2 V_j,
    theta_i = sum_b V_j (xi_b . A_i . xi_b / |xi_b|) e_b.

Plain LPS has A_i = (d / m_i) I and beta_ib = alpha_i = d (d + 2) G / md_i, with m_i = sum_b |xi_b|^2 V_j
(influence function 1) and md_i = sum_b wd_b |xi_b|^2 V_j over the particle's own bonds. The forces are the exact derivative of sum_i W_i V_i
(physics/laws/lps_kernels.py). K is the bulk modulus E / (3 (1 - 2 nu)) in 3D; in 2D the in-plane one,
E / (2 (1 - nu)) in plane stress and E / (2 (1 + nu)(1 - 2 nu)) in plane strain; G = E / (2 (1 + nu)).

Lattice calibration. theta is exact (= trace of the strain) under any uniform strain for any weights on a cubic or
square lattice. The deviatoric term needs an isotropic fourth moment sum_b wd |xi|^2 n^4, which the plain
lattice lacks (w = 1 at 3.015 spacings: shear modulus 25 % below the normal-deviatoric one); the deviatoric
weights wd are set per shell of equal |xi| (closest to 1 in least squares) so that moment is isotropic. An
interior particle then obeys Hooke's law exactly, for any uniform strain.

Surface correction (``surface_correction=True``): particles near a free surface miss part of their horizon, so
(d / m_i) sum_b |xi_b| e_b is no longer the trace of a uniform strain. A_i is instead solved per particle from
its own bonds, sum_b |xi_b|^2 V_j (n_b . A_i . n_b) n_b (x) n_b = I, which makes theta_i exact under every
uniform strain. Likewise beta_ib = B_i . (nx^2, ny^2, nz^2, ny^2 nz^2, nx^2 nz^2, nx^2 ny^2) is solved so the
deviatoric energy is exact under uniform axial (x, y, z) and shear strains (2D: axial, shear and their sum).
Each falls back to the plain value where its system is singular (a plate one or two particles thick), or where
the solution is not positive on every bond or exceeds CAP times the plain value (e.g. cube corners).

Fracture: a bond breaks when its stretch e / |xi| exceeds s0 (critical stretch from the fracture energy G0 as in
Madenci & Oterkus 2014 for the ordinary state-based solid): s0 = sqrt(G0 / ((3 G + (3/4)^4 (K - 5 G / 3)) delta))
in 3D, s0 = sqrt(G0 / ((6 G / pi + 16 / (9 pi^2) (K - 2 G)) delta)) in 2D; both reduce to the PMB values at
PMB's Poisson ratio. fab passes ``critical_stretch`` calibrated on the body's own lattice instead
(physics/fracture.py: the law's lattice, separated across a plane, releases G0). A broken bond leaves theta, m_i
and md_i (and A_i, B_i are solved again from the remaining bonds); the normalisation never drops below half the particle's initial one (``FLOOR``), so the last bonds of a
detaching particle are not stiffened beyond the stable time step.

Units: SI (Pa, kg/m^3, J/m^2, m).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import KW_ONLY, dataclass
from typing import ClassVar

import numba
import numpy as np
from numba import njit, prange

from physics.bonds import intact_bond_mask
from physics.errors import PhysicsError
from physics.laws import lps_kernels as kern
from physics.laws.base import (
    GROUP_PARTICLES,
    ForceLaw,
    between_groups,
    chunk_groups,
    frame_inputs,
    register_law,
)
from physics.laws.pmb_kernels import PairPlan

FLOOR = 0.5  # a damaged particle's m_i and md_i are normalised by at least FLOOR x their initial values
CAP = 4.0  # the surface-corrected A_i may exceed the plain (d / m_i) I by at most this factor
CHUNK = 8192


def deviatoric_weights(stencil: np.ndarray) -> np.ndarray:
    """Per-bond weights, equal on each shell of equal |xi|, that make sum w |xi|^2 n^4 isotropic.

    Isotropy of the fourth moment on a cubic/square lattice is one condition, S_xxxx = 3 S_xxyy; the weights
    closest to 1 (least squares over bonds) that satisfy it are w_k = 1 - lam D_k / N_k, D_k the shell's share of
    S_xxxx - 3 S_xxyy and N_k its bond count. Falls back to 1 if a weight would drop below 0.1."""
    st = stencil.astype(np.float64)
    x2 = (st**2).sum(axis=1)
    n = st / np.sqrt(x2)[:, None]
    dev = x2 * (n[:, 0] ** 4 - 3.0 * n[:, 0] ** 2 * n[:, 1] ** 2)
    _, shell = np.unique(np.round(x2).astype(np.int64), return_inverse=True)
    d_k = np.bincount(shell, dev)
    n_k = np.bincount(shell).astype(np.float64)
    denom = float((d_k**2 / n_k).sum())
    if abs(d_k.sum()) < 1e-12 * max(denom, 1e-300):
        return np.ones(len(st))
    w_k = 1.0 - d_k.sum() / denom * d_k / n_k
    if w_k.min() < 0.1:
        return np.ones(len(st))
    return w_k[shell]


def _deviatoric_modes(dimension: int) -> np.ndarray:
    """Deviatoric test strains (modes, d, d): axial along each axis and simple shears (2D: axial, shear, sum)."""
    d = dimension
    modes = []
    for a in range(d if d == 3 else 1):
        m = -np.eye(d) / d
        m[a, a] += 1.0
        modes.append(m)
    for a, b in ((1, 2), (0, 2), (0, 1)) if d == 3 else ((0, 1),):
        m = np.zeros((d, d))
        m[a, b] = m[b, a] = 1.0
        modes.append(m)
    if d == 2:
        modes.append(modes[0] + modes[1])
    return np.array(modes)


def bond_planes(pq: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """(nb,) int64 each bond's entry of lps_kernels.PLANE_TERMS: the first whose components hold every nonzero
    one of its pq and phi (a bond in a lattice plane, or along an axis: 33 of the 61 forward bonds of the 3D
    stencil at 3.015 spacings, every bond in 2D), else 0 (all six)."""
    nonzero = (pq != 0.0) | (phi != 0.0)  # (6, nb)
    planes = np.zeros(nonzero.shape[1], dtype=np.int64)
    for plane in range(len(kern.PLANE_TERMS) - 1, 0, -1):  # the first that fits wins
        outside = np.ones(6, dtype=bool)
        outside[list(kern.PLANE_TERMS[plane][:3])] = False
        planes[~nonzero[outside].any(axis=0)] = plane
    return planes


@njit(cache=True, parallel=True)
def _changed_counts(bits: np.ndarray, counts: np.ndarray, changed: np.ndarray) -> int:
    """Popcount each particle's bond words; flag and store the particles whose count changed; return how many."""
    total = 0
    for i in prange(bits.shape[1]):
        c = 0
        for w in range(bits.shape[0]):
            v = bits[w, i]
            v = v - ((v >> np.uint32(1)) & np.uint32(0x55555555))
            v = (v & np.uint32(0x33333333)) + ((v >> np.uint32(2)) & np.uint32(0x33333333))
            v = (v + (v >> np.uint32(4))) & np.uint32(0x0F0F0F0F)
            c += np.int64((v * np.uint32(0x01010101)) >> np.uint32(24))
        if c != counts[i]:
            counts[i] = c
            changed[i] = True
            total += 1
        else:
            changed[i] = False
    return total


@register_law
@dataclass
class LPS(ForceLaw):
    youngs_modulus: float
    poisson_ratio: float
    fracture_energy: float | None = None  # J/m^2; None: bonds never break
    _: KW_ONLY
    critical_stretch: float | None = None  # explicit s0; overrides the fracture energy
    plane: str = "stress"  # 2D only: "stress" or "strain"
    surface_correction: bool = True
    name: ClassVar[str] = "lps"
    precisions: ClassVar[tuple[str, ...]] = ("float32", "float64")
    tables: ClassVar[tuple[str, ...]] = (
        "xix", "xiy", "xiz", "length", "inv_len", "pq", "wd", "phi", "wdx", "xd", "fields", "amat", "mb", "s_grid",
        "coef",
    )  # fmt: skip
    interaction_range: ClassVar[int] = 2  # the dilatation couples neighbours of neighbours
    # Forces over each bond once (pmb_kernels.PairPlan); False: each particle's whole stencil (every bond twice),
    # the kernels' reference in tests and benchmarks/bench_kernels.py.
    pairs: ClassVar[bool] = True

    def __post_init__(self) -> None:
        e, nu = self.youngs_modulus, self.poisson_ratio
        if not (isinstance(e, int | float) and math.isfinite(e) and e > 0):
            raise PhysicsError(f"LPS needs a positive youngs_modulus (Pa), got {e!r}")
        if not (isinstance(nu, int | float) and -1.0 < nu < 0.5):
            raise PhysicsError(f"LPS poisson_ratio must lie in (-1, 0.5), got {nu!r}")
        if self.plane not in ("stress", "strain"):
            raise PhysicsError(f"2D plane must be 'stress' or 'strain', got {self.plane!r}")
        if self.fracture_energy is not None and not (self.fracture_energy > 0):
            raise PhysicsError(f"fracture_energy must be positive (J/m^2), got {self.fracture_energy!r}")
        if self.critical_stretch is not None and not (self.critical_stretch > 0):
            raise PhysicsError(f"critical_stretch must be positive, got {self.critical_stretch!r}")
        self.shear_modulus = e / (2.0 * (1.0 + nu))

    # ---- the contract of physics/laws/__init__.py ---------------------------------------------------
    @classmethod
    def from_material(
        cls,
        *,
        youngs_modulus: float,
        poisson_ratio: float,
        fracture_energy: float | None = None,
        critical_stretch: float | None = None,
        plane: str = "stress",
    ) -> LPS:
        """Calibrated from E and nu (any Poisson ratio in (-1, 0.5))."""
        return cls(
            youngs_modulus=youngs_modulus,
            poisson_ratio=poisson_ratio,
            fracture_energy=fracture_energy,
            critical_stretch=critical_stretch,
            plane=plane,
        )

    def elastic_copy(self) -> LPS:
        """The same solid, unbreakable."""
        return dataclasses.replace(self, fracture_energy=None, critical_stretch=None)

    def contact_stiffness(self) -> float:
        """15 c / delta (N/m^7) with c the PMB micromodulus of the same bulk modulus: 18 K / sum |xi| V (3D),
        8 K / sum |xi| V (2D)."""
        lat = self.body.lattice
        total = float(np.linalg.norm(lat.stencil * lat.spacing, axis=1).sum()) * self.body.particle_volume
        c = (18.0 if lat.dimension == 3 else 8.0) * float(self.bulk) / total
        return 15.0 * c / lat.horizon

    # ---- calibration -------------------------------------------------------------------------------
    def moduli(self, dimension: int) -> tuple[float, float]:
        """(K, G) in Pa: 3D bulk modulus, or the in-plane 2D one for plane stress / strain."""
        e, nu = self.youngs_modulus, self.poisson_ratio
        if dimension == 3:
            return e / (3.0 * (1.0 - 2.0 * nu)), self.shear_modulus
        if self.plane == "stress":
            return e / (2.0 * (1.0 - nu)), self.shear_modulus
        return e / (2.0 * (1.0 + nu) * (1.0 - 2.0 * nu)), self.shear_modulus

    def interior_energy_density(self, lattice, extension: np.ndarray) -> np.ndarray:
        """(k,) J/m^3 of a particle with its full family on ``lattice`` (a physics.lattice.Lattice: its stencil
        and spacing), at bond extensions ``extension`` (k, nb) m: W = K theta^2 / 2 + 1/2 sum_b alpha wd_b
        (e_b - theta |xi_b| / d)^2 V, theta = (d / m) sum_b |xi_b| e_b V (the plain interior A and beta, which
        the surface correction reproduces inside the body; a 2D particle's thickness cancels). physics.fracture
        counts G0 with it."""
        d = lattice.dimension
        bulk, shear = self.moduli(d)
        lengths = np.linalg.norm(lattice.stencil * lattice.spacing, axis=1)
        wd = deviatoric_weights(lattice.stencil)
        volume = lattice.spacing**d  # 2D: dx^2 t with t = dx (W does not depend on t)
        m = volume * float((lengths**2).sum())
        alpha = d * (d + 2) * shear / (volume * float((wd * lengths**2).sum()))
        theta = d / m * volume * (extension * lengths[None, :]).sum(axis=1)
        ed = extension - theta[:, None] * lengths[None, :] / d
        return 0.5 * bulk * theta**2 + 0.5 * alpha * volume * (wd[None, :] * ed * ed).sum(axis=1)

    def setup(self, body) -> None:
        lat = body.lattice
        self.body = body
        d = lat.dimension
        self.dim = d
        self.bulk, g = self.moduli(d)
        xi = lat.stencil * lat.spacing
        lengths = np.linalg.norm(xi, axis=1)
        n = xi / lengths[:, None]
        volume = body.particle_volume
        real = self.dtype  # the float type of every table the kernels read (float32 unless asked)
        wd = deviatoric_weights(lat.stencil)
        self._xi = xi
        self._len64 = lengths
        self._wd64 = wd
        # phi . a = n.A.n with a = [Axx, Ayy, Azz, Ayz, Axz, Axy]; psi picks the matching tensor components.
        phi = np.column_stack(
            [
                n[:, 0] ** 2,
                n[:, 1] ** 2,
                n[:, 2] ** 2,
                2 * n[:, 1] * n[:, 2],
                2 * n[:, 0] * n[:, 2],
                2 * n[:, 0] * n[:, 1],
            ]
        )
        psi = phi * np.array([1.0, 1.0, 1.0, 0.5, 0.5, 0.5])
        self._pq64 = (phi * lengths[:, None]).T.copy()  # (6, nb): g_ib = a_i . pq_b = xi.A.xi / |xi|
        self._nn64 = phi.T.copy()  # (6, nb): n.A.n = a . nn_b
        # beta_ib = b_i . phi_b with phi = [nx^2, ny^2, nz^2, ny^2 nz^2, nx^2 nz^2, nx^2 ny^2]: even in every
        # component, like the energies of the axial and shear test strains it is solved from.
        n2 = n**2
        phib = np.column_stack(
            [n2[:, 0], n2[:, 1], n2[:, 2], n2[:, 1] * n2[:, 2], n2[:, 0] * n2[:, 2], n2[:, 0] * n2[:, 1]]
        )
        self._phi64 = phib.T.copy()
        self._comp = np.array([0, 1, 2, 3, 4, 5]) if d == 3 else np.array([0, 1, 5])
        c = self._comp
        # A: sum_b |xi|^2 V (n.A.n) n (x) n = I, one equation per tensor component.
        self._rhs_a = np.array([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])[c]
        self._moment_a = (
            (volume * lengths**2)[:, None, None] * psi[:, c, None] * phi[:, None, c]
        )  # (nb, k, k)
        # B: sum_b wd |xi|^2 V (n.B.n) (n.D.n)^2 = 2 G D:D for deviatoric test strains D (axial, shear, in 2D
        # also their sum: the 2D deviatoric space has only two directions and axial-y repeats axial-x).
        modes = _deviatoric_modes(d)
        ndn2 = np.einsum("ba,mac,bc->bm", n[:, :d], modes, n[:, :d]) ** 2  # (nb, modes)
        self._rhs_b = 2.0 * g * np.einsum("mac,mac->m", modes, modes)
        self._moment_b = (volume * wd * lengths**2)[:, None, None] * ndn2[:, :, None] * phib[:, None, c]
        self._iso = np.array([1.0, 1.0, 1.0 if d == 3 else 0.0, 0.0, 0.0, 0.0])
        self.xix, self.xiy, self.xiz = (xi[:, a].astype(real) for a in range(3))
        self.length = lengths.astype(real)
        self.inv_len = (1.0 / lengths).astype(real)
        self.pq = self._pq64.astype(real)  # (6, nb)
        self.wd = wd.astype(real)
        self.phi = self._phi64.astype(real)  # (6, nb)
        self.wdx = (wd * lengths).astype(real)
        self.xd = (lengths / d).astype(real)
        self.terms = bond_planes(self._pq64, self._phi64)
        ncells = int(np.prod(lat.padded_shape))
        # Per-cell tables live on the grid of the lattice's RunFrame (the kernels' order): particle i's values at
        # grid_cells[i]. Kernels visit the stencil in that grid's memory order: consecutive entries read the same
        # neighbour row (cache reuse).
        self.grid_cells = cells = lat.frame.grid_cells
        self.order = np.argsort(lat.frame.flat_offset, kind="stable")
        self._plan = PairPlan(lat, lat.frame, self.order)
        # Per-cell table read for both ends of a bond (lps_kernels), field-major so runs read it contiguously.
        self.fields = np.zeros((kern.NFIELDS, ncells), dtype=real)
        self.bmat = self.fields[kern.BM : kern.BM + 6]  # (6, ncells) view
        self.amat = np.zeros((6, ncells), dtype=real)
        self.mb = np.zeros(ncells, dtype=real)
        # Initial normalisations (full intact family) and bond counts, for the damage floor and change detection.
        exists = lat.neighbours() >= 0
        m0 = (exists * (volume * lengths**2)).sum(axis=1)
        md0 = (exists * (volume * wd * lengths**2)).sum(axis=1)
        self._m0, self._md0 = m0, md0
        self._counts = exists.sum(axis=1).astype(np.int64)
        self._changed = np.zeros(body.count, dtype=np.bool_)
        self._counted: np.ndarray | None = None  # the bond bits _counts were last checked against (_compute_pairs)
        for start in range(0, body.count, CHUNK):
            rows = np.arange(start, min(body.count, start + CHUNK))
            self._update_particles(rows, exists[rows])
        # Critical stretch.
        delta = lat.horizon
        if self.critical_stretch is not None:
            s0 = float(self.critical_stretch)
        elif self.fracture_energy is None:
            s0 = math.inf
        elif d == 3:
            s0 = math.sqrt(self.fracture_energy / ((3.0 * g + 0.75**4 * (self.bulk - 5.0 * g / 3.0)) * delta))
        else:
            coeff = 6.0 * g / math.pi + 16.0 / (9.0 * math.pi**2) * (self.bulk - 2.0 * g)
            s0 = math.sqrt(self.fracture_energy / (coeff * delta))
        self.s00 = s0
        self.s_grid = np.zeros(ncells, dtype=real)
        self.s_grid[cells] = min(s0, 3.0e38)
        self._scrit = (
            self.s_grid if math.isfinite(s0) else None
        )  # None: the force kernel skips the limit test
        self._volume = float(volume)
        self.fields[kern.SCRIT] = self.s_grid
        self._stiffness = self._particle_stiffness()
        self._stiffness_ref = self._interior_stiffness()
        # What physics/relaxation.py reads today (the ADR mass scales with sum coef V / |xi| times the factor).
        self.coef = np.full(len(lengths), self._stiffness_ref / float((volume / lengths).sum()), dtype=real)

    def set_particle_limits(self, limits: np.ndarray) -> None:
        """Per-particle critical stretches (n,) after setup, in place of the uniform s0 (a bond breaks past the
        smaller of its two ends'; 3e38: never): a calibration body whose grips must not break
        (physics/fracture.py ``crack_run_ratio``)."""
        values = np.minimum(np.asarray(limits, dtype=np.float64), 3.0e38)
        self.s_grid[self.grid_cells] = values
        self.fields[kern.SCRIT][self.grid_cells] = values

    def _relink_tables(self) -> None:
        self.bmat = self.fields[kern.BM : kern.BM + 6]  # B lives in the per-cell table
        self._scrit = self.s_grid if math.isfinite(self.s00) else None

    def _update_particles(self, rows: np.ndarray, intact: np.ndarray) -> None:
        """Recompute A_i, B_i and mb_i of particles ``rows`` from their intact bonds, (m, nb) bool."""
        volume = self.body.particle_volume
        d = self.dim
        x2v = volume * self._len64**2
        m = intact @ x2v
        md = intact @ (x2v * self._wd64)
        # Damaged particles keep at least FLOOR x their initial normalisation (stability of the last bonds).
        scale_a = m / np.maximum(np.maximum(m, FLOOR * self._m0[rows]), 1e-300)
        scale_b = md / np.maximum(np.maximum(md, FLOOR * self._md0[rows]), 1e-300)
        has = m > 0
        iso_a = np.where(has, d / np.where(has, m, 1.0), 0.0)
        iso_b = np.where(has, d * (d + 2) * self.shear_modulus / np.where(md > 0, md, 1.0), 0.0)
        a = iso_a[:, None] * self._iso[None, :]
        bm = iso_b[:, None] * self._iso[None, :]
        if self.surface_correction and has.any():
            mask = intact.astype(np.float64)
            a = self._solve(
                np.tensordot(mask, self._moment_a, axes=(1, 0)),
                self._rhs_a,
                a,
                iso_a,
                has,
                self._nn64,
                intact,
            )
            bm = self._solve(
                np.tensordot(mask, self._moment_b, axes=(1, 0)),
                self._rhs_b,
                bm,
                iso_b,
                has,
                self._phi64,
                intact,
            )
        a *= scale_a[:, None]
        bm *= scale_b[:, None]
        cells = self.grid_cells[rows]
        self.amat[:, cells] = a.T
        self.bmat[:, cells] = bm.T
        # mb_i = sum_b beta_ib wd_b |xi_b|^2 V_j over intact bonds.
        self.mb[cells] = ((bm @ self._phi64) * intact * (x2v * self._wd64)[None, :]).sum(axis=1)

    def _solve(self, mom, rhs, plain, iso, has, table, intact) -> np.ndarray:
        """Per-particle coefficient vectors solving mom @ t = rhs where that is well posed, else ``plain``.

        A solution is kept only if its per-bond value (``table`` (6, nb) . t) is positive on every intact bond
        and at most CAP x the plain value ``iso``."""
        out = plain.copy()
        k = len(self._comp)
        scale = np.abs(np.einsum("mii->m", mom)) / k
        good = has & (np.abs(np.linalg.det(mom)) > 1e-10 * np.maximum(scale, 1e-300) ** k)
        if not good.any():
            return out
        sol = np.linalg.solve(mom[good], np.broadcast_to(rhs, (int(good.sum()), k))[..., None])[..., 0]
        full = np.zeros((len(sol), 6))
        full[:, self._comp] = sol
        per_bond = full @ table
        mine = intact[good]
        ok = (np.where(mine, per_bond, 1.0).min(axis=1) > 0) & (
            np.where(mine, per_bond, 0.0).max(axis=1) <= CAP * iso[good]
        )
        out[np.flatnonzero(good)[ok]] = full[ok]
        return out

    def _bond_g(self, cells_i: np.ndarray) -> np.ndarray:
        """(m, nb) g_ib = xi_b . A_i . xi_b / |xi_b| in float64."""
        return self.amat[:, cells_i].astype(np.float64).T @ self._pq64

    def _particle_stiffness(self) -> np.ndarray:
        """(n,) diagonal stiffness bound of each particle (N/m^3 per m): the LPS analogue of sum_j c V_j / |xi|.

        sum_b V_j (|beta_ib| + |beta_jb|) wd_b + K [(sum_b V_j |g_ib|)^2 + sum_b V_j |g_jb| sum_c V |g_jc|]."""
        lat = self.body.lattice
        volume = self.body.particle_volume
        cells = self.grid_cells  # the tables' cells; a neighbour's is its particle's plus the frame's offset
        gsum = np.zeros(len(self.amat[0]))
        out = np.zeros(self.body.count)
        nbr_all = []
        for start in range(0, self.body.count, CHUNK):
            sl = slice(start, min(self.body.count, start + CHUNK))
            nbr = lat.cell_to_particle[lat.cells[sl, None] + lat.flat_offset[None, :]] >= 0
            gsum[cells[sl]] = (nbr * np.abs(self._bond_g(cells[sl]))).sum(axis=1) * volume
            nbr_all.append(nbr)
        for start, nbr in zip(range(0, self.body.count, CHUNK), nbr_all, strict=True):
            sl = slice(start, min(self.body.count, start + CHUNK))
            cj = cells[sl, None] + lat.frame.flat_offset[None, :]
            beta_i = np.abs(self.bmat[:, cells[sl]].astype(np.float64).T @ self._phi64)
            beta_j = np.abs(np.einsum("kmb,kb->mb", self.bmat[:, cj].astype(np.float64), self._phi64))
            dev = (nbr * (beta_i + beta_j) * self._wd64[None, :]).sum(axis=1) * volume
            gj = np.abs(np.einsum("kmb,kb->mb", self.amat[:, cj].astype(np.float64), self._pq64))
            dil = gsum[cells[sl]] ** 2 + (nbr * gj * gsum[cj]).sum(axis=1) * volume
            out[sl] = dev + self.bulk * dil
        return out

    def _interior_stiffness(self) -> float:
        """The stiffness bound of a particle with its full family and interior neighbours."""
        volume = self.body.particle_volume
        d = self.dim
        m = volume * float((self._len64**2).sum())
        md = volume * float((self._wd64 * self._len64**2).sum())
        alpha = d * (d + 2) * self.shear_modulus / md
        gsum = volume * float((d / m * self._len64).sum())
        return 2.0 * alpha * volume * float(self._wd64.sum()) + 2.0 * self.bulk * gsum**2

    def relaxation_stiffness(self, body) -> np.ndarray:
        """(n,) per-particle diagonal stiffness (N/m^3 per m of displacement) for adaptive dynamic relaxation."""
        return self._stiffness.copy()

    def particle_factor(self) -> np.ndarray:
        """(n,) each particle's stiffness bound over the interior one (relaxation masses, time steps)."""
        return self._stiffness / self._stiffness_ref

    def stable_time_step(self, body) -> float:
        """dt < sqrt(2 rho / S) (Silling & Askari 2005) with S the largest particle stiffness bound."""
        return math.sqrt(2.0 * body.density / float(self._stiffness.max()))

    # ---- force evaluation ---------------------------------------------------------------------------
    def refresh(self, bits: np.ndarray) -> None:
        """Re-derive A_i, B_i, mb_i of every particle whose intact-bond count changed (breaking, pre-cracks)."""
        if _changed_counts(bits, self._counts, self._changed) > 0:
            self._refresh_changed(bits)
        self._counted = bits.copy()  # the bits the counts are of (the pair path refreshes where they differ)

    def _refresh_changed(self, bits: np.ndarray) -> None:
        """Re-derive A_i, B_i, mb_i of the particles flagged in ``_changed``."""
        rows = np.flatnonzero(self._changed)
        nb = self.body.lattice.bonds_per_particle
        b = np.arange(nb)
        for start in range(0, len(rows), CHUNK):
            r = rows[start : start + CHUNK]
            bit = (bits[:, r][b >> 5, :] >> (b & 31).astype(np.uint32)[:, None]) & np.uint32(1)
            self._update_particles(r, bit.T == 1)

    def compute(self, state) -> None:
        frame = self.body.lattice.frame
        runs = frame.runs
        groups = chunk_groups(frame, state)  # one call each (the normal path) unless observed on a big body
        args = (self.xix, self.xiy, self.xiz, self.length)
        ux, uy, uz, bits = frame_inputs(self, state)  # the kernels' copies (RunFrame order)
        # A state that is not breaking (a tangent product, which restores its bits after) skips the limit test: the
        # forces are the same, the force pass 0.83x (float32) and 0.89x (float64) the CPU at 38,400 particles.
        scrit = self._scrit if getattr(state, "breaking", True) else None
        if self.pairs:
            self._compute_pairs(state, groups, ux, uy, uz, bits, scrit)
            return
        # Pass 1 also counts intact bonds: where a count changed (bonds broke last step, pre-cracks), refresh
        # those particles' A, B, mb and redo the pass. No separate pass over the bond words at every step.
        self._counted = None  # the counts follow these bits now, not those the pair path last compared
        for _ in range(2):
            changed = 0
            for chunks in groups:
                changed += kern.lps_dilatation(
                    runs, chunks, ux, uy, uz, self.amat, self.fields, self.mb, bits, frame.particle,
                    self._counts, self._changed, frame.flat_offset, self.order, *args, self.pq, self.phi, self.wdx,
                    self._volume, self.bulk, self.dim,
                )  # fmt: skip
                between_groups(state, groups)
            if changed == 0:
                break
            self._refresh_changed(state.bits)
        for chunks in groups:
            kern.lps_forces(
                runs, chunks, ux, uy, uz, self.fields, scrit, bits, frame.particle, state.bits,
                frame.flat_offset, self.order, *args, self.inv_len, self.pq, self.phi, self.wd, self.xd,
                self._volume, state.force, state.newly_broken,
            )  # fmt: skip
            between_groups(state, groups)

    def break_over_limit(self, state) -> int:
        """Break the intact bonds over their limit at the state's displacements (its grids ux, uy, uz filled, as
        for ``compute``) without computing forces: the bonds ``compute`` would break there, by the same
        arithmetic. Returns the broken bonds' ends (two a bond); state.newly_broken as compute leaves it."""
        from physics.laws.break_kernels import break_over_limit

        if self._scrit is None:
            state.newly_broken[:] = 0
            return 0
        frame = self.body.lattice.frame
        ux, uy, uz, bits = frame_inputs(self, state)
        return int(break_over_limit(frame.runs, frame.run_chunks, ux, uy, uz, self._scrit, bits, frame.particle,
                                    state.bits, frame.flat_offset, self.order, self.xix, self.xiy, self.xiz,
                                    self.length, self.inv_len, state.newly_broken))  # fmt: skip

    def _compute_pairs(self, state, groups, ux, uy, uz, bits, scrit) -> None:
        """compute() over each bond once (pmb_kernels.PairPlan): both passes sum into per-cell accumulators, the
        plan's blocks in parallel, and a pass over the particles finishes each."""
        frame = self.body.lattice.frame
        runs = frame.runs
        plan = self._plan
        args = (self.xix, self.xiy, self.xiz, self.length)
        grid = plan.grid(self, ux.dtype)
        split = len(groups) > 1
        calls = plan.scheduled(GROUP_PARTICLES if split else 0, numba.get_num_threads())
        # A, B and mb follow the bond bits before pass 1 where they differ from those the intact-bond counts were
        # last taken of (bonds broke, or another state's bits): pass 1 once per evaluation (it was run again on
        # ~8 % of a failure test's evaluations, after a count in its finish found a change), and no popcount of
        # every particle's bond words in each evaluation (the comparison: 0.09 ms at 38,400 particles).
        counted = getattr(self, "_counted", None)
        if counted is None or not np.array_equal(counted, state.bits):
            self.refresh(state.bits)
        for slabs, parts in calls:
            kern.lps_pair_dilatation(
                runs, slabs, parts, ux, uy, uz, self.amat, self.fields, bits, frame.flat_offset, plan.half, *args,
                self.pq, self.phi, self.wdx, self.terms, grid,
            )  # fmt: skip
            if split:
                state.between()
        kern.lps_pair_dilatation_finish(
            grid, self.amat, self.fields, self.mb, plan.cells, self._volume, self.bulk, self.dim,
        )  # fmt: skip
        for slabs, parts in calls:
            kern.lps_pair_forces(
                runs, slabs, parts, ux, uy, uz, self.fields, scrit, bits, frame.flat_offset, plan.half, *args,
                self.inv_len, self.pq, self.phi, self.wd, self.xd, self.terms, grid,
            )  # fmt: skip
            if split:
                state.between()
        kern.lps_pair_finish(
            grid, scrit, frame.particle, plan.cells, state.bits, frame.flat_offset, ux, uy, uz, *args,
            self.inv_len, self._volume, state.force, state.newly_broken,
        )  # fmt: skip
        plan.done(self, ux.dtype)

    # ---- outputs (float64, from the displacements; no time loop) -------------------------------------
    def _states(self, sim):
        """Yield (rows, y, r, weight V_j*intact, theta, beta, ed, t) per chunk of particles."""
        volume = self.body.particle_volume
        d = self.dim
        xi, lengths, wd = self._xi, self._len64, self._wd64
        for start in range(0, self.body.count, CHUNK):
            sl = slice(start, min(self.body.count, start + CHUNK))
            nbr, intact = intact_bond_mask(sim, sl)
            j = np.where(nbr >= 0, nbr, 0)
            y = xi[None, :, :] + (sim.u[j] - sim.u[sl][:, None, :])
            r = np.linalg.norm(y, axis=2)
            e = r - lengths[None, :]
            cells = self.grid_cells[sl]
            g = self._bond_g(cells)
            vw = volume * intact
            theta = (vw * g * e).sum(axis=1)
            beta = self.bmat[:, cells].astype(np.float64).T @ self._phi64
            moment = (vw * beta * wd * lengths * e).sum(axis=1)
            mb = self.mb[cells].astype(np.float64)
            lam = self.bulk * theta - (moment - theta * mb / d) / d
            ed = e - theta[:, None] * lengths[None, :] / d
            t = lam[:, None] * g + beta * wd[None, :] * ed
            yield sl, y, r, vw, theta, beta, ed, t

    def strain_energy_density(self, sim) -> np.ndarray:
        """(n,) J/m^3: W_i = K theta_i^2 / 2 + 1/2 sum_b beta_ib wd_b ed_b^2 V_j."""
        out = np.zeros(self.body.count)
        for sl, _y, _r, vw, theta, beta, ed, _t in self._states(sim):
            out[sl] = 0.5 * self.bulk * theta**2 + 0.5 * (vw * beta * self._wd64 * ed * ed).sum(axis=1)
        return out

    def stress(self, sim) -> np.ndarray:
        """(n, 3, 3) Pa: sigma_i = sum_b t_ib (y_b / |y_b|) (x) xi_b V_j, Hooke's law under uniform strain.

        In 2D plane strain sigma_zz = lambda theta (lambda the 3D Lame constant); plane stress leaves it 0."""
        # One numba pass (lps_kernels.lps_stress; the chunked numpy arrays of _states took ~1.9 s a call at
        # 38,400 particles, twice in each failure test).
        lat = self.body.lattice
        out = np.zeros((self.body.count, 3, 3))
        theta = np.zeros(self.body.count)
        kern.lps_stress(
            lat.cells, lat.cell_to_particle, lat.flat_offset, sim.bits, np.ascontiguousarray(sim.u, dtype=np.float64),
            self._xi, self._len64, self._wd64, self._pq64, self._phi64, self.amat, self.bmat, self.mb,
            self.grid_cells, self.body.particle_volume, self.bulk, self.dim, out, theta,
        )  # fmt: skip
        if self.dim == 2 and self.plane == "strain":
            e, nu = self.youngs_modulus, self.poisson_ratio
            out[:, 2, 2] = e * nu / ((1 + nu) * (1 - 2 * nu)) * theta
        return out
