"""Voxel joints: rigid voxel parts (6 degrees of freedom) joined face to face by breakable beam-like joints.

The law of discretely assembled lattices (digital materials): each particle is one voxel part of edge ``a`` (the
lattice spacing), with a position and an orientation (unit quaternion), mass m = density a^3 and rotational
inertia I = ``inertia_factor`` m a^2 (1/6 for a solid cube). Each pair of face neighbours is joined by a joint
that acts like a Timoshenko beam element of length a between the two voxel centres (the Voxelyze lineage,
Hiller & Lipson, Soft Robotics 2014, here with an independent shear stiffness), given by four stiffnesses:

    axial      k_a = EA / a           N/m       (force per unit stretch of the joint)
    shear      k_s = kappa G A / a    N/m       (Timoshenko phi = 12 k_b / (k_s a^2); k_s = inf: Euler-Bernoulli)
    bending    k_b = EI / a           N m/rad
    torsion    k_t = GJ / a           N m/rad

In its own frame (joint axis = local x) the element's elastic forces are K u with the standard 12 x 12 matrix
(``element_matrix``); a chain of N joints under end loads is therefore exactly a Timoshenko beam of length N a
with EI = k_b a and kappa G A = k_s a. Dynamics use it co-rotated with the mean orientation of the two voxels
(large rotations, small strains; physics/laws/voxel_joint_kernels.py); statics assemble it as a sparse linear
system (small displacements) and solve it directly (``relax``).

A joint breaks when its utilisation reaches 1 (force-moment interaction, linear):
U = max(N, 0)/N_u + V/V_u + M/M_u + |T|/T_u, with N the axial force (tension +), V the shear force, M the
bending moment and T the torsion at the shared face (the beam's midpoint); compression goes through face
contact and is not limited. A broken joint still resists overlap of its two faces (compression only).

Parameters may be scalars or one value per part type, with ``types`` (one int per particle) choosing the type;
a joint between two types is the two half-joints in series (stiffness 2 k1 k2 / (k1 + k2)) and as strong as
the weaker. Units: SI (N, m, N m, kg/m^3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import splu

from physics.errors import PhysicsError
from physics.laws import voxel_joint_kernels as kern
from physics.laws.base import ForceLaw, register_law

# Stencil order of a horizon-1 lattice (physics.lattice.stencil_offsets): -x, -y, -z, +z, +y, +x.
_FACES = np.array([[-1, 0, 0], [0, -1, 0], [0, 0, -1], [0, 0, 1], [0, 1, 0], [1, 0, 0]])
_PLUS_BIT = {0: 5, 1: 4, 2: 3}  # stencil index of +axis
_MINUS_BIT = {0: 0, 1: 1, 2: 2}
IDENTITY = np.array([1.0, 0.0, 0.0, 0.0])
STIFFNESS_NAMES = ("axial_stiffness", "shear_stiffness", "bending_stiffness", "torsion_stiffness")
STRENGTH_NAMES = ("tensile_strength", "shear_strength", "bending_strength", "torsion_strength")


def permutation(axis: int) -> np.ndarray:
    """3 x 3 matrix P with local = P @ global: local x along ``axis``, then the next two axes cyclically."""
    return np.eye(3)[[axis, (axis + 1) % 3, (axis + 2) % 3]]


def element_matrix(ka, ks, kb, kt, length: float) -> np.ndarray:
    """(..., 12, 12) local stiffness K of a joint (DOFs u_i, theta_i, u_j, theta_j; joint axis = local x): the
    elastic forces are K d, the loads on the voxels -K d. Shear stiffness ``ks`` <= 0 or inf: Euler-Bernoulli."""
    ka, ks, kb, kt = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (ka, ks, kb, kt)))
    L = float(length)
    with np.errstate(divide="ignore", invalid="ignore"):
        phi = np.where((ks > 0) & np.isfinite(ks), 12.0 * kb / (ks * L * L), 0.0)
    c = kb / (L * L * (1.0 + phi))
    K = np.zeros(ka.shape + (12, 12))

    def put(r, s, v):
        K[..., r, s] = v
        K[..., s, r] = v

    put(0, 0, ka), put(6, 6, ka), put(0, 6, -ka)
    put(3, 3, kt), put(9, 9, kt), put(3, 9, -kt)
    # xy plane: v (1, 7), theta_z (5, 11)
    put(1, 1, 12 * c), put(1, 5, 6 * L * c), put(1, 7, -12 * c), put(1, 11, 6 * L * c)
    put(5, 5, (4 + phi) * L * L * c), put(5, 7, -6 * L * c), put(5, 11, (2 - phi) * L * L * c)
    put(7, 7, 12 * c), put(7, 11, -6 * L * c), put(11, 11, (4 + phi) * L * L * c)
    # xz plane: w (2, 8), theta_y (4, 10)
    put(2, 2, 12 * c), put(2, 4, -6 * L * c), put(2, 8, -12 * c), put(2, 10, -6 * L * c)
    put(4, 4, (4 + phi) * L * L * c), put(4, 8, 6 * L * c), put(4, 10, (2 - phi) * L * L * c)
    put(8, 8, 12 * c), put(8, 10, 6 * L * c), put(10, 10, (4 + phi) * L * L * c)
    return K


def nested_dissection(ijk: np.ndarray, leaf: int = 8) -> np.ndarray:
    """An elimination order of voxels (integer lattice indices, (n, 3)) by geometric nested dissection: halves
    along the longest extent, each half first, the separating plane of voxels last. On a 1,152-voxel block it
    leaves SuperLU 3.8 M factor entries in 3.3 s against 21 M in 131 s with its minimum-degree ordering."""
    ijk = np.asarray(ijk, dtype=np.int64)
    out: list[np.ndarray] = []

    def split(idx: np.ndarray) -> None:
        if len(idx) <= leaf:
            out.append(idx)
            return
        pts = ijk[idx]
        axis = int(np.argmax(np.ptp(pts, axis=0)))
        c = pts[:, axis]
        cut = int(np.round(np.median(c)))
        if not (c == cut).any() or (c < cut).sum() == 0:
            cut = int(c.min())
        split(idx[c < cut])
        split(idx[c > cut])
        out.append(idx[c == cut])

    split(np.arange(len(ijk)))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def factorize(K: sp.spmatrix, ijk: np.ndarray | None):
    """A solver for the SPD joint stiffness ``K`` over voxels ``ijk`` (6 DOFs each, in that order): SuperLU on
    the nested-dissection order, symmetric mode (no row pivoting). Returns solve(rhs) -> x. ``ijk`` None: ``K``
    is in its elimination order already (no permutation around each solve)."""
    if ijk is None:
        lu = splu(sp.csc_matrix(K), permc_spec="NATURAL", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
        return lu.solve
    order = nested_dissection(ijk)
    perm = (6 * order[:, None] + np.arange(6)).ravel()
    lu = splu(sp.csc_matrix(K)[perm][:, perm].tocsc(), permc_spec="NATURAL", diag_pivot_thresh=0.0,
              options={"SymmetricMode": True})  # fmt: skip

    def solve(rhs: np.ndarray) -> np.ndarray:
        x = np.empty_like(rhs)
        x[perm] = lu.solve(rhs[perm])
        return x

    return solve


def _per_type(value, name: str) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if arr.ndim != 1 or not np.all(arr > 0) or np.isnan(arr).any():
        raise PhysicsError(f"voxel joint {name} must be positive (one value per part type), got {value!r}")
    return arr


@register_law
@dataclass
class VoxelJoint(ForceLaw):
    """Beam-like joints between face-neighbour voxels (see the module docstring); SI units.

    Strengths default to infinity (joints never break). ``types``: (n,) part type of each particle (default 0).
    """

    axial_stiffness: float | np.ndarray = 1e6
    shear_stiffness: float | np.ndarray = math.inf
    bending_stiffness: float | np.ndarray = 1.0
    torsion_stiffness: float | np.ndarray = 1.0
    tensile_strength: float | np.ndarray = math.inf
    shear_strength: float | np.ndarray = math.inf
    bending_strength: float | np.ndarray = math.inf
    torsion_strength: float | np.ndarray = math.inf
    inertia_factor: float = 1.0 / 6.0
    types: np.ndarray | None = None
    breaking: bool = True
    name: str = field(default="voxel_joint", init=False)
    rotational: bool = field(default=True, init=False)

    def __post_init__(self) -> None:
        self._stiff = [_per_type(getattr(self, k), k) for k in STIFFNESS_NAMES]
        self._strength = [_per_type(getattr(self, k), k) for k in STRENGTH_NAMES]
        sizes = {len(a) for a in self._stiff + self._strength} - {1}
        if len(sizes) > 1:
            raise PhysicsError(f"voxel joint parameters give different numbers of part types: {sorted(sizes)}")
        self.type_count = sizes.pop() if sizes else 1
        if not (self.inertia_factor > 0):
            raise PhysicsError(f"inertia_factor must be positive, got {self.inertia_factor}")

    # ---- setup ------------------------------------------------------------------------------------------
    def setup(self, body) -> None:
        lat = body.lattice
        if lat.dimension != 3 or len(lat.stencil) != 6:
            raise PhysicsError(
                "voxel joints join face neighbours only: build the body with horizon_cells=1.0 "
                "(Body.from_occupancy(..., horizon_cells=1.0)) on a 3D lattice"
            )
        n = body.count
        types = np.zeros(n, dtype=np.int64) if self.types is None else np.asarray(self.types, dtype=np.int64)
        if types.shape != (n,) or (n and (types.min() < 0 or types.max() >= self.type_count)):
            raise PhysicsError(f"types must be {n} part-type indices in 0..{self.type_count - 1}")
        self.spacing = lat.spacing
        self.volume = body.particle_volume
        self.mass = body.density * body.particle_volume
        self.inertia = self.inertia_factor * self.mass * lat.spacing**2
        self.x0 = body.positions()
        self._ijk = lat.ijk
        nbr = lat.neighbours()
        ji, jj, axis = [], [], []
        for a in range(3):
            col = nbr[:, _PLUS_BIT[a]]
            has = np.flatnonzero(col >= 0)
            ji.append(has)
            jj.append(col[has].astype(np.int64))
            axis.append(np.full(len(has), a, dtype=np.int64))
        ji, jj, axis = np.concatenate(ji).astype(np.int64), np.concatenate(jj), np.concatenate(axis)
        self.bind_joints(ji, jj, axis, types[ji], types[jj], lat.spacing)
        self._force = np.zeros((n, 3))
        self._torque = np.zeros((n, 3))

    def bind_joints(self, ji, jj, axis, type_i, type_j, spacing: float) -> None:
        """Set the joint list (voxel j = voxel i + e_axis) and each joint's stiffness and strength from the part
        types of its two voxels; all intact. ``setup`` calls this; so does physics.assembly for build states."""
        self.spacing = float(spacing)
        self.ji = np.asarray(ji, dtype=np.int64)
        self.jj = np.asarray(jj, dtype=np.int64)
        self.axis = np.asarray(axis, dtype=np.int64)
        ti = np.asarray(type_i, dtype=np.int64)
        tj = np.asarray(type_j, dtype=np.int64)

        def joint_value(per_type: np.ndarray, strength: bool) -> np.ndarray:
            k1 = per_type[np.minimum(ti, len(per_type) - 1)]
            k2 = per_type[np.minimum(tj, len(per_type) - 1)]
            if strength:
                return np.minimum(k1, k2)
            # half-joints in series, each twice as stiff as its type's joint; a rigid half leaves 2 k of the other
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.where(np.isinf(k1), 2.0 * k2, np.where(np.isinf(k2), 2.0 * k1, 2.0 * k1 * k2 / (k1 + k2)))

        self.ka, self.ks, self.kb, self.kt = (joint_value(v, False) for v in self._stiff)
        self.ks = np.where(np.isfinite(self.ks), self.ks, 0.0)  # 0 marks Euler-Bernoulli in the kernel
        self.strength = np.column_stack([joint_value(v, True) for v in self._strength])
        self.intact = np.ones(len(self.ji), dtype=np.bool_)
        self.util = np.zeros(len(self.ji))
        self.section = np.zeros((len(self.ji), 4))

    @property
    def joints(self) -> int:
        return int(len(self.ji))

    def initial_bonds(self, body) -> np.ndarray:
        """(1, n) uint32: bit b set where stencil neighbour b (a face neighbour) is joined."""
        nbr = body.lattice.neighbours()
        bits = np.zeros((1, body.count), dtype=np.uint32)
        for b in range(6):
            bits[0] |= np.where(nbr[:, b] >= 0, np.uint32(1 << b), np.uint32(0))
        return bits

    def sync_bits(self, sim) -> None:
        """Clear the bond bits of broken joints (fragments, damage and outputs read the bits)."""
        broken = np.flatnonzero(~self.intact)
        for a in range(3):
            e = broken[self.axis[broken] == a]
            np.bitwise_and.at(sim.bits[0], self.ji[e], np.uint32(~(1 << _PLUS_BIT[a]) & 0xFFFFFFFF))
            np.bitwise_and.at(sim.bits[0], self.jj[e], np.uint32(~(1 << _MINUS_BIT[a]) & 0xFFFFFFFF))

    # ---- dynamics ---------------------------------------------------------------------------------------
    def compute(self, sim) -> None:
        """Force and torque densities (N/m^3, N m/m^3) into sim.force and sim.torque; joints break as they go."""
        broke = kern.joint_forces(
            self.x0, sim.u, sim.q, self.ji, self.jj, self.axis, self.ka, self.ks, self.kb, self.kt,
            self.strength, self.intact, self.spacing, self.breaking, self._force, self._torque, self.util,
            self.section,
        )  # fmt: skip
        inv = 1.0 / self.volume
        np.multiply(self._force, inv, out=sim.force)
        np.multiply(self._torque, inv, out=sim.torque)
        if broke:
            self.sync_bits(sim)

    def stable_time_step(self, body) -> float:
        """Largest stable explicit step (s): 2 / omega_max with omega_max^2 bounded by Gershgorin's theorem on
        M^-1/2 K M^-1/2, every voxel counted with six joints of the stiffest type."""
        if not hasattr(self, "ka"):
            self.setup(body)
        mass = body.density * body.particle_volume
        inertia = self.inertia_factor * mass * body.lattice.spacing**2
        scale = 1.0 / np.sqrt(np.array([mass] * 3 + [inertia] * 3 + [mass] * 3 + [inertia] * 3))
        worst = 0.0
        for k in {(float(a), float(s), float(b), float(t)) for a, s, b, t in
                  zip(self.ka, self.ks, self.kb, self.kt, strict=True)} or {(0.0, 0.0, 0.0, 0.0)}:  # fmt: skip
            K = element_matrix(k[0], k[1] if k[1] > 0 else np.inf, k[2], k[3], body.lattice.spacing)
            worst = max(worst, float((np.abs(K) * scale[:, None] * scale[None, :]).sum(axis=1).max()))
        if worst <= 0:
            return math.inf
        return 2.0 / math.sqrt(6.0 * worst)

    def kinetic_energy(self, sim) -> float:
        """Translational plus rotational kinetic energy, J."""
        return 0.5 * self.mass * float((sim.v**2).sum()) + 0.5 * self.inertia * float((sim.w**2).sum())

    # ---- fields -----------------------------------------------------------------------------------------
    def state_dofs(self, sim) -> np.ndarray:
        """(6n,) the simulation's state as small-displacement DOFs: displacement and rotation vector per voxel."""
        d = np.zeros((sim.body.count, 6))
        d[:, :3] = sim.u
        kern.rotvecs_from_quaternions(sim.q, d[:, 3:])
        return d.ravel()

    def _joint_loads(self, sim) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(intact joints, their DOFs' values (m, 12), the loads -K d they put on their voxels' DOFs (m, 12))."""
        e = np.flatnonzero(self.intact)
        d = self.state_dofs(sim)[self.joint_dofs(e)]
        return e, d, -np.einsum("mij,mj->mi", self.element_matrices(e), d)

    def strain_energy_density(self, sim) -> np.ndarray:
        """(n,) J/m^3: half of each intact joint's elastic energy 1/2 d^T K d to each of its two voxels, over the
        voxel's volume (the small-displacement model of the static solve, at the simulation's state)."""
        e, d, loads = self._joint_loads(sim)
        energy = -0.25 * np.einsum("mi,mi->m", d, loads)  # half of 1/2 d^T K d to each voxel
        out = np.zeros(sim.body.count)
        np.add.at(out, self.ji[e], energy)
        np.add.at(out, self.jj[e], energy)
        return out / self.volume

    def stress(self, sim) -> np.ndarray:
        """(n, 3, 3) Pa: the virial of the joint forces, sigma_i = 1/(2 V) sum f_i (x) r_i over voxel i's intact
        joints (f_i the joint's force on voxel i, r_i = a along the joint towards the other voxel), symmetrised
        (the joint moments carry the rest, as couple stress): a column of voxels under an axial force N has
        sigma = N / a^2 inside. Small-displacement model, as ``strain_energy_density``."""
        e, _d, loads = self._joint_loads(sim)
        r = self.spacing * np.eye(3)[self.axis[e]]
        out = np.zeros((sim.body.count, 3, 3))
        np.add.at(out, self.ji[e], np.einsum("ma,mb->mab", loads[:, 0:3], r))
        np.add.at(out, self.jj[e], np.einsum("ma,mb->mab", loads[:, 6:9], -r))
        out *= 0.5 / self.volume
        return 0.5 * (out + out.transpose(0, 2, 1))

    # ---- statics ----------------------------------------------------------------------------------------
    def stiffness_matrix(self, n: int, joints: np.ndarray | None = None) -> sp.csr_matrix:
        """(6n, 6n) sparse stiffness of the intact joints (or of ``joints``, indices), small displacements;
        DOFs per voxel: ux, uy, uz, theta_x, theta_y, theta_z."""
        e = np.flatnonzero(self.intact) if joints is None else np.asarray(joints, dtype=np.int64)
        K = self.element_matrices(e)
        dofs = self.joint_dofs(e)
        rows = np.broadcast_to(dofs[:, :, None], K.shape).ravel()
        cols = np.broadcast_to(dofs[:, None, :], K.shape).ravel()
        return sp.csr_matrix((K.ravel(), (rows, cols)), shape=(6 * n, 6 * n))

    def _joints(self, joints) -> np.ndarray:
        return np.arange(len(self.ji)) if joints is None else np.asarray(joints, dtype=np.int64)

    def joint_dofs(self, joints: np.ndarray | None = None) -> np.ndarray:
        """(m, 12) global DOF indices of each joint (all, or ``joints``): voxel i's six (6 i .. 6 i + 5), then
        voxel j's; a voxel index past the body's voxels (a held node such as a build plate) gives DOFs past 6 n."""
        e = self._joints(joints)
        base = np.arange(6)
        return np.concatenate([6 * self.ji[e][:, None] + base, 6 * self.jj[e][:, None] + base], axis=1)

    def _transforms(self, e: np.ndarray) -> np.ndarray:
        """(m, 12, 12) block-diagonal local <- global rotations of joints ``e``."""
        T = np.zeros((3, 12, 12))
        for a in range(3):
            for blk in range(4):
                T[a, 3 * blk : 3 * blk + 3, 3 * blk : 3 * blk + 3] = permutation(a)
        return T[self.axis[e]]

    def _local_elements(self, e: np.ndarray) -> np.ndarray:
        ks = np.where(self.ks[e] > 0, self.ks[e], np.inf)
        return element_matrix(self.ka[e], ks, self.kb[e], self.kt[e], self.spacing)

    def element_matrices(self, joints: np.ndarray | None = None) -> np.ndarray:
        """(m, 12, 12) stiffness of each joint (all, or ``joints``) in global axes over its ``joint_dofs``
        (N/m, N/rad, N m/m, N m/rad): the elastic loads on its two voxels are -K d."""
        e = self._joints(joints)
        T = self._transforms(e)
        return np.einsum("mji,mjk,mkl->mil", T, self._local_elements(e), T, optimize=True)

    def section_maps(self, joints: np.ndarray | None = None) -> np.ndarray:
        """(m, 6, 12) linear map from each joint's 12 global DOFs (``joint_dofs``) to its section resultants at
        the shared face, small displacements: axial N (tension +), shear V_y, V_z, torsion T, bending M_y, M_z
        (local axes: x along the joint; N, N m)."""
        e = self._joints(joints)
        pick = np.zeros((6, 12))  # end forces of the element -> section at its midpoint
        pick[0, 0], pick[1, 1], pick[2, 2], pick[3, 3] = -1.0, 1.0, 1.0, -1.0
        pick[4, 4], pick[4, 10], pick[5, 5], pick[5, 11] = 0.5, -0.5, 0.5, -0.5
        return np.einsum("ij,mjk,mkl->mil", pick, self._local_elements(e), self._transforms(e), optimize=True)

    def sections(self, dofs: np.ndarray, joints: np.ndarray | None = None) -> np.ndarray:
        """(m, 6) section resultants at the shared face of each joint from a (6n,) small-displacement solution:
        axial N (tension +), shear V_y, V_z, torsion T, bending M_y, M_z (local axes; N, N m)."""
        e = self._joints(joints)
        return np.einsum("mij,mj->mi", self.section_maps(e), dofs[self.joint_dofs(e)])

    def utilisation(self, sections: np.ndarray, joints: np.ndarray | None = None) -> np.ndarray:
        """U = max(N, 0)/N_u + V/V_u + M/M_u + |T|/T_u of each joint from its ``sections`` rows."""
        s = self.strength if joints is None else self.strength[joints]
        shear = np.hypot(sections[:, 1], sections[:, 2])
        moment = np.hypot(sections[:, 4], sections[:, 5])
        return (np.maximum(sections[:, 0], 0.0) / s[:, 0] + shear / s[:, 1] + moment / s[:, 2]
                + np.abs(sections[:, 3]) / s[:, 3])  # fmt: skip

    def _static_loads(self, sim) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(prescribed displacements and rotations (n, 6), external load vector (6n,) in N and N m, held mask (n,))
        with every condition at its full value (supports hold rotations at zero, a Rotation turns its set)."""
        n = sim.body.count
        sim.u[:] = 0.0
        sim.v[:] = 0.0
        sim.q[:] = IDENTITY
        sim.w[:] = 0.0
        t = math.inf
        for cond in sim.conditions:
            cond.prescribe(sim, t)
        presc = np.zeros((n, 6))
        presc[:, :3] = sim.u
        kern.rotvecs_from_quaternions(sim.q, presc[:, 3:])
        sim.force[:] = 0.0
        sim.torque[:] = 0.0
        for cond in sim.conditions:
            cond.load(sim, t)
        load = np.zeros((n, 6))
        load[:, :3] = sim.force * self.volume
        load[:, 3:] = sim.torque * self.volume
        return presc, load.ravel(), ~sim.free

    def check_supported(self, held: np.ndarray, intact: np.ndarray | None = None) -> None:
        """PhysicsError unless every group of voxels joined by intact joints holds at least one held voxel."""
        count, labels = self.components(len(held), intact)
        supported = np.zeros(count, dtype=bool)
        supported[labels[held]] = True
        if not supported.all():
            loose = int(np.count_nonzero(~supported[labels]))
            raise PhysicsError(
                f"{loose} voxel(s) are joined to no fixed or driven voxel (a loose piece): hold the structure "
                "or join every piece to it"
            )

    def components(self, n: int, intact: np.ndarray | None = None) -> tuple[int, np.ndarray]:
        """(count, label per voxel) of the groups joined by intact joints."""
        keep = self.intact if intact is None else intact
        graph = sp.coo_matrix((np.ones(int(keep.sum())), (self.ji[keep], self.jj[keep])), shape=(n, n))
        count, labels = connected_components(graph, directed=False)
        return int(count), labels

    def solve_linear(self, sim, load: np.ndarray, presc: np.ndarray, held: np.ndarray) -> np.ndarray:
        """(6n,) small-displacement solution of K d = load with held voxels at ``presc`` ((n, 6) displacements and
        rotation vectors); direct sparse LU (SuperLU on a nested-dissection order of the voxels)."""
        n = sim.body.count
        self.check_supported(held)
        K = self.stiffness_matrix(n).tocsc()
        fixed = np.repeat(held, 6)
        d = np.zeros(6 * n)
        d.reshape(n, 6)[held] = presc[held]
        free = ~fixed
        rhs = load[free] - K[free][:, fixed] @ d[fixed]
        Kff = K[free][:, free].tocsc()
        if Kff.shape[0]:
            try:
                d[free] = factorize(Kff, self._ijk[~held])(rhs)
            except RuntimeError as exc:  # singular: a mechanism the connectivity test cannot see
                raise PhysicsError(f"the joint stiffness matrix is singular ({exc}): the structure is a mechanism") from None
        return d

    def apply_solution(self, sim, d: np.ndarray, K: sp.spmatrix | None = None) -> None:
        """Set the simulation's displacements and orientations from a (6n,) small-displacement solution; the
        joint forces and torques (sim.force, sim.torque, sim.internal) are those of the linear model, -K d, so
        that they balance the loads exactly (the co-rotated kernel differs at second order in the rotations)."""
        n = sim.body.count
        dd = d.reshape(n, 6)
        sim.u[:] = dd[:, :3]
        kern.quaternions_from_rotvecs(np.ascontiguousarray(dd[:, 3:]), sim.q)
        K = self.stiffness_matrix(n) if K is None else K
        f = -(K @ d).reshape(n, 6) / self.volume
        sim.force[:] = f[:, :3]
        sim.torque[:] = f[:, 3:]
        sim.internal[:] = sim.force

    def relax(self, sim, max_steps: int = 0, tolerance: float = 0.0, callback=None) -> dict:
        """Static equilibrium by one direct sparse solve of the small-displacement joint model (loads at full
        value; joints do not break here: see ``failure``). Fills ``util`` and ``section`` (N, V, M, |T| per
        joint) from the linear model. Returns relax's dict (steps = 1; residual: max |K d - f| / max |f|)."""
        presc, load, held = self._static_loads(sim)
        d = self.solve_linear(sim, load, presc, held)
        K = self.stiffness_matrix(sim.body.count)
        self.apply_solution(sim, d, K)
        sections = self.sections(d)
        self.util = self.utilisation(sections)
        self.util[~self.intact] = 0.0
        self.section = np.column_stack([sections[:, 0], np.hypot(sections[:, 1], sections[:, 2]),
                                        np.hypot(sections[:, 4], sections[:, 5]), np.abs(sections[:, 3])])  # fmt: skip
        self.section[~self.intact] = 0.0
        free = np.repeat(sim.free, 6)
        residual = (K @ d - load)[free]
        scale = max(float(np.abs(load).max()), 1e-300)
        sim.v[:] = 0.0
        sim.w[:] = 0.0
        return {"steps": 1, "residual": float(np.abs(residual).max() / scale) if residual.size else 0.0,
                "converged": True, "stopped": False, "stalled": False, "score": None}  # fmt: skip

    def failure(self, sim, *, dead_loads=(), max_events: int = 500) -> dict:
        """Progressive failure under proportional loading (event by event, linear between breaks).

        The live loads (every condition except ``dead_loads``, e.g. gravity, which stay at 1x) grow by a factor
        lambda until the most used joint reaches U = 1; it breaks, the structure is solved again, and the factor
        needed for the next break is found. A break needing less than the current factor cascades at it. The
        structure fails when a piece comes loose from every support. Returns {"first_break", "failure_factor",
        "events": [(factor, joint), ...], "collapsed", "broken"}; leaves the joints broken as they failed.
        """
        n = sim.body.count
        presc, live_load, dead_load, held = self.load_cases(sim, dead_loads)
        events: list[tuple[float, int]] = []
        current = 0.0
        collapsed = False
        for _ in range(max_events):
            count, labels = self.components(n)
            supported = np.zeros(count, dtype=bool)
            supported[labels[held]] = True
            if not supported.all():
                collapsed = True
                break
            d_live = self.solve_linear(sim, live_load, presc, held)
            d_dead = self.solve_linear(sim, dead_load, np.zeros_like(presc), held)
            e = np.flatnonzero(self.intact)
            s_live = self.sections(d_live, e)
            s_dead = self.sections(d_dead, e)
            factors = self._breaking_factors(s_dead, s_live, e)
            k = int(np.argmin(factors))
            lam = float(factors[k])
            if not np.isfinite(lam):
                break  # no joint ever breaks under these loads
            if lam < 0:  # already over strength under the dead loads alone
                lam = 0.0
            current = max(current, lam)
            self.intact[e[k]] = False
            events.append((lam, int(e[k])))
        self.sync_bits(sim)
        return {
            "first_break": events[0][0] if events else math.inf,
            "failure_factor": current if collapsed else math.inf,
            "events": events,
            "collapsed": collapsed,
            "broken": int((~self.intact).sum()),
        }

    def load_cases(self, sim, dead_loads=()) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(prescribed displacements, live load vector, dead load vector, held mask): the conditions in
        ``dead_loads`` (e.g. gravity) apart from the rest, each at full value."""
        live = [c for c in sim.conditions if not any(c is d for d in dead_loads)]
        dead = [c for c in sim.conditions if any(c is d for d in dead_loads)]
        conditions = sim.conditions
        try:
            sim.conditions = live
            presc, live_load, held = self._static_loads(sim)
            sim.conditions = dead + [c for c in live if c.held() is not None]
            _p, dead_load, _h = self._static_loads(sim)
        finally:
            sim.conditions = conditions
        return presc, live_load, dead_load, held

    def first_break_factor(self, sim, dead_loads=()) -> tuple[float, int]:
        """(factor on the live loads at which the first joint breaks, that joint) with the dead loads at 1x and
        the joints as they are; (inf, -1) when none ever breaks. Resets the displacements (solve after it)."""
        presc, live_load, dead_load, held = self.load_cases(sim, dead_loads)
        d_live = self.solve_linear(sim, live_load, presc, held)
        d_dead = self.solve_linear(sim, dead_load, np.zeros_like(presc), held)
        e = np.flatnonzero(self.intact)
        factors = self._breaking_factors(self.sections(d_dead, e), self.sections(d_live, e), e)
        if not len(e):
            return math.inf, -1
        k = int(np.argmin(factors))
        return max(float(factors[k]), 0.0), int(e[k])

    def _breaking_factors(self, s_dead: np.ndarray, s_live: np.ndarray, e: np.ndarray) -> np.ndarray:
        """Smallest lambda >= 0 with U(dead + lambda live) = 1 per joint (U is convex in lambda); inf where it
        never gets there, a negative value where U(dead) >= 1 already."""
        u0 = self.utilisation(s_dead, e)
        out = np.full(len(e), np.inf)
        out[u0 >= 1.0] = -1.0
        todo = np.flatnonzero(u0 < 1.0)
        if not len(todo):
            return out
        hi = np.ones(len(todo))
        sd, sl, je = s_dead[todo], s_live[todo], e[todo]
        for _ in range(60):  # grow the bracket
            over = self.utilisation(sd + hi[:, None] * sl, je) >= 1.0
            if over.all():
                break
            hi = np.where(over, hi, hi * 4.0)
        over = self.utilisation(sd + hi[:, None] * sl, je) >= 1.0
        lo = np.zeros(len(todo))
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            above = self.utilisation(sd + mid[:, None] * sl, je) >= 1.0
            hi = np.where(above, mid, hi)
            lo = np.where(above, lo, mid)
        out[todo] = np.where(over, hi, np.inf)
        return out
