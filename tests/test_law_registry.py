"""Force laws are plug-ins (physics/laws/__init__.py): a toy linear spring law written in ONE file, outside the
repository, runs through ``fab simulate --model spring`` and a job file with no other edit; the registry's
contract checks, and the engine reaches the built-in laws only through it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh

from physics import Body, Contact, Fixed, Force, PhysicsError, Simulation, make_law, relaxation
from physics.laws import LAWS, ForceLaw, law_class, law_names, register_law, unregister_law

REPO = Path(__file__).resolve().parents[1]

# The whole law: calibration, forces, time step, relaxation stiffness, energy, stress, contact stiffness.
SPRING = '''\
"""A linear spring between every pair of bonded particles (bond-based, never breaks): the toy law of the
registry test. Force density f_i = sum_j c s_ij V_j y_ij / |y_ij|, s = (|y| - |xi|) / |xi|, c = 18 K / sum |xi| V."""

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from physics.laws import ForceLaw, register_law


@register_law
@dataclass
class Spring(ForceLaw):
    youngs_modulus: float
    name: ClassVar[str] = "spring"
    dimensions: ClassVar[tuple[int, ...]] = (3,)

    @classmethod
    def fixed_poisson_ratio(cls, dimension, plane="stress"):
        return 0.25

    @classmethod
    def from_material(cls, *, youngs_modulus, poisson_ratio, fracture_energy=None, critical_stretch=None,
                      plane="stress"):
        return cls(youngs_modulus)

    def setup(self, body):
        lat = body.lattice
        self.body = body
        self.xi = lat.stencil * lat.spacing
        self.length = np.linalg.norm(self.xi, axis=1)
        self.volume = body.particle_volume
        self.c = 18.0 * (self.youngs_modulus / 1.5) / float(self.length.sum() * self.volume)
        self.nbr = lat.neighbours()

    def _bonds(self, u):
        j = np.where(self.nbr >= 0, self.nbr, 0)
        y = self.xi[None] + u[j] - u[:, None]
        r = np.linalg.norm(y, axis=2)
        s = (r - self.length) / self.length
        weight = self.c * self.volume * (self.nbr >= 0)
        return y, r, s, weight

    def compute(self, state):
        y, r, s, weight = self._bonds(state.u)
        state.force[:] = ((weight * s / r)[:, :, None] * y).sum(axis=1)

    def stable_time_step(self, body):
        return float(np.sqrt(2.0 * body.density / (self.c * self.volume * (1.0 / self.length).sum())))

    def relaxation_stiffness(self, body):
        return np.full(body.count, self.c * self.volume * float((1.0 / self.length).sum()))

    def strain_energy_density(self, sim):
        _y, _r, s, weight = self._bonds(sim.u)
        return 0.25 * (weight * s * s * self.length).sum(axis=1)

    def stress(self, sim):
        y, r, s, weight = self._bonds(sim.u)
        return 0.5 * np.einsum("mba,bc->mac", (weight * s / r)[:, :, None] * y, self.xi)

    def contact_stiffness(self):
        return 15.0 * self.c / self.body.lattice.horizon
'''


@pytest.fixture
def spring_package(tmp_path: Path) -> Path:
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "toy_spring.py").write_text(SPRING)
    return folder


@pytest.fixture
def bar_stl(tmp_path: Path) -> Path:
    path = tmp_path / "bar.stl"
    trimesh.creation.box(extents=(12.0, 4.0, 4.0)).export(path)
    return path


def _fab(args: list[str], plugins: Path, announce: str = "env") -> subprocess.CompletedProcess:
    """Run fab with the plug-in folder importable, the law announced by BITS2ATOMS_LAWS ("env") or by an
    installed distribution's entry point ("entry_point": the way a pip-installed package announces it)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(plugins), str(REPO), env.get("PYTHONPATH", "")])
    env.pop("BITS2ATOMS_LAWS", None)
    if announce == "env":
        env["BITS2ATOMS_LAWS"] = "toy_spring"
    else:
        info = plugins / "toy_spring-0.1.dist-info"
        info.mkdir(exist_ok=True)
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-spring\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text("[bits2atoms.laws]\nspring = toy_spring\n")
    return subprocess.run(
        [sys.executable, "-m", "fab.cli", *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_a_law_in_one_file_runs_through_fab_simulate(spring_package, bar_stl):
    """The toy spring law, one file outside the repository, named by --model: the part balances its load and
    the stress field comes from the law."""
    load = np.array([0.0, 0.0, -20.0])
    out = _fab(
        ["simulate", str(bar_stl), "--model", "spring", "--pitch", "1", "--material", "Al6061-T6",
         "--fix", "<X", "--load", ">X:force=0,0,-20", "--json"],
        spring_package,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["physics"]["model"] == "spring" and summary["physics"]["converged"]
    result = summary["result"]
    reaction = np.array(result["reaction_force_n"])
    assert np.linalg.norm(reaction + load) < 0.02 * np.linalg.norm(load)
    assert result["max_displacement_mm"] > 0 and result["max_von_mises_pa"] > 0
    # Aluminium's nu 0.33 is not the spring's 1/4: the note the registry's fixed_poisson_ratio drives.
    assert any("fixes Poisson's ratio at 0.25" in note for note in result.get("notes", []))


def test_a_law_in_one_file_runs_from_a_job_file(spring_package, bar_stl, tmp_path):
    job = tmp_path / "job.toml"
    job.write_text(
        f'[part]\nsource = "{bar_stl}"\n[voxels]\npitch = 1.0\n[material]\nname = "PLA"\n'
        '[physics]\nmodel = "spring"\n[[fix]]\nregion = "<X"\n[[load]]\nregion = ">X"\nforce = [0, 0, -5]\n'
    )
    out = _fab(["simulate", str(job), "--json"], spring_package, announce="entry_point")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["physics"]["model"] == "spring"
    # Without the plug-in the job names an unknown model: one line, exit 2, the choices listed.
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("BITS2ATOMS_LAWS", None)  # and no toy_spring dist-info on the path
    bad = subprocess.run([sys.executable, "-m", "fab.cli", "simulate", str(job)], capture_output=True,
                         text=True, env=env, timeout=300)  # fmt: skip
    assert bad.returncode == 2 and "'model' must be one of lps, pmb" in bad.stderr


def test_a_law_registered_in_process_is_used_by_physics(spring_package, monkeypatch):
    """The same file imported in this process: relaxation, analysis and contact reach it by its interface."""
    monkeypatch.syspath_prepend(str(spring_package))
    import toy_spring

    try:
        assert law_class("spring") is toy_spring.Spring and "spring" in law_names(material=True)
        law = make_law("spring", youngs_modulus=70e9)
        occ = np.ones((8, 3, 3), dtype=bool)
        labels = np.ones(occ.shape, dtype=np.int32)
        labels[4:] = 2
        contact = Contact()
        Simulation(Body.from_occupancy(occ, 1e-3, 2700.0, labels=labels), law, [contact])
        assert contact.k == pytest.approx(15.0 * law.c / law.body.lattice.horizon)
        body = Body.from_occupancy(occ, 1e-3, 2700.0)
        body.point_set("left", lambda x: x[:, 0] < 1e-3)
        body.point_set("right", lambda x: x[:, 0] > 6.5e-3)
        sim = Simulation(body, make_law("spring", youngs_modulus=70e9), [Fixed("left"), Force("right", (100.0, 0, 0))])
        info = relaxation.relax(sim, 20000, 1e-4, balance=5e-3)
        assert info["converged"] and sim.u[body.indices("right"), 0].min() > 0
        assert sim.strain_energy_density().max() > 0 and sim.von_mises().max() > 0
    finally:
        unregister_law("spring")
        sys.modules.pop("toy_spring", None)


def test_registry_checks_the_contract():
    class NoCompute(ForceLaw):
        name = "broken"

        def setup(self, body):
            pass

        def stable_time_step(self, body):
            return 1.0

    with pytest.raises(PhysicsError, match="lacks compute"):
        register_law(NoCompute)
    with pytest.raises(PhysicsError, match="taken by"):

        class Impostor(LAWS["pmb"]):
            pass

        register_law(Impostor)
    with pytest.raises(PhysicsError, match="unknown force law 'nope'; available: lps, pmb, voxel_joint"):
        make_law("nope")
    assert "broken" not in LAWS


def test_a_missing_capability_is_a_clear_error():
    """A law without a stress field says so by name instead of an AttributeError deep in the analysis."""

    class Bare(ForceLaw):
        name = "bare"

    body = Body.from_occupancy(np.ones((3, 3, 3), dtype=bool), 1e-3, 1000.0)
    pmb = make_law("pmb", youngs_modulus=1e9)
    bare = Bare()
    bare.setup = pmb.setup  # borrow PMB's forces; only the outputs are missing
    bare.compute = pmb.compute
    bare.stable_time_step = pmb.stable_time_step
    sim = Simulation(body, bare, [])
    with pytest.raises(PhysicsError, match="force law 'bare' has no stress field"):
        sim.stress()
