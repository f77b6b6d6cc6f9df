"""Kernels of the voxel-joint law: the joint force loop and conversions between quaternions and rotation vectors (numba, serial).

Quaternions are [w, x, y, z] (unit, body -> world). A joint joins voxel i to its face neighbour j = i + e_axis.
Its forces are those of a Timoshenko beam element between the two voxel centres, evaluated in the joint's
co-rotated frame: the mean orientation of its two voxels (so a rigid rotation of the pair makes no force, at any
angle), with the joint axis as local x (a cyclic permutation of the global axes). Sign convention of the local
element: see physics/laws/voxel_joint.py (``element_matrix``), which the linear static solve assembles; the
kernel's linearisation is that matrix (tests check it).

Serial on purpose: each joint scatters to both voxels; a law evaluation on 10,000 voxels costs about 2 ms.
"""

from __future__ import annotations

import math

from numba import njit

from physics.rotations import qexp, qmul, qrotate, qrotvec


@njit(cache=True)
def joint_forces(
    x0, u, q, ji, jj, axis, ka, ks, kb, kt, strength, intact, spacing, breaking, force, torque, util, section
):
    """Add every joint's forces (N) and moments (N m) on its two voxels to ``force`` and ``torque`` (zeroed
    here), write its utilisation to ``util`` and its section resultants at the shared face to ``section``
    (m, 4: axial N (tension +), shear V, bending moment M, torsion T; N, N m). With ``breaking``, a joint whose
    utilisation reaches 1 is marked broken in ``intact`` (and makes no force from this evaluation on). A broken
    joint still pushes its faces apart when they overlap (compression only): contact where fragments meet.

    ``strength`` (m, 4): tensile force, shear force, bending moment, torsion moment at which a joint breaks
    alone; together they interact linearly: U = max(N, 0)/N_u + V/V_u + M/M_u + |T|/T_u (compression carried
    by face contact is not limited). Returns the number of joints broken by this call.
    """
    force[:] = 0.0
    torque[:] = 0.0
    L = spacing
    broke = 0
    for e in range(ji.shape[0]):
        i = ji[e]
        j = jj[e]
        a = axis[e]
        b = (a + 1) % 3
        c = (a + 2) % 3
        qi0, qi1, qi2, qi3 = q[i, 0], q[i, 1], q[i, 2], q[i, 3]
        qj0, qj1, qj2, qj3 = q[j, 0], q[j, 1], q[j, 2], q[j, 3]
        if qi0 * qj0 + qi1 * qj1 + qi2 * qj2 + qi3 * qj3 < 0.0:
            qj0, qj1, qj2, qj3 = -qj0, -qj1, -qj2, -qj3
        m0, m1, m2, m3 = qi0 + qj0, qi1 + qj1, qi2 + qj2, qi3 + qj3
        nm = 1.0 / math.sqrt(m0 * m0 + m1 * m1 + m2 * m2 + m3 * m3)
        m0, m1, m2, m3 = m0 * nm, m1 * nm, m2 * nm, m3 * nm
        # relative position in the mean frame
        dx = x0[j, 0] + u[j, 0] - x0[i, 0] - u[i, 0]
        dy = x0[j, 1] + u[j, 1] - x0[i, 1] - u[i, 1]
        dz = x0[j, 2] + u[j, 2] - x0[i, 2] - u[i, 2]
        d = qrotate(m0, -m1, -m2, -m3, dx, dy, dz)
        ux, uy, uz = d[a] - L, d[b], d[c]
        if not intact[e]:
            if ux < 0.0:  # faces overlap: contact pushes them apart along the axis
                f = ka[e] * ux
                gx, gy, gz = _unpermute(a, f, 0.0, 0.0)
                g = qrotate(m0, m1, m2, m3, gx, gy, gz)
                for k in range(3):
                    force[i, k] += g[k]
                    force[j, k] -= g[k]
            continue
        # rotations of each voxel relative to the mean frame, in local axes
        ri = qmul(m0, -m1, -m2, -m3, qi0, qi1, qi2, qi3)
        rj = qmul(m0, -m1, -m2, -m3, qj0, qj1, qj2, qj3)
        ti = qrotvec(ri[0], ri[1], ri[2], ri[3])
        tj = qrotvec(rj[0], rj[1], rj[2], rj[3])
        tix, tiy, tiz = ti[a], ti[b], ti[c]
        tjx, tjy, tjz = tj[a], tj[b], tj[c]
        phi = 12.0 * kb[e] / (ks[e] * L * L) if ks[e] > 0.0 else 0.0
        cc = kb[e] / (L * L * (1.0 + phi))
        n_ax = ka[e] * ux
        t_or = kt[e] * (tjx - tix)
        # elastic forces K u of the element (xy plane: v, theta_z; xz plane: w, theta_y)
        fiy = cc * (-12.0 * uy + 6.0 * L * (tiz + tjz))
        miz = cc * (-6.0 * L * uy + (4.0 + phi) * L * L * tiz + (2.0 - phi) * L * L * tjz)
        mjz = cc * (-6.0 * L * uy + (2.0 - phi) * L * L * tiz + (4.0 + phi) * L * L * tjz)
        fiz = cc * (-12.0 * uz - 6.0 * L * (tiy + tjy))
        miy = cc * (6.0 * L * uz + (4.0 + phi) * L * L * tiy + (2.0 - phi) * L * L * tjy)
        mjy = cc * (6.0 * L * uz + (2.0 - phi) * L * L * tiy + (4.0 + phi) * L * L * tjy)
        # section at the shared face: moment 0.5 (M_j - M_i) of the node moments (-K u)
        shear = math.sqrt(fiy * fiy + fiz * fiz)
        my = 0.5 * (miy - mjy)
        mz = 0.5 * (miz - mjz)
        moment = math.sqrt(my * my + mz * mz)
        ut = (
            max(n_ax, 0.0) / strength[e, 0]
            + shear / strength[e, 1]
            + moment / strength[e, 2]
            + abs(t_or) / strength[e, 3]
        )
        util[e] = ut
        section[e, 0] = n_ax
        section[e, 1] = shear
        section[e, 2] = moment
        section[e, 3] = abs(t_or)
        if breaking and ut >= 1.0:
            intact[e] = False
            broke += 1
            continue
        # node loads (-K u), back to world axes
        gx, gy, gz = _unpermute(a, n_ax, -fiy, -fiz)
        fi = qrotate(m0, m1, m2, m3, gx, gy, gz)
        gx, gy, gz = _unpermute(a, t_or, -miy, -miz)
        mi = qrotate(m0, m1, m2, m3, gx, gy, gz)
        gx, gy, gz = _unpermute(a, -t_or, -mjy, -mjz)
        mj = qrotate(m0, m1, m2, m3, gx, gy, gz)
        for k in range(3):
            force[i, k] += fi[k]
            force[j, k] -= fi[k]
            torque[i, k] += mi[k]
            torque[j, k] += mj[k]
    return broke


@njit(cache=True, inline="always")
def _unpermute(a, lx, ly, lz):
    """Local (joint axis first, then the next two axes cyclically) -> global components."""
    if a == 0:
        return lx, ly, lz
    if a == 1:
        return lz, lx, ly
    return ly, lz, lx


@njit(cache=True)
def quaternions_from_rotvecs(r, q):
    """q[i] = exp(r[i]) for (n, 3) rotation vectors."""
    for i in range(r.shape[0]):
        p = qexp(r[i, 0], r[i, 1], r[i, 2])
        for k in range(4):
            q[i, k] = p[k]


@njit(cache=True)
def rotvecs_from_quaternions(q, r):
    """r[i] = log(q[i]) (rotation vectors, rad)."""
    for i in range(q.shape[0]):
        p = qrotvec(q[i, 0], q[i, 1], q[i, 2], q[i, 3])
        for k in range(3):
            r[i, k] = p[k]
