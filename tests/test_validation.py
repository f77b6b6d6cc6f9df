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


def test_cut_bonds_separates_a_plate():
    body = Body.from_occupancy(np.ones((10, 10), bool), spacing=1e-3, density=1000.0, thickness=1e-3)
    sim = Simulation(body, PMB(1e9), [])
    cut = cut_bonds(sim, (-1e-3, 4.5e-3), (10e-3, 4.5e-3))
    assert cut > 0
    count, labels = sim.fragments()
    assert count == 2
    assert len(np.unique(labels[body.positions()[:, 1] < 4.5e-3])) == 1


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
    row = validation.case_cantilever(length=40, width=4, height=8, plane=True)
    assert abs(row["_measured"] / row["_ref"] - 1) <= 0.10, row


def test_table_row_reports_failures_honestly():
    row = validation._row("x", "ref", 2.0, 3.0, "5 %", False, 10, "res", 1.0)
    assert row["pass"] == "FAIL" and row["error"] == "+50.0 %"
