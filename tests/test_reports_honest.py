"""No report can mislead (issue 18): a solve that stopped short says NOT CONVERGED, with its residual and what to
raise in the words of the interface in use, in the summary, the table, the picture's title, the plugin's report
and the CLI's exit status; a failure test labels its service-load figures and shows its load curve."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import trimesh
from typer.testing import CliRunner

from fab.cli import app
from fab.errors import FabError
from fab.report import png_title, summary_lines
from fab.stress import stress_test


@pytest.fixture
def bar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "bar.stl"
    trimesh.creation.box(extents=(20.0, 6.0, 6.0)).export(path)
    return path


def test_cli_says_not_converged_and_exits_3(bar: Path) -> None:
    result = CliRunner().invoke(
        app, ["simulate", str(bar), "--pitch", "2", "--fix", "<X", "--load", ">X:force=0,0,-5", "--steps", "1"]
    )
    assert result.exit_code == 3, result.output
    assert "NOT CONVERGED" in result.output and "raise --steps" in result.output and "residual" in result.output


def test_job_file_wording(bar: Path) -> None:
    job = bar.with_name("job.toml")
    job.write_text(
        '[part]\nsource = "bar.stl"\n[voxels]\npitch = 2\n[material]\nname = "PLA"\n[[fix]]\nregion = "<X"\n'
        '[[load]]\nregion = ">X"\nforce = [0, 0, -5]\n[test]\nsteps = 1\n'
    )
    result = CliRunner().invoke(app, ["run", str(job)])
    assert result.exit_code == 3 and "raise [test] steps" in result.output, result.output


def test_plugin_report_says_so_in_python_words(bar: Path) -> None:
    with pytest.warns(RuntimeWarning, match="NOT CONVERGED.*raise steps="):
        report = stress_test(bar, pitch=2, fix="<X", load=">X:force=0,0,-5", steps=1)
    assert not report.converged and "steps=" in report.not_converged
    assert "NOT CONVERGED" in str(report) and "NOT CONVERGED" in summary_lines(report)[1]
    assert png_title(report, "undeformed").startswith("NOT CONVERGED")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ok = stress_test(bar, pitch=2, fix="<X", load=">X:force=0,0,-5")
    assert ok.converged and ok.not_converged is None and "NOT CONVERGED" not in ok.summary()


def test_unknown_keyword_gets_did_you_mean(bar: Path) -> None:
    with pytest.raises(FabError, match="did you mean steps"):
        stress_test(bar, pitch=2, fix="<X", load=">X:force=0,0,-5", step=100)


def test_failure_report_labels_service_load_and_draws_the_curve(bar: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["simulate", str(bar), "--pitch", "2", "--fix", "<X", "--load", ">X:force=0,0,-50", "--test", "failure",
         "--png", "out/bar.png", "--json"],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    curve = summary["result"]["curve"]
    assert curve and all(isinstance(p["failed"], bool) and isinstance(p.get("peak", False), bool) for p in curve)
    assert Path("out/bar_curve.png").stat().st_size > 0 and summary["outputs"]["curve_png"] == "out/bar_curve.png"
    report = stress_test(bar, pitch=2, fix="<X", load=">X:force=0,0,-50", test="failure")
    lines = summary_lines(report)
    assert lines[1].startswith("at the service load:") and lines[3].startswith("at the service load:")
    assert any(line.startswith("failure: at") for line in lines)
    assert any(line.startswith("load-displacement curve") for line in lines)
    assert "failed state at" in png_title(report, "x1")


def test_material_messages_fit_the_command_line(bar: Path) -> None:
    result = CliRunner().invoke(app, ["simulate", str(bar), "--pitch", "2", "--material", "PLAA"])
    assert result.exit_code == 2
    assert "did you mean 'PLA'" in result.output and "job file" in result.output and "youngs_modulus" not in result.output
    with pytest.warns(UserWarning, match="'aluminium 6061' is the built-in Al6061-T6"):
        from fab.materials import get_material

        assert get_material("aluminium 6061").name == "Al6061-T6"


def test_converge_refines_until_settled_or_the_budget(bar: Path) -> None:
    report = stress_test(bar, pitch=2, fix="<X", load=">X:force=0,0,-5", converge=True, max_particles=700)
    study = report.convergence
    assert study is not None and len(study.pitches) >= 2
    assert study.pitches[1] == pytest.approx(study.pitches[0] / 1.4, rel=1e-6)
    assert report.pitch_mm == study.pitches[-1] and report.particles == study.particles[-1]
    text = "\n".join(study.lines())
    assert "convergence study" in text and "max displacement" in text
    assert study.converged or "budget" in study.stopped_by
    result = CliRunner().invoke(
        app, ["simulate", str(bar), "--pitch", "2", "--fix", "<X", "--load", ">X:force=0,0,-5", "--converge",
              "--max-particles", "100", "--json"],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert "budget" in summary["convergence"]["stopped_by"] and len(summary["convergence"]["pitch_mm"]) == 1
