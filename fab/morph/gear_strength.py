"""Tooth strength from the particle engine: a rasterized tooth sector under its design load (2D).

The sector holds tooth 0 and half of each neighbour down to 1.25 modules below the root circle, where
a band of particles is held fixed (the rim continues there). The design torque's contact force acts
on a patch of the working flank just below the tip (the worst single-tooth load, as in Lewis' rule),
along the flank's inward normal, sized so its moment about the gear centre is the torque. The plane
stress body relaxes (adaptive dynamic relaxation, PMB with fracture); the root stress is the mean of
the three highest von Mises stresses in the root zone. Bonds that break under the design load, or a
body that falls apart, are reported for the guards. Geometry arrives in mm and is converted to SI here.

The root stress is the largest principal (tensile) stress of the virial stress tensor: teeth break
from the tensile fillet. The load's direction is rounded to 0.25 degree and its size to 4 significant
digits before use, so the result is a function of the raster, the load patch and those rounded numbers
alone; equal inputs (common once a search converges) come from a per-process cache without changing
any result.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from fab.materials import Material
from fab.morph.gear_mesh import ToothProfile
from physics import PMB, Body, Fixed, Force, Simulation
from physics.simulation import Result

RIM_MODULES = 1.25
_CACHE: OrderedDict = OrderedDict()
_CACHE_SIZE = 512


@dataclass(frozen=True)
class StrengthResult:
    root_stress: float  # Pa, at the design torque
    failure_torque_estimate: float  # N m: torque at which the root stress reaches the tensile strength
    broken_bonds: int
    fragments: int
    particles: int
    occupancy: np.ndarray  # the rasterized sector (bool, x by y), for the guards and the snapshots
    spacing_mm: float
    origin_mm: tuple[float, float]


def sector_occupancy(profile: ToothProfile, spacing_mm: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cell-centre rasterization of tooth 0's sector: (occupancy[nx, ny], x centres, y centres), mm."""
    tau = 2 * math.pi / profile.teeth
    r_in = profile.root_radius - RIM_MODULES * profile.module
    ra = profile.tip_radius
    x = np.arange(r_in * math.cos(tau) - spacing_mm, ra + spacing_mm, spacing_mm)
    half = ra * math.sin(tau) + spacing_mm
    y = np.arange(-half, half + spacing_mm / 2, spacing_mm)
    xx, yy = np.meshgrid(x, y, indexing="ij")
    rho = np.hypot(xx, yy)
    ang = np.arctan2(yy, xx)
    rel = (ang + tau / 2) % tau - tau / 2  # angle from the nearest tooth centre
    inside = (rho >= r_in) & (np.abs(ang) <= tau) & (np.abs(rel) <= profile.h(rho))
    return inside, x, y


@dataclass(frozen=True)
class _Sector:
    """Tooth 0's sector as a particle body with its held rim and loaded flank patch (the rounded load)."""

    occupancy: np.ndarray
    xs: np.ndarray
    ys: np.ndarray
    body: Body
    rho: np.ndarray  # mm, per particle
    ang: np.ndarray  # rad, per particle
    patch: np.ndarray  # loaded particles
    direction_deg: float
    force_n: float
    origin: tuple[float, float, float]  # m


def _sector(profile: ToothProfile, material: Material, torque: float, face_width_mm: float, spacing_mm: float) -> _Sector:
    occ, xs, ys = sector_occupancy(profile, spacing_mm)
    dx = spacing_mm * 1e-3
    origin = (xs[0] * 1e-3, ys[0] * 1e-3, 0.0)
    body = Body.from_occupancy(
        occ, spacing=dx, density=material.density, origin=origin, thickness=face_width_mm * 1e-3
    )
    pos = body.positions()[:, :2] * 1e3  # mm
    rho = np.hypot(pos[:, 0], pos[:, 1])
    ang = np.arctan2(pos[:, 1], pos[:, 0])
    m = profile.module
    r_in = profile.root_radius - RIM_MODULES * m
    body.point_set("rim", rho < r_in + 2.5 * spacing_mm)
    # Load patch: working-flank particles (outermost two cells at each radius) just below the tip, on this tooth
    # only (the neighbouring tooth, past the flank, has a negative gap and would otherwise pass the test).
    ra = profile.tip_radius
    flank_gap = profile.h(rho) - ang  # angular distance to the working flank, rad
    working_half = (ang > 0) & (flank_gap >= 0)
    patch = (rho > ra - 0.35 * m) & (rho <= ra) & working_half & (flank_gap * rho < 2.0 * spacing_mm)
    if patch.sum() < 2 and working_half.sum() >= 2:  # a tip too thin for the band: its outermost particles
        patch = working_half & (rho >= np.sort(rho[working_half])[-min(3, int(working_half.sum()))])
    if not patch.any():  # no particle on the working half at all: the one nearest tooth 0's tip
        patch = np.zeros(len(rho), dtype=bool)
        patch[np.argmin(np.hypot(pos[:, 0] - ra, pos[:, 1]))] = True
    body.point_set("load", patch)
    pr = float(np.median(rho[patch]))
    h = float(profile.h(pr))
    dh = float(np.interp(pr, profile.radii, np.gradient(profile.half_angle, profile.radii)))
    tangent = np.array([math.cos(h) - pr * dh * math.sin(h), math.sin(h) + pr * dh * math.cos(h)])
    normal_out = np.array([-tangent[1], tangent[0]]) / np.linalg.norm(tangent)
    point = pr * np.array([math.cos(h), math.sin(h)]) * 1e-3
    push = -normal_out
    arm = abs(point[0] * push[1] - point[1] * push[0])  # m
    force = torque / max(arm, 1e-9)
    direction = round(math.degrees(math.atan2(push[1], push[0])) * 4) / 4
    force = float(f"{force:.4g}")
    return _Sector(occ, xs, ys, body, rho, ang, patch, direction, force, origin)


def _solve(sector: _Sector, profile: ToothProfile, material: Material, spacing_mm: float, max_steps: int,
           tolerance: float) -> tuple[Simulation, Result, np.ndarray, np.ndarray]:  # fmt: skip
    """Relax the sector under its load: (simulation, relax's result, largest principal stress (Pa), root zone)."""
    rad = math.radians(sector.direction_deg)
    push = np.array([math.cos(rad), math.sin(rad)])
    law = PMB(youngs_modulus=material.youngs_modulus, fracture_energy=material.fracture_energy)
    force = sector.force_n
    sim = Simulation(sector.body, law, [Fixed("rim"), Force("load", (force * push[0], force * push[1], 0.0))])
    res = sim.relax(max_steps=max_steps, tolerance=tolerance)
    sig = sim.stress()
    sxx, syy, sxy = sig[:, 0, 0], sig[:, 1, 1], sig[:, 0, 1]
    principal = 0.5 * (sxx + syy) + np.sqrt((0.5 * (sxx - syy)) ** 2 + sxy**2)
    m = profile.module
    r_in = profile.root_radius - RIM_MODULES * m
    rho, ang = sector.rho, sector.ang
    root = (
        (rho > profile.root_radius - 0.25 * m)
        & (rho < profile.root_radius + 0.75 * m)
        & (np.abs(ang) < math.pi / profile.teeth)
        & (rho > r_in + 2.5 * spacing_mm + 3 * spacing_mm)
    )
    return sim, res, principal, root


def _root_stress(principal: np.ndarray, root: np.ndarray) -> tuple[float, np.ndarray]:
    """The mean of the three highest principal stresses in the root zone (anywhere if it is empty): (Pa, indices)."""
    pool = np.nonzero(root)[0] if root.any() else np.arange(len(principal))
    top = pool[np.argsort(principal[pool], kind="stable")[-3:]]
    return float(principal[top].mean()), top


def tooth_strength(
    profile: ToothProfile,
    material: Material,
    torque: float,
    face_width_mm: float,
    spacing_mm: float,
    max_steps: int = 6000,
    tolerance: float = 1e-2,
) -> StrengthResult:
    """Root stress of tooth 0 under ``torque`` (N m) on a ``face_width_mm`` wide gear, plane stress."""
    sector = _sector(profile, material, torque, face_width_mm, spacing_mm)
    occ = sector.occupancy
    key = hashlib.sha256(
        occ.tobytes()
        + sector.patch.tobytes()
        + repr(
            (occ.shape, spacing_mm, sector.origin, sector.direction_deg, sector.force_n, material, face_width_mm,
             max_steps, tolerance)
        ).encode()
    ).hexdigest()  # fmt: skip
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    sim, res, principal, root = _solve(sector, profile, material, spacing_mm, max_steps, tolerance)
    stress, _ = _root_stress(principal, root)
    count, _ = sim.fragments()
    result = StrengthResult(
        root_stress=stress,
        failure_torque_estimate=torque * material.tensile_strength / max(stress, 1.0),
        broken_bonds=int(res.broken_bonds),
        fragments=int(count),
        particles=int(sector.body.count),
        occupancy=occ,
        spacing_mm=spacing_mm,
        origin_mm=(float(sector.xs[0]), float(sector.ys[0])),
    )
    _CACHE[key] = result
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return result


@dataclass(frozen=True)
class LoadedTooth:
    """Tooth 0's sector in equilibrium under the design load, with its fields: what the strength score saw."""

    points_mm: np.ndarray  # (n, 2) reference positions
    displacement_mm: np.ndarray  # (n, 2)
    principal_pa: np.ndarray  # (n,) largest principal stress
    damage: np.ndarray  # (n,) broken share of each particle's bonds
    root: np.ndarray  # (n,) bool: the root zone the score reads
    top: np.ndarray  # indices of the three highest principal stresses there (the root stress is their mean)
    patch: np.ndarray  # (n,) bool: the loaded flank patch
    force_n: float
    direction_deg: float
    root_stress: float  # Pa
    converged: bool
    spacing_mm: float


def loaded_tooth(
    profile: ToothProfile,
    material: Material,
    torque: float,
    face_width_mm: float,
    spacing_mm: float,
    max_steps: int = 6000,
    tolerance: float = 1e-2,
) -> LoadedTooth:
    """The same solve as :func:`tooth_strength` (same body, rounded load, steps and tolerance), with the fields
    kept for a picture (not cached: call it for the designs a person inspects)."""
    sector = _sector(profile, material, torque, face_width_mm, spacing_mm)
    sim, res, principal, root = _solve(sector, profile, material, spacing_mm, max_steps, tolerance)
    stress, top = _root_stress(principal, root)
    return LoadedTooth(
        points_mm=sector.body.positions()[:, :2] * 1e3,
        displacement_mm=np.asarray(sim.u[:, :2]) * 1e3,
        principal_pa=principal,
        damage=sim.damage(),
        root=root,
        top=top,
        patch=sector.patch,
        force_n=sector.force_n,
        direction_deg=sector.direction_deg,
        root_stress=stress,
        converged=bool(res.history["converged"][0]),
        spacing_mm=spacing_mm,
    )
