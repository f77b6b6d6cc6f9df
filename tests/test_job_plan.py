"""A job file on an assembly plan ([part] source = "PLAN.json"): fab simulate / fab run take the path of
fab simulate PLAN.json (fab.lattice.stress_structure), with the job's fixes, loads, test and outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from exporters.assembly import plan_assembly, write_assembly
from fab.cli import app

SNAP = "PLA-20mm-snap"
JOB = """\
[part]
source = "ledge.json"
part_type = "PLA-20mm-snap"

[physics]
gravity = [0, 0, -9.81]

[[load]]
region = "x > 80"
force = [0, 0, -4]

[test]
kind = "failure"

[export]
vtk = "out/ledge.vtu"
vxa = "out/ledge.vxa"
"""


def fab(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def plan_dir(tmp_path: Path) -> Path:
    """A wall along y (5 high) and a slab cantilevering from its top along +x, plain PLA voxels in the plan."""
    occ = np.zeros((5, 2, 5), bool)
    occ[0] = True
    occ[1:, :, 4] = True
    write_assembly(plan_assembly(occ, 20.0, (10, 10, 10), materials=["PLA"]), tmp_path / "ledge.json")
    return tmp_path


def test_a_job_on_a_plan_gives_the_quick_flags_result(plan_dir):
    job = plan_dir / "job.toml"
    job.write_text(JOB)
    flags = fab("simulate", str(plan_dir / "ledge.json"), "--part-type", SNAP, "--load", "x > 80:force=0,0,-4",
                "--test", "failure", "--json")  # fmt: skip
    assert flags.exit_code == 0, flags.output
    expected = json.loads(flags.stdout)
    for command in ("simulate", "run"):
        got = fab(command, str(job), "--json")
        assert got.exit_code == 0, got.output
        out = json.loads(got.stdout)
        assert out["result"] == expected["result"] and out["voxels"] == expected["voxels"]
        assert out["result"]["failure_load_n"] > 4 and out["result"]["fragments"] >= 2
        assert set(out["outputs"]) == {"vtk", "vxa"}
        assert (plan_dir / "out/ledge.vtu").is_file() and (plan_dir / "out/ledge.vxa").is_file()
    # the job's own fixes and gravity: held at x < 20 (the wall), no gravity, a static test
    job.write_text(JOB.replace("-9.81", "0").replace('"failure"', '"static"').replace("[[load]]", '[[fix]]\nregion = "x < 20"\n\n[[load]]'))  # noqa: E501
    got = fab("simulate", str(job), "--json")
    flags = fab("simulate", str(plan_dir / "ledge.json"), "--part-type", SNAP, "--load", "x > 80:force=0,0,-4",
                "--fix", "x < 20", "--gravity", "0,0,0", "--json")  # fmt: skip
    assert got.exit_code == 0 and flags.exit_code == 0, got.output + flags.output
    assert json.loads(got.stdout)["result"] == json.loads(flags.stdout)["result"]
    assert json.loads(got.stdout)["result"]["reaction_force_n"][2] == pytest.approx(4.0, rel=1e-5)


@pytest.mark.parametrize(
    ("old", "new", "line", "says"),
    [
        ('part_type = "PLA-20mm-snap"', 'part_type = "PLA-20mm-snp"', 3, "did you mean 'PLA-20mm-snap'"),
        ('part_type = "PLA-20mm-snap"', 'part_type = "PLA-10mm-bonded"', 3, "the plan's lattice pitch is 20 mm"),
        ('vxa = "out/ledge.vxa"', 'gcode = "out/ledge.gcode"', 17, "'gcode' is an output of a solid part"),
        ('vtk = "out/ledge.vtu"', 'vtk = "out/ledge.vti"', 16, "'vtk' of an assembly plan is a .vtu file"),
        ('kind = "failure"', 'kind = "impact"', 13, "must be one of static, failure"),
        ('kind = "failure"', "steps = 10", 13, "'steps' applies to a solid part"),
        ("force = ", "velocity = ", 10, "force, torque or displacement"),
        ("gravity", "gravty", 6, "did you mean 'gravity'"),
        ("gravity = [0, 0, -9.81]", "model = 'lps'", 6, "'model' applies to a solid part"),
        ("[physics]", "[voxels]\npitch = 2\n\n[physics]", 5, "[voxels]: does not apply to an assembly plan"),
    ],
)
def test_a_bad_plan_job_is_one_line_naming_its_line(plan_dir, old, new, line, says):
    job = plan_dir / "bad.toml"
    job.write_text(JOB.replace(old, new))
    for command in ("simulate", "run"):
        result = fab(command, str(job))
        assert result.exit_code == 2, result.output
        lines = [x for x in result.output.splitlines() if x.strip()]
        assert len(lines) == 1 and f"bad.toml:{line}:" in lines[0] and says in lines[0], lines
        assert not (plan_dir / "out").exists()  # checked before anything is written


def test_plan_keys_on_a_solid_part_are_refused(tmp_path):
    (tmp_path / "bar.stl").write_text("solid x\nendsolid x\n")
    job = tmp_path / "job.toml"
    job.write_text('[part]\nsource = "bar.stl"\npart_type = "PLA-20mm-snap"\n\n[material]\nname = "PLA"\n')
    result = fab("simulate", str(job))
    assert result.exit_code == 2 and "job.toml:3: [part]: 'part_type' applies to an assembly plan" in result.output
    job.write_text('[part]\nsource = "bar.stl"\n\n[material]\nname = "PLA"\n\n[physics]\ngravity = [0, 0, -9.81]\n')
    result = fab("simulate", str(job))
    assert result.exit_code == 2 and "job.toml:8: [physics]: 'gravity' applies to an assembly plan" in result.output
