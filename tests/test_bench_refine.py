"""benchmarks/bench_refine.py's pieces on a tiny layout (the full --small run takes minutes: its failure tests).

The shared post-processing, SIMP and the CalculiX judge on a 10 x 4 x 4 beam with two load cases, and the rule
that an evaluation error gives no verdict and exit 1."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_refine as B  # noqa: E402
import voxel_fe as V  # noqa: E402

from fab.materials import get_material  # noqa: E402
from fab.morph.part import Layout, Rules, _attached  # noqa: E402


def _beam() -> Layout:
    dom = np.ones((10, 4, 4), dtype=bool)
    fixed = np.zeros_like(dom)
    fixed[0] = True
    pad = np.zeros_like(dom)
    pad[-1, 1:3, 1:3] = True
    return Layout(1.0, (0.0, 0.0, 0.0), dom, dom.copy(), fixed | pad, fixed, (pad, pad),
                  ((0.0, 0.0, -10.0), (0.0, 5.0, 0.0)), ((0,), (1,)))  # fmt: skip


def test_same_post_gives_both_sides_the_same_count_and_keeps_a_clean_design() -> None:
    lay = _beam()
    rules = Rules(min_thickness=2.0)
    cases = [B.case_loads(lay, c) for c in lay.cases]
    ref = B.simp3d(lay.domain, lay.keep_in, lay.fixed, cases, 80, 1.0, max_iterations=15)
    simp = B.same_post(ref.density, lay, rules, 80)
    assert simp.sum() == 80 and simp[lay.keep_in].all()
    assert np.array_equal(_attached(simp, lay), simp)  # nothing cut off from the supports
    # A design already through it stays close (the refill may add a cell the opening takes off again).
    again = B.same_post(simp.astype(float), lay, rules, 80)
    assert again.sum() == 80 and (again ^ simp).sum() <= 8
    if V.ccx_path() is None:
        pytest.skip("CalculiX (ccx) not installed (make peers)")
    fe = B.calculix(simp, lay, get_material("PLA"))
    assert len(fe["ccx_compliance_nmm"]) == 2 and min(fe["ccx_compliance_nmm"]) > 0
    assert fe["ccx_detached_voxels"] == 0


def test_an_evaluation_error_is_never_a_verdict(capsys) -> None:
    result = {"load_average": (1.0, 1.0, 1.0), "errors": ["simp: CalculiX: ccx failed"]}
    args = SimpleNamespace(small=True, pitch=None, design_space=None, generations=10, population=8)
    assert B.report(result, args) == 1
    out = capsys.readouterr().out
    assert "no verdict" in out and "target:" not in out


def test_before_rules_counts_what_the_rules_take_off_simps_own_design() -> None:
    """A one-cell plate on the beam: the 2-cell opening takes it off; the H8 objective is SIMP's own design's."""
    lay = _beam()
    density = np.zeros(lay.domain.shape)
    density[:, 1:3, 1:3] = 1.0  # a 2 x 2 bar from the support to the pad: the rules keep it
    density[:, 0, :] = 0.5  # and a one-cell plate beside it: the opening removes it
    cells = 40 + 40
    domain_h8 = [1.0, 1.0]
    b = B.before_rules(density, lay, Rules(min_thickness=2.0), cells, 3500.0, 0.3, domain_h8)
    assert b["cells_removed_by_rules"] > 0
    assert b["h8_objective"] == pytest.approx(np.mean(b["h8_compliance_nmm"]))
