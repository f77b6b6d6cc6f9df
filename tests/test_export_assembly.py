"""Assembly plans: buildable order, checker catches each rule, JSON round trip, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from exporters.assembly import check_assembly, plan_assembly, read_assembly, write_assembly
from exporters.errors import ExportError


def _overhang() -> np.ndarray:
    """A T-shaped bridge with a voxel hanging under the beam and a flange: every rule gets exercised."""
    occ = np.zeros((7, 3, 5), dtype=bool)
    occ[0, :, :4] = True  # pillar
    occ[6, 1, :4] = True  # pillar
    occ[:, 1, 4] = True  # beam on top
    occ[3, 1, 3] = True  # hangs under the beam
    occ[3, 1, 2] = True  # hangs under that one
    return occ


def test_plan_is_buildable_and_complete():
    occ = _overhang()
    mids = np.zeros(occ.shape, dtype=np.uint8)
    mids[:, :, 4] = 1
    plan = plan_assembly(occ, 2.0, (1.0, 2.0, 3.0), material_ids=mids, materials=("pla", "steel"))
    pl = plan["placements"]
    assert len(pl) == occ.sum()
    assert len({tuple(r) for r in pl[:, 1:4].tolist()}) == occ.sum()
    assert check_assembly(plan) == []
    assert plan["summary"]["per_part_type"] == {"pla-voxel": 18, "steel-voxel": 7}
    assert plan["summary"]["hanging_placements"] == 2
    assert plan["summary"]["estimated_build_time_s"] == pytest.approx(25 / 360 * 3600)
    # hanging voxels come after the beam voxel that supports them
    order = {tuple(r[1:4]): r[0] for r in pl.tolist()}
    assert order[(3, 1, 3)] > order[(3, 1, 4)] and order[(3, 1, 2)] > order[(3, 1, 3)]


def test_random_shapes_always_give_valid_plans():
    rng = np.random.default_rng(1)
    from scipy import ndimage

    for _ in range(60):
        n = int(rng.integers(3, 9))
        occ = rng.random((n, n, n)) < 0.5
        lab, _ = ndimage.label(occ)
        keep = np.unique(lab[:, :, 0])
        occ = np.isin(lab, keep[keep > 0])
        if occ.any():
            assert check_assembly(plan_assembly(occ, 1.0)) == []


def test_checker_names_first_broken_placement():
    plan = plan_assembly(np.ones((3, 1, 2), dtype=bool), 1.0)
    ijk = {tuple(r[1:4]) for r in plan["placements"].tolist()}
    assert ijk == {(i, 0, k) for i in range(3) for k in range(2)}

    def with_order(cells):
        bad = dict(plan)
        bad["placements"] = np.array([[n, *c, 0] for n, c in enumerate(cells)])
        return check_assembly(bad)

    v = with_order([(0, 0, 0), (2, 0, 0), (1, 0, 0)])
    assert v[0].rule == "insertion" and v[0].index == 2 and v[0].ijk == (1, 0, 0)
    v = with_order([(0, 0, 0), (2, 0, 1)])
    assert v[0].rule == "support" and v[0].index == 1
    v = with_order([(0, 0, 0), (0, 0, 0)])
    assert v[0].rule == "duplicate"
    v = with_order([(0, 0, 0), (0, 0, 1), (1, 0, 0)])
    assert v[0].rule == "ground_up" and v[0].index == 2
    v = with_order([(0, 0, 0), (5, 0, 0)])
    assert v[0].rule == "bounds"
    assert "placement 1" in str(v[0])
    huge = dict(plan, lattice=dict(plan["lattice"], shape=[10**6] * 3))  # no dense 10^18 grid allocated
    assert check_assembly(huge) == []
    bad = dict(plan, placements=plan["placements"].copy())
    bad["placements"][3, 0] = 7
    assert check_assembly(bad)[0].rule == "index" and check_assembly(bad)[0].index == 3


def test_json_round_trip_and_check_from_file(tmp_path):
    plan = plan_assembly(_overhang(), 1.5)
    path = tmp_path / "plan.json"
    write_assembly(plan, path)
    raw = json.loads(path.read_text())
    assert raw["format"] == "bits2atoms-assembly" and raw["lattice"]["pitch_mm"] == 1.5
    back = read_assembly(path)
    np.testing.assert_array_equal(back["placements"], plan["placements"])
    assert check_assembly(path) == []
    raw["placements"][3], raw["placements"][10] = raw["placements"][10], raw["placements"][3]
    raw["placements"][3][0], raw["placements"][10][0] = 3, 10
    path.write_text(json.dumps(raw))
    assert check_assembly(path)[0].index <= 10


def test_bad_input():
    with pytest.raises(ExportError, match="empty"):
        plan_assembly(np.zeros((3, 3, 3), dtype=bool), 1.0)
    floating = np.zeros((6, 6, 6), dtype=bool)
    floating[:, :, 0] = True
    floating[2:4, 2:4, 3:5] = True
    with pytest.raises(ExportError, match=r"never touch the ground.*\(2, 2, 3\)\.\.\(3, 3, 4\)"):
        plan_assembly(floating, 1.0)
    with pytest.raises(ExportError, match="pitch"):
        plan_assembly(np.ones((2, 2, 2), dtype=bool), -1.0)


def test_read_rejects_non_plans(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"format": "other"}')
    with pytest.raises(ExportError, match="not a bits2atoms-assembly"):
        read_assembly(path)
    path.write_text('{"format": "bits2atoms-assembly", "placements": [[0, 1.5, 0, 0, 0]]}')
    with pytest.raises(ExportError, match="integer rows"):
        read_assembly(path)
    path.write_text('{"format": "bits2atoms-assembly", "placements": [[0, 1, 0], [1, 2, 3, 4, 5]]}')
    with pytest.raises(ExportError, match="integer rows"):
        read_assembly(path)
    path.write_text("not json")
    with pytest.raises(ExportError, match="not a JSON"):
        read_assembly(path)
