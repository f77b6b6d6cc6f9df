"""Problem 1: a spur gear grown by its cutting process, scored by how it meshes and how strong it is.

Genome -> :mod:`fab.morph.gear_cutter` (cutter shape and roll -> tooth by subtraction) -> tooth
profile h(R) -> score:

* meshing with a copy of itself (:mod:`fab.morph.gear_mesh`) at the nominal centre distance and at
  +- ``centre_error`` modules: the worst loaded transmission error over a pitch (peak to peak plus twice
  its RMS) plus the worst unloaded one (peak to peak), in units of ``te_scale`` rad, with penalties for interference, a contact ratio under
  ``min_contact_ratio`` and a backlash outside ``backlash`` (mm, over all centre distances);
* tooth strength from the particle engine (:mod:`fab.morph.gear_strength`): root stress at the
  design torque over the material's tensile strength, times ``strength_weight``.

Nothing here knows what a good tooth looks like: no involute in the program or the score.
Guards: a tooth cut through (detached mass), a physics body that falls apart under the design load,
a tooth tip thinner than the physics pitch, and (in the search) resolution-sensitive scores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fab.materials import Material
from fab.morph import guards as G
from fab.morph.gear_cutter import GENES, CutterProgram, generate, half_thickness
from fab.morph.gear_mesh import LoadModel, MeshResult, ToothProfile, mesh_pair
from fab.morph.program import Evaluation

PROFILE_RADII = 400


@dataclass(frozen=True)
class GearProblem:
    """Settings of the gear search (mm, N m, SI material); see docs/morphogenesis.md for each key."""

    module: float = 2.0
    teeth: int = 20
    face_width: float = 10.0
    torque: float = 20.0
    material: Material | None = None
    centre_error: float = 0.03  # modules
    backlash_min: float = 0.02  # mm, circular, at the worst centre distance
    backlash_max: float = 0.25  # mm
    min_contact_ratio: float = 1.2
    te_scale: float = 1e-4  # rad
    strength_weight: float = 1.0
    spacing: float = 0.125  # physics lattice pitch, modules (search)
    fine_spacing: float = 0.08  # modules (re-scoring)
    roll_steps: int = 800
    fine_roll_steps: int = 2000
    mesh_samples: int = 32
    relax_steps: int = 3000
    relax_tolerance: float = 1e-2  # re-scoring uses a fifth of it
    strength_gate: float = 3.0  # meshing score above which the particle engine is not run
    gated_stress_ratio: float = 0.2  # root stress / tensile strength assumed for such designs
    name: str = "gear"

    @property
    def gene_names(self) -> tuple[str, ...]:
        return tuple(g[0] for g in GENES)

    @property
    def dimension(self) -> int:
        return len(GENES)

    def load_model(self) -> LoadModel:
        return LoadModel(
            self.torque, self.face_width, self.material.youngs_modulus, self.material.poisson_ratio
        )

    def profile(self, genome: np.ndarray, fine: bool = False) -> ToothProfile:
        program = CutterProgram.from_genome(genome)
        gear = generate(
            program, self.module, self.teeth, self.fine_roll_steps if fine else self.roll_steps, whole=False
        )
        radii = np.linspace(gear.root_radius, gear.tip_radius, PROFILE_RADII * (2 if fine else 1))
        return ToothProfile(self.module, self.teeth, radii, half_thickness(gear, radii))

    def meshes(self, profile: ToothProfile, fine: bool = False) -> list[MeshResult]:
        e = self.centre_error * self.module
        samples = self.mesh_samples * (2 if fine else 1)
        return [mesh_pair(profile, off, self.load_model(), samples) for off in (-e, 0.0, e)]

    def evaluate(self, genome: np.ndarray, fine: bool = False) -> Evaluation:
        return self.evaluate_profile(self.profile(genome, fine), fine)

    def evaluate_profile(self, profile: ToothProfile, fine: bool = False) -> Evaluation:
        """Score a developed tooth profile (guards, meshing, particle-engine strength)."""
        from fab.morph.gear_strength import tooth_strength

        caught: list[str] = []
        h = profile.half_angle
        solid = np.nonzero(h > 0)[0]
        # A band with no material under material further out: the cutter cut the tooth off.
        if len(solid) == 0 or np.any(h[: solid[-1] + 1] <= 0):
            caught.append(G.DETACHED)
        spacing = (self.fine_spacing if fine else self.spacing) * self.module
        tip_chord = float(profile.chord_thickness()[solid[-1]]) if len(solid) else 0.0
        if tip_chord < spacing:
            caught.append(G.THIN)
        metrics: dict = {"tip_thickness_mm": tip_chord}
        if caught:
            return Evaluation(score=10.0, objectives={}, guards=tuple(caught), metrics=metrics)
        meshes = self.meshes(profile, fine)
        te = max(m.te_loaded_pp for m in meshes)
        te_rms = max(float(np.std(m.te_loaded)) for m in meshes)
        te_geo = max(m.te_unloaded_pp for m in meshes)
        # Peak to peak alone is flat until the single-tooth zone vanishes; its RMS shrinks with that zone,
        # and the unloaded error is what a centre-distance error does to a profile that is not conjugate.
        te_term = (te + 2 * te_rms + te_geo) / self.te_scale
        backlash_lo = min(m.backlash_mm for m in meshes)
        backlash_hi = max(m.backlash_mm for m in meshes)
        contact = min(m.contact_ratio for m in meshes)
        interference = any(m.interference for m in meshes)
        penalty = 0.0
        if interference:
            penalty += 5.0
        penalty += 5.0 * max(0.0, self.min_contact_ratio - contact)
        band = max(self.backlash_max - self.backlash_min, 1e-9)
        penalty += 5.0 * max(0.0, self.backlash_min - backlash_lo) / band
        penalty += 5.0 * max(0.0, backlash_hi - self.backlash_max) / band
        metrics.update(
            transmission_error_rad=te,
            transmission_error_rms_rad=te_rms,
            unloaded_transmission_error_rad=te_geo,
            backlash_min_mm=backlash_lo,
            backlash_max_mm=backlash_hi,
            contact_ratio=contact,
            interference=interference,
        )
        if interference or contact < 1.0:
            # A pair that jams or loses contact needs no strength figure to be ranked last among the clean.
            metrics["root_stress_mpa"] = math.nan
            metrics["score_terms"] = f"jammed or out of contact 10 + penalties {penalty:.4g}"
            return Evaluation(10.0 + penalty, {"te_rad": te}, (), metrics)
        if te_term + penalty > self.strength_gate:
            # Meshing this poor outweighs any strength: skip the particle engine, assume a middling tooth.
            metrics["root_stress_mpa"] = math.nan
            score = te_term + penalty + self.strength_weight * self.gated_stress_ratio
            metrics["score_terms"] = (
                f"transmission error {te_term:.4g} + strength {self.strength_weight * self.gated_stress_ratio:.4g} "
                f"(assumed: meshing over the gate) + penalties {penalty:.4g}"
            )
            return Evaluation(float(score), {"te_rad": te}, (), metrics)
        strength = tooth_strength(
            profile,
            self.material,
            self.torque,
            self.face_width,
            spacing,
            max_steps=self.relax_steps * (2 if fine else 1),
            tolerance=self.relax_tolerance / (5 if fine else 1),
        )
        if strength.fragments > 1:
            caught.append(G.FRAGMENTS)
        if G.detached_fraction(strength.occupancy, _rim_cells(strength)) > 0:
            caught.append(G.DETACHED)
        stress_ratio = strength.root_stress / self.material.tensile_strength
        score = te_term + self.strength_weight * stress_ratio + penalty
        metrics.update(
            root_stress_mpa=strength.root_stress / 1e6,
            failure_torque_nm=strength.failure_torque_estimate,
            broken_bonds=strength.broken_bonds,
            particles=strength.particles,
            score_terms=f"transmission error {te_term:.4g} + strength {self.strength_weight * stress_ratio:.4g} "
            f"+ penalties {penalty:.4g}",
        )
        objectives = {"te_rad": te, "root_stress_mpa": strength.root_stress / 1e6}
        return Evaluation(float(score), objectives, tuple(caught), metrics)

    def __repr__(self) -> str:  # what a checkpoint's fingerprint hashes: every setting, stable
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__dataclass_fields__)
        return f"GearProblem({fields})"

    def snapshot(self, genome: np.ndarray, path: Path, title: str = "") -> None:
        from fab.morph.plots import tooth_snapshot

        tooth_snapshot(self.profile(genome), path, title)

    def loaded_snapshot(self, genome: np.ndarray, path: Path, title: str = "") -> None:
        """The tooth under its design torque as the search's strength score solved it (same raster, load, steps
        and tolerance: ``gear_strength.loaded_tooth``): a PNG coloured by the largest principal stress (the live
        view's "picture under load"). Solved when asked for, so the search itself pays nothing."""
        from fab.morph import plots
        from fab.morph.gear_strength import loaded_tooth

        loaded = loaded_tooth(
            self.profile(genome),
            self.material,
            self.torque,
            self.face_width,
            self.spacing * self.module,
            max_steps=self.relax_steps,
            tolerance=self.relax_tolerance,
        )
        plots.loaded_tooth(loaded, path, f"{title} at {self.torque:g} N m", self.material.tensile_strength)


def _rim_cells(strength) -> np.ndarray:
    """Filled cells of the raster in the held rim band: the anchor every tooth must stay connected to."""
    occ = strength.occupancy
    x = strength.origin_mm[0] + strength.spacing_mm * np.arange(occ.shape[0])
    y = strength.origin_mm[1] + strength.spacing_mm * np.arange(occ.shape[1])
    rho = np.hypot(x[:, None], y[None, :])
    return occ & (rho < rho[occ].min() + 2.5 * strength.spacing_mm)
