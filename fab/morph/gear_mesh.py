"""Meshing of a gear with a copy of itself, from the 2D tooth profile alone.

A tooth is described by its polar half-angle h(R): at radius R the tooth spans [-h, h] about its
centre line (symmetric teeth). Two copies are placed at centre distance ``a``; the driver turns
counter-clockwise by theta1, the driven gear clockwise. For every driver angle the driven gear's
angle is found exactly for the sampled driver outline: each driver flank point at distance R' from
the driven centre must stay outside the driven tooth (its flank sits at h(R') there), which bounds
the driven angle from below (working flanks) and from above (coast flanks). The lower bound with the
driven gear held back by a load torque gives the unloaded transmission error; the gap between the
bounds is the backlash; a driver tip inside the driven root circle, or bounds that cross, is
interference.

Loaded transmission error: each tooth pair in or near contact is a spring along the contact normal
whose compliance is that of two cantilever teeth (bending + shear + axial, Euler-Bernoulli on the
tooth's own chordal thickness, fixed half a module below the root circle) plus a contact term; the
torque is shared among the pairs by their gaps and stiffnesses. Units: mm and rad for geometry, SI
(N, m, Pa) for the load model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Angular tolerance (as an arc in mm at the pitch radius) under which a tooth pair counts as touching.
CONTACT_TOL_MM = 1e-3


@dataclass(frozen=True)
class ToothProfile:
    """h(R) of one tooth sampled at increasing radii (mm, rad); nan-free, 0 where the tooth ends."""

    module: float
    teeth: int
    radii: np.ndarray
    half_angle: np.ndarray

    @property
    def pitch_radius(self) -> float:
        return self.module * self.teeth / 2

    @property
    def root_radius(self) -> float:
        return float(self.radii[0])

    @property
    def tip_radius(self) -> float:
        """Outermost radius with material (a pointed tooth ends below the blank)."""
        solid = np.nonzero(self.half_angle > 0)[0]
        return float(self.radii[solid[-1]]) if len(solid) else float(self.radii[0])

    def h(self, radius: np.ndarray) -> np.ndarray:
        """Half-angle at any radius: full pitch below the root, 0 above the tip."""
        radius = np.asarray(radius, dtype=float)
        out = np.interp(radius, self.radii, self.half_angle, left=math.pi / self.teeth, right=0.0)
        return out

    def chord_thickness(self) -> np.ndarray:
        """Chordal tooth thickness 2 R sin h(R) at the sampled radii, mm."""
        return 2 * self.radii * np.sin(self.half_angle)


@dataclass(frozen=True)
class LoadModel:
    """What the loaded transmission error needs: torque on the driven gear (N m), face width (mm), E and nu."""

    torque: float
    face_width: float
    youngs_modulus: float
    poisson_ratio: float = 0.3


@dataclass(frozen=True)
class MeshResult:
    """One gear pair at one centre distance, over one tooth pitch of the driver."""

    centre_distance: float  # mm
    theta1: np.ndarray  # driver angles, rad
    te_unloaded: np.ndarray  # driven angle minus nominal, rad (mean removed)
    te_loaded: np.ndarray
    backlash_mm: float  # least circular backlash at the pitch circle over the pitch (negative: jams)
    contact_ratio: float  # mean number of tooth pairs within CONTACT_TOL_MM
    interference: bool
    contact_radii: tuple[float, float]  # driver radii (mm) where contact happened, min and max
    load_share_min: float  # least loaded-pair count over the pitch (0 would mean the torque found no tooth)

    @property
    def te_unloaded_pp(self) -> float:
        return float(np.ptp(self.te_unloaded))

    @property
    def te_loaded_pp(self) -> float:
        return float(np.ptp(self.te_loaded))


def tooth_compliance(profile: ToothProfile, load: LoadModel) -> np.ndarray:
    """Compliance (m/N) of one tooth along its flank normal for a load at each sampled radius."""
    e = load.youngs_modulus
    g = e / (2 * (1 + load.poisson_ratio))
    b = load.face_width * 1e-3
    s = profile.radii * 1e-3
    t = np.maximum(profile.chord_thickness() * 1e-3, 1e-3 * profile.module * 1e-3)
    # Cantilever fixed half a module below the root circle (a crude allowance for the rim's give).
    s0 = s[0] - 0.5 * profile.module * 1e-3
    s = np.concatenate([[s0], s])
    t = np.concatenate([[t[0]], t])
    inv_ei = 12.0 / (e * b * t**3)
    ds = np.diff(s)

    def cumulative(f: np.ndarray) -> np.ndarray:
        return np.concatenate([[0.0], np.cumsum(0.5 * (f[1:] + f[:-1]) * ds)])

    i0, i1, i2 = cumulative(inv_ei), cumulative(inv_ei * s), cumulative(inv_ei * s * s)
    shear = cumulative(1.2 / (g * b * t))
    axial = cumulative(1.0 / (e * b * t))
    load_r = s[1:]
    bend = load_r**2 * i0[1:] - 2 * load_r * i1[1:] + i2[1:]
    # Flank inclination to the radial direction: tan(phi) = R dh/dR; the normal force bends by cos(phi).
    slope = np.gradient(profile.half_angle, profile.radii) * profile.radii
    cos2 = 1.0 / (1.0 + slope**2)
    return cos2 * (bend + shear[1:]) + (1 - cos2) * axial[1:]


def mesh_pair(
    profile: ToothProfile,
    centre_offset: float = 0.0,
    load: LoadModel | None = None,
    samples: int = 48,
) -> MeshResult:
    """Roll the gear with a copy of itself through one pitch at centre distance 2 r + ``centre_offset`` mm."""
    z = profile.teeth
    tau = 2 * math.pi / z
    r = profile.pitch_radius
    a = 2 * r + centre_offset
    radii = profile.radii
    solid = profile.half_angle > 0
    rr, hh = radii[solid], profile.half_angle[solid]
    ra2 = profile.tip_radius
    rf2 = profile.root_radius
    compliance = tooth_compliance(profile, load) if load is not None else None
    slope = np.gradient(profile.half_angle, radii)

    ks = np.arange(-3, 3)
    theta1 = np.linspace(0.0, tau, samples, endpoint=False)
    tol = CONTACT_TOL_MM / r
    drive_min = np.empty(samples)
    coast_max = np.empty(samples)
    te_loaded = np.empty(samples)
    counts = np.empty(samples)
    loaded_counts = np.empty(samples)
    interference = False
    contact_r: list[float] = []
    for n, t1 in enumerate(theta1):
        # Driver flank points (teeth x radii) in the driven gear's polar frame.
        ang = t1 + ks[:, None] * tau
        xw = rr * np.cos(ang + hh)
        yw = rr * np.sin(ang + hh)
        rho_w, psi_w = np.hypot(xw - a, yw), np.arctan2(yw, xw - a)
        xc = rr * np.cos(ang - hh)
        yc = rr * np.sin(ang - hh)
        rho_c, psi_c = np.hypot(xc - a, yc), np.arctan2(yc, xc - a)
        centre0 = math.pi + tau / 2 - t1  # driven tooth 0's centre line at the nominal angle
        h_w = profile.h(rho_w)
        d = _wrap(psi_w - centre0 - h_w)
        j = np.round((d - tau / 2 + h_w) / tau)
        slack = d - j * tau  # >= 0: clear of the driven tooth below it
        h_c = profile.h(rho_c)
        e0 = _wrap(centre0 - h_c - psi_c)
        jc = np.round((tau / 2 - h_c - e0) / tau)
        room = e0 + jc * tau  # >= 0: clear of the driven tooth above it
        active_w = rho_w <= ra2
        active_c = rho_c <= ra2
        if np.any(active_w & (rho_w < rf2 - 1e-9)) or np.any(active_c & (rho_c < rf2 - 1e-9)):
            interference = True
        slack = np.where(active_w, slack, np.inf)
        room = np.where(active_c, room, np.inf)
        per_tooth = slack.min(axis=1)
        lead = per_tooth.min()
        drive_min[n] = t1 - lead
        coast_max[n] = t1 + room.min()
        gaps = per_tooth - lead
        touching = gaps <= tol
        counts[n] = touching.sum()
        for k in np.nonzero(touching)[0]:
            contact_r.append(float(rr[int(np.argmin(slack[k]))]))
        if compliance is None:
            te_loaded[n] = drive_min[n]
            loaded_counts[n] = counts[n]
            continue
        # Load sharing: pair k takes F_k = (delta - gap_k) L_k / c_k, sum F_k L_k = T.
        near = np.nonzero(np.isfinite(gaps) & (gaps < 20 * tol + 1e-3))[0]
        stiff = np.empty(len(near))
        for i, k in enumerate(near):
            p = int(np.argmin(slack[k]))
            r1, r2 = rr[p], rho_w[k, p]
            arm = r2 / math.sqrt(1.0 + (r2 * float(np.interp(r2, radii, slope))) ** 2) * 1e-3
            c1 = float(np.interp(r1, radii, compliance))
            c2 = float(np.interp(r2, radii, compliance))
            c_contact = 1.0 / (load.youngs_modulus * load.face_width * 1e-3)
            stiff[i] = arm * arm / (c1 + c2 + c_contact)  # torque per radian of extra lag
        delta, engaged = _share(gaps[near], stiff, load.torque)
        te_loaded[n] = drive_min[n] - delta
        loaded_counts[n] = engaged
    te_unloaded = drive_min - theta1
    te_l = te_loaded - theta1
    backlash = float(np.min(coast_max - drive_min)) * r
    if backlash < 0:
        interference = True
    return MeshResult(
        centre_distance=a,
        theta1=theta1,
        te_unloaded=te_unloaded - te_unloaded.mean(),
        te_loaded=te_l - te_l.mean(),
        backlash_mm=backlash,
        contact_ratio=float(counts.mean()),
        interference=interference,
        contact_radii=(min(contact_r), max(contact_r)) if contact_r else (math.nan, math.nan),
        load_share_min=float(loaded_counts.min()),
    )


def _wrap(angle: np.ndarray) -> np.ndarray:
    return (angle + math.pi) % (2 * math.pi) - math.pi


def _share(gaps: np.ndarray, stiff: np.ndarray, torque: float) -> tuple[float, int]:
    """Extra lag delta (rad) with sum over pairs of stiff * max(0, delta - gap) = torque; pairs engaged."""
    order = np.argsort(gaps)
    g, k = gaps[order], stiff[order]
    total_k = 0.0
    total_kg = 0.0
    for i in range(len(g)):
        total_k += k[i]
        total_kg += k[i] * g[i]
        delta = (torque + total_kg) / total_k
        if i + 1 == len(g) or delta <= g[i + 1]:
            return delta, i + 1
    return float("inf"), 0
