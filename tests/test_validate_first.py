"""Nothing is written before everything is checked (issue 18): every command refuses bad input with one line
and exit status 2 before its first output file, and a failure late in a command leaves no file behind."""

from __future__ import annotations

from pathlib import Path

import pytest
import trimesh
from typer.testing import CliRunner

from fab.cli import app

REPO = Path(__file__).resolve().parents[1]


def fab(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def work(tmp_path: Path, box_stl: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_file").write_text("not a folder")
    return tmp_path


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--gcode", "out/box.gcode", "--printer", "prusa-mk9"], "unknown printer 'prusa-mk9'"),
        (["--gcode", "out/box.gcode", "--infill-pattern", "gyroid"], "unknown infill pattern"),
        (["--gcode", "out/box.gcode", "--infill", "20"], "infill must be between 0 and 1"),
        (["--cnc", "out/box.nc", "--tool", "spoon"], "spoon"),
        (["--cnc", "out/box.nc", "--flavor", "fanuc"], "flavor 'fanuc'"),
        (["--assembly", "out/box.json"], "give exactly one of --pitch"),
        (["--vtk", "out/box.vtu", "--pitch", "1"], ".vti"),
        (["--gcode", "a_file/box.gcode"], "is not a writable folder"),
        (["--gcode", "out/box.stl"], "both write"),
    ],
)
def test_export_checks_every_input_before_the_first_file(work: Path, extra: list[str], message: str) -> None:
    code, output = fab("export", "box.stl", "--stl", "out/box.stl", *extra)
    assert code == 2 and message in output, output
    assert files_in(work) == ["a_file", "box.stl"], "an output was written before the error"


def test_export_failing_late_leaves_no_file(work: Path) -> None:
    """The STL is made before the slicer finds the part too big for the bed: it must not stay behind."""
    trimesh.creation.box(extents=(300.0, 10.0, 5.0)).export(work / "long.stl")
    code, output = fab("export", "long.stl", "--stl", "out/long.stl", "--gcode", "out/long.gcode")
    assert code == 2 and "300" in output, output
    assert not (work / "out").exists() or files_in(work / "out") == []


def test_printer_names_take_either_spelling(work: Path) -> None:
    code, output = fab("export", "box.stl", "--gcode", "out/box.gcode", "--printer", "prusa-mk3s", "--json")
    assert code == 0, output
    assert "printer = prusa_mk3s" in (work / "out/box.gcode").read_text()


def test_convert_checks_the_output_folder_before_importing(work: Path) -> None:
    code, output = fab("convert", "box.stl", "-o", "a_file/box.npz")
    assert code == 2 and "not a writable folder" in output
    code, output = fab("convert", "box.stl", "--pitch", "1", "--count", "100")
    assert code == 2 and "not both" in output


def test_convert_without_pitch_uses_the_default_count(work: Path) -> None:
    code, output = fab("convert", "box.stl", "-o", "box.npz", "--json")
    assert code == 0, output
    from fab.voxels import VoxelGrid

    assert 80_000 < VoxelGrid.load(work / "box.npz").count < 120_000


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--material", "unobtainium"], "--material"),
        (["--fix", "<Q"], "--fix '<Q'"),
        (["--png", "a_file/x.png"], "not a writable folder"),
        (["--vtk", "out/x.vti"], ".vtu"),
        (["--test", "bend"], "--test must be one of"),
    ],
)
def test_simulate_checks_every_input_before_the_first_file(work: Path, extra: list[str], message: str) -> None:
    args = ["simulate", "box.stl", "--pitch", "2", "--fix", "<X", "--load", ">X:force=0,0,-1", "--png", "out/x.png"]
    code, output = fab(*args, *extra)
    assert code == 2 and message in output, output
    assert files_in(work) == ["a_file", "box.stl"]


def test_run_checks_the_exports_before_simulating(work: Path) -> None:
    job = work / "job.toml"
    body = (
        '[part]\nsource = "box.stl"\n[voxels]\npitch = 2\n[material]\nname = "PLA"\n'
        '[[fix]]\nregion = "<X"\n[[load]]\nregion = ">X"\nforce = [0, 0, -1]\n'
    )
    job.write_text(body + '[export]\npng = "out/x.png"\ngcode = "a_file/x.gcode"\n')
    code, output = fab("run", job)
    assert code == 2 and "not a writable folder" in output, output
    job.write_text(body + '[export]\npng = "out/x.png"\nvtk = "out/x.vti"\n')
    code, output = fab("run", job)
    assert code == 2 and ".vtu" in output, output
    assert files_in(work) == ["a_file", "box.stl", "job.toml"]


def test_morph_checks_its_job_before_making_its_folder(work: Path) -> None:
    job = work / "job.toml"
    job.write_text('[morph]\nproblem = "gear"\noutput = "out/gear"\nteeth = 20\n')
    code, output = fab("morph", job, "--workers", "0")
    assert code == 2 and "--workers" in output, output
    job.write_text('[morph]\nproblem = "gear"\noutput = "a_file/gear"\n')
    code, output = fab("morph", job)
    assert code == 2 and "not a writable folder" in output, output
    assert files_in(work) == ["a_file", "box.stl", "job.toml"]


def test_check_assembly_refuses_a_missing_plan(work: Path) -> None:
    code, output = fab("check-assembly", "nope.json")
    assert code == 2 and "not found" in output
