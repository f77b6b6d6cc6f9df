"""Job file: a complete happy path, every error path (one line naming file:line and key), CLI quick flags."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from fab.errors import FabError
from fab.job import Job, Load, job_from_flags, load_job, parse_load_flag

GOOD = """\
# a complete job
[part]
source = "bracket.py"
params = { length = 60 }
units = "mm"

[voxels]
pitch = 0.5

[material]
name = "PLA"

[physics]
model = "lps"
dimension = 3
horizon = 3.015

[[fix]]
region = "<X"

[[load]]
region = ">X"
force = [0, 0, -200]

[[load]]
region = "box(0, 0, 9, 10, 10, 10)"
torque = [0, 0, 5]
point = [0, 0, 10]

[test]
kind = "failure"

[export]
stl = "out/bracket.stl"
gcode = "out/bracket.gcode"
vtk = "out/bracket.vtu"
png = "out/bracket.png"
assembly = "out/bracket_assembly.json"

[morph]
generations = 10
"""


@pytest.fixture
def job_dir(tmp_path: Path) -> Path:
    (tmp_path / "bracket.py").write_text("import cadquery as cq\nresult = cq.Workplane().box(60, 10, 10)\n")
    return tmp_path


def write(job_dir: Path, text: str) -> Path:
    path = job_dir / "job.toml"
    path.write_text(text)
    return path


def test_complete_job_parses(job_dir: Path) -> None:
    job = load_job(write(job_dir, GOOD))
    assert isinstance(job, Job)
    assert job.part.source == (job_dir / "bracket.py").resolve() and job.part.params == {"length": 60}
    assert job.voxels.pitch == 0.5 and job.voxels.count is None
    assert job.material.name == "PLA" and job.material.youngs_modulus == pytest.approx(3.5e9)
    assert (job.physics.model, job.physics.dimension, job.physics.horizon) == ("lps", 3, 3.015)
    assert [f.region for f in job.fix] == ["<X"]
    assert job.load[0] == Load(">X", "force", (0.0, 0.0, -200.0))
    assert job.load[1].kind == "torque" and job.load[1].point == (0.0, 0.0, 10.0)
    assert job.test.kind == "failure"
    assert job.export.stl == (job_dir / "out/bracket.stl").resolve()
    assert set(job.export.requested()) == {"stl", "gcode", "vtk", "png", "assembly"}
    assert job.morph == {"generations": 10}


def test_defaults_and_custom_material(job_dir: Path) -> None:
    text = (
        '[part]\nsource = "bracket.py"\n[material]\nyoungs_modulus = 2e9\npoisson_ratio = 0.3\n'
        "density = 1100\nk_ic = 2e6\ntensile_strength = 4e7\n"
    )
    job = load_job(write(job_dir, text))
    assert job.voxels.count == 100_000 and job.voxels.pitch is None
    assert job.physics.model == "lps" and job.test.kind == "static" and job.fix == () and job.morph is None
    assert job.material.name == "custom" and job.material.k_ic == pytest.approx(2e6)


def test_material_as_plain_string(job_dir: Path) -> None:
    text = GOOD.replace('[material]\nname = "PLA"\n', "").replace("# a complete job", 'material = "nylon12"')
    assert load_job(write(job_dir, text)).material.name == "PA12"


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


@pytest.mark.parametrize(
    ("old", "new", "at", "words"),
    [
        (
            "force = [0, 0, -200]",
            'force = [0, 0, "abc"]',
            "force = ",
            "[[load]] 1: 'force' must be 3 numbers in N, got 'abc'",
        ),
        ("force = [0, 0, -200]", "force = [0, -200]", "force = ", "3 numbers in N"),
        ("force = [0, 0, -200]", "force = [0, 0, 0]", "force = ", "zero"),
        ("force = [0, 0, -200]", "forc = [0, 0, -200]", "forc = ", "did you mean 'force'"),
        ("force = [0, 0, -200]", "force = [0, 0, -200]\nvelocity = [1, 0, 0]", "velocity", "exactly one of"),
        ("force = [0, 0, -200]", "", "[[load]]", "exactly one of"),
        ('region = ">X"', 'region = " <X"', '" <X"', "also a [[fix]] region"),
        ('region = ">X"', 'region = ">X and"', 'region = ">X and"', "syntax error at column"),
        ('region = "<X"', 'region = "q < 1"', 'region = "q < 1"', "unknown name 'q'"),
        ("point = [0, 0, 10]", "point = [0, 0, 10]\n", "point", None),
        ("pitch = 0.5", "pich = 0.5", "pich", "[voxels]: unknown key 'pich': did you mean 'pitch'"),
        ("pitch = 0.5", "pitch = -1", "pitch", "'pitch' must be > 0 mm"),
        ("pitch = 0.5", 'pitch = "fine"', "pitch", "must be a number in mm"),
        ("pitch = 0.5", "pitch = 0.5\ncount = 1000", "count", "not both"),
        ("pitch = 0.5", "count = 2.5", "count", "positive whole number"),
        ('name = "PLA"', 'name = "PLAA"', "PLAA", "did you mean 'PLA'"),
        (
            'name = "PLA"',
            "youngs_modulus = 3.5\npoisson_ratio = 0.3\ndensity = 1200\nfracture_energy = 1e3\n"
            "tensile_strength = 5e7",
            "youngs_modulus",
            "3.5e9 Pa",
        ),
        ('name = "PLA"', 'name = "PLA"\npoisson_ratio = 0.7', "poisson_ratio", "(-1, 0.5)"),
        ('name = "PLA"', "youngs_modulus = 3e9", "[material]", "missing"),
        ('model = "lps"', 'model = "pbm"', "model", "did you mean 'pmb'"),
        ("dimension = 3", "dimension = 1", "dimension", "3 or 2"),
        ("dimension = 3", "dimension = 3\nthickness = 5", "thickness", "only to dimension = 2"),
        ("horizon = 3.015", "horizon = 0.0015", "horizon", "lattice spacings"),
        ("dimension = 3", "dimension = 2", "force = [0, 0, -200]", "z component (-200 N)"),
        ('kind = "failure"', 'kind = "fail"', 'kind = "fail"', "did you mean 'failure'"),
        ('kind = "failure"', 'kind = "static"\nsteps = 0', "steps", "positive whole number"),
        ('source = "bracket.py"', 'source = "missing.py"', "missing.py", "part source not found"),
        ('units = "mm"', 'units = "furlong"', "furlong", "'units' must be one of"),
        ("params = { length = 60 }", "params = 60", "params", "must be a table"),
        ("[physics]", "[physic]", "[physic]", "did you mean [physics]"),
        ("[[fix]]", "[fix]", "[fix]", "write [[fix]]"),
        ('stl = "out/bracket.stl"', 'stll = "out/bracket.stl"', "stll", "did you mean 'stl'"),
        ('stl = "out/bracket.stl"', "stl = 5", "stl = 5", "non-empty string"),
        ("[part]", "[part]\nsource2 = 1", "source2", "unknown key 'source2'"),
    ],
)
def test_errors_name_line_and_key(job_dir: Path, old: str, new: str, at: str, words: str | None) -> None:
    text = GOOD.replace(old, new, 1)
    path = write(job_dir, text)
    if words is None:  # the replacement is harmless: still valid
        load_job(path)
        return
    with pytest.raises(FabError) as err:
        load_job(path)
    msg = str(err.value)
    assert words in msg and "\n" not in msg
    assert msg.startswith(f"job.toml:{line_of(text, at)}:"), msg


def test_toml_syntax_error_has_line_and_column(job_dir: Path) -> None:
    text = GOOD.replace('model = "lps"', "model = lps")
    with pytest.raises(FabError, match=rf"^job.toml:{line_of(text, 'model = lps')}:9: TOML syntax error"):
        load_job(write(job_dir, text))


def test_missing_tables_and_files(job_dir: Path) -> None:
    with pytest.raises(FabError, match="job file not found"):
        load_job(job_dir / "nope.toml")
    with pytest.raises(FabError, match=r"missing \[part\]"):
        load_job(write(job_dir, '[material]\nname = "PLA"\n'))
    with pytest.raises(FabError, match=r"missing \[material\]"):
        load_job(write(job_dir, '[part]\nsource = "bracket.py"\n'))
    with pytest.raises(FabError, match=r"job.toml:1: \[part\]: missing 'source'"):
        load_job(write(job_dir, '[part]\nunits = "mm"\n[material]\nname = "PLA"\n'))


def test_dotted_top_level_keys_are_located(job_dir: Path) -> None:
    text = 'physics.model = "xyz"\n[part]\nsource = "bracket.py"\n[material]\nname = "PLA"\n'
    with pytest.raises(FabError, match=r"^job.toml:1: \[physics\]: 'model' must be one of"):
        load_job(write(job_dir, text))


def test_job_from_flags(job_dir: Path) -> None:
    part = job_dir / "bracket.py"
    job = job_from_flags(
        part, "pla", 1, None, ["<X"], [">X:2:force=0,0,-200", "<Z:velocity=0, 0, -1"], "Failure", "pmb", 3
    )
    assert job.voxels.pitch == 1.0 and job.material.name == "PLA" and job.test.kind == "failure"
    assert job.physics.model == "pmb" and job.fix[0].region == "<X"
    assert job.load[0] == Load(">X:2", "force", (0.0, 0.0, -200.0))
    assert job.load[1] == Load("<Z", "velocity", (0.0, 0.0, -1.0))
    assert job_from_flags(part).voxels.count == 100_000


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"part": "missing.step"}, "part source not found"),
        ({"material": "unobtainium"}, "--material: unknown material"),
        ({"pitch": 1.0, "count": 10}, "not both"),
        ({"pitch": -1.0}, "--pitch"),
        ({"fix": ["x <"]}, "--fix 'x <'"),
        ({"load": [">X"]}, "expected REGION:force=Fx,Fy,Fz"),
        ({"load": [">X:force=1,2"]}, "3 numbers in N"),
        ({"load": [">X:force=a,b,c"]}, "3 numbers in N"),
        ({"load": [">X:force=0,0,0"]}, "zero"),
        ({"fix": [">X"], "load": [">X:force=0,0,-1"]}, "also a --fix region"),
        ({"test": "bend"}, "--test"),
        ({"model": "bond"}, "--model"),
        ({"dimension": 4}, "--dimension"),
        ({"dimension": 2, "load": [">X:force=0,5,-1"]}, "z component (-1 N)"),
        ({"dimension": 2, "load": [">X:torque=1,0,0"]}, "turns about z only"),
    ],
)
def test_flag_errors(job_dir: Path, kwargs: dict, words: str) -> None:
    args = {"part": job_dir / "bracket.py", **kwargs}
    if not Path(args["part"]).is_absolute():
        args["part"] = job_dir / args["part"]
    with pytest.raises(FabError) as err:
        job_from_flags(**args)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_plane_stress_takes_in_plane_loads(job_dir: Path) -> None:
    """dimension = 2 has no z: in-plane forces and a torque about z are accepted, a tilted torque axis is refused
    in the job file (with its line) and in a Job built in code (the plugin's path) before anything runs."""
    from fab.model import check_supported

    text = GOOD.replace("dimension = 3", "dimension = 2").replace("force = [0, 0, -200]", "force = [0, -200, 0]")
    job = load_job(write(job_dir, text))
    assert job.physics.dimension == 2 and job.load[0].vector == (0.0, -200.0, 0.0)
    tilted = text.replace("torque = [0, 0, 5]", "torque = [0, 1, 5]")
    with pytest.raises(FabError, match="turns about z only") as err:
        load_job(write(job_dir, tilted))
    assert str(err.value).startswith(f"job.toml:{line_of(tilted, 'torque = [0, 1, 5]')}:")
    in_code = replace(job, load=(Load(">X", "force", (0.0, 0.0, -1.0)),))
    with pytest.raises(FabError, match=r"load 1 \(>X\): .*z component"):
        check_supported(in_code, model=None)


def test_parse_load_flag_keeps_colons_in_region() -> None:
    assert parse_load_flag(">X:2:torque=0,0,5").region == ">X:2"
    assert parse_load_flag("box(0,0,0,1,1,1):displacement=0.1,0,0").vector == (0.1, 0.0, 0.0)


def test_cli_errors_show_table_names_in_brackets(tmp_path: Path) -> None:
    """An error quoting a job file's table ("[part]") prints it as written: the console's markup must not eat it."""
    from typer.testing import CliRunner

    from fab.cli import app

    job = tmp_path / "job.toml"
    job.write_text('[part]\nsource = "nothing.py"\n[material]\nname = "PLA"\n')
    result = CliRunner().invoke(app, ["simulate", str(job)])
    assert result.exit_code == 2
    assert "job.toml:2: [part]: part source not found" in result.stderr
