"""Fast validation cases of the particle engine (small lattices); the full set is benchmarks/validation.py."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import validation  # noqa: E402
from validation_tools import (  # noqa: E402
    TorqueLoad,
    crack_path_angle,
    crossing_time,
    cut_bonds,
    heywood_kt,
    markdown_table,
    rayleigh_speed,
)

from physics import PMB, Body, Simulation  # noqa: E402


def test_references():
    assert heywood_kt(0.0, 1.0) == pytest.approx(3.0)
    assert heywood_kt(1 / 3, 1.0) == pytest.approx(2 + (2 / 3) ** 3)
    # Rayleigh speed for nu = 1/4 is about 0.919 c_s.
    c_s = math.sqrt(200e9 / 2.5 / 7850)
    assert rayleigh_speed(200e9, 7850, 0.25) / c_s == pytest.approx(0.9196, abs=2e-3)
    t = np.linspace(0, 1, 11)
    assert crossing_time(t, t * 2, 1.0) == pytest.approx(0.5)
    assert math.isnan(crossing_time(t, t, 5.0))
    table = markdown_table([{"a": 1, "b": "x"}], [("a", "A"), ("b", "B")])
    assert table.splitlines()[2] == "| 1 | x |"


def test_crack_path_angle_follows_the_first_crack():
    # A straight 65 degree crack 2 cells wide from the tip towards +y, a second crack further along x (a
    # back-face crack) and damage behind the tip (the notch): only the first crack counts.
    dx = 1e-3
    i, j = np.meshgrid(np.arange(100), np.arange(80), indexing="ij")
    pos = np.stack([i.ravel() * dx, j.ravel() * dx], axis=1)
    tip = (30e-3, 20.5e-3)
    along = (pos[:, 1] - tip[1]) / math.tan(math.radians(65.0))
    crack = (np.abs(pos[:, 0] - tip[0] - along) <= 1.0 * dx) & (pos[:, 1] > tip[1])
    other = (pos[:, 0] > 90e-3) & (pos[:, 1] > tip[1])
    notch = (pos[:, 0] < tip[0]) & (np.abs(pos[:, 1] - tip[1]) < dx)
    grown = crack | other | notch
    angle = crack_path_angle(pos, grown, tip, +1, dx, 3e-3, 25e-3)
    assert angle == pytest.approx(65.0, abs=1.0)
    # Mirrored towards -y; no crack at all gives nan.
    flipped = pos * np.array([1.0, -1.0])
    assert crack_path_angle(flipped, grown, (tip[0], -tip[1]), -1, dx, 3e-3, 25e-3) == pytest.approx(angle)
    assert math.isnan(crack_path_angle(pos, np.zeros(len(pos), bool), tip, +1, dx, 3e-3, 25e-3))


def test_cut_bonds_separates_a_plate():
    body = Body.from_occupancy(np.ones((10, 10), bool), spacing=1e-3, density=1000.0, thickness=1e-3)
    sim = Simulation(body, PMB(1e9), [])
    cut = cut_bonds(sim, (-1e-3, 4.5e-3), (10e-3, 4.5e-3))
    assert cut > 0
    count, labels = sim.fragments()
    assert count == 2
    assert len(np.unique(labels[body.positions()[:, 1] < 4.5e-3])) == 1



def test_cut_bonds_cuts_both_ends_of_a_bond_alike():
    """A crack tip between lattice rows lies on the diagonal bonds through it: round-off made one end see them
    cross and the other not (half-broken bonds, read differently by the pair and whole-stencil kernels)."""
    body = Body.from_occupancy(np.ones((20, 70), bool), spacing=0.5e-3, density=1000.0, thickness=0.5e-3,
                               origin=(0.25e-3, 0.25e-3, 0.0))  # fmt: skip
    sim = Simulation(body, PMB(1e9), [])
    cut_bonds(sim, (-0.5e-3, 30e-3), (6e-3, 30e-3))  # bench_failure's SENT: the tip on (5.75, 29.75)-(6.25, 30.25)
    lat = body.lattice
    nb = lat.neighbours()
    opposite = np.array([np.flatnonzero((lat.stencil == -k).all(axis=1))[0] for k in lat.stencil])
    i, b = np.nonzero(nb >= 0)
    bit = (sim.bits[b >> 5, i] >> (b & 31).astype(np.uint32)) & 1
    back = (sim.bits[opposite[b] >> 5, nb[i, b]] >> (opposite[b] & 31).astype(np.uint32)) & 1
    assert (bit == back).all()
    assert (bit == 0).sum() > 0

def test_torque_load_moment():
    body = Body.from_occupancy(np.ones((3, 5, 5), bool), spacing=1e-3, density=1000.0)
    body.point_set("end", lambda x: x[:, 0] > 1.5e-3)
    sim = Simulation(body, PMB(1e9), [])
    load = TorqueLoad("end", 2.0, (0.0, 2e-3, 2e-3), axis=0)
    load.bind(sim)
    sim.force[:] = 0.0
    load.load(sim, 1.0)
    f = sim.force * body.particle_volume
    r = sim.x0 - np.array([0.0, 2e-3, 2e-3])
    assert np.abs(f.sum(axis=0)).max() < 1e-9
    assert np.cross(r, f).sum(axis=0)[0] == pytest.approx(2.0)


def test_wave_speed():
    row = validation.case_wave(length=60, side=4, ramp_cells=10.0)
    assert abs(row["_measured"] / row["_ref"] - 1) <= 0.05, row


def test_tension():
    row = validation.case_tension(length=24, side=6)
    assert abs(row["_measured"] / row["_ref"] - 1) <= 0.05, row


def test_torsion():
    row = validation.case_torsion(length=18, diameter=8)
    assert abs(row["_measured"] / row["_ref"] - 1) <= 0.10, row


def test_cantilever_plane_stress():
    row = validation.case_cantilever(length=40, width=4, height=8, dx=1e-3, plane=True)
    assert abs(row["_measured"] / row["_ref"] - 1) <= 0.10, row


def test_table_row_reports_failures_honestly():
    row = validation._row("x", "ref", 2.0, 3.0, "5 %", False, 10, "res", 1.0)
    assert row["pass"] == "FAIL" and row["error"] == "+50.0 %"


def test_kalthoff_crack_angle_coarse():
    # 1 mm lattice, 50 us: both cracks have run past the 25 mm the angle is fitted over.
    row = validation.case_kalthoff(dx=1e-3, duration=50e-6)
    assert 60.0 <= row["_measured"] <= 75.0, row
