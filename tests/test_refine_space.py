"""The refinement's design spaces through the job file (`fab morph JOB --json`, quick mode, a tiny L part):
"part" only removes material, "bbox", a margin in mm and a second CAD file let it grow into the envelope and
never outside it or into a keep-out region; a malformed design space is one line, exit 2 and no files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import trimesh
from typer.testing import CliRunner

from fab.cli import app
from fab.voxels import VoxelGrid

# The L: an upright x 0..4, z 0..12 (held at its top) and a base x 4..16, z 0..4 (loaded at its end); y -2..2.
UPRIGHT = ((0.0, -2.0, 0.0), (4.0, 2.0, 12.0))
BASE = ((4.0, -2.0, 0.0), (16.0, 2.0, 4.0))
ENVELOPE = ((0.0, -2.0, 0.0), (16.0, 2.0, 8.0))  # the second CAD file: the part's lower 8 mm, filled
KEEP_OUT = "x > 8 and x < 12 and z > 2"  # a clearance through the base's top half and above it


def _box(lo, hi) -> trimesh.Trimesh:
    lo, hi = np.asarray(lo), np.asarray(hi)
    return trimesh.creation.box(extents=hi - lo).apply_translation((lo + hi) / 2)


def _distance_to_box(p: np.ndarray, box) -> np.ndarray:
    lo, hi = np.asarray(box[0]), np.asarray(box[1])
    return np.linalg.norm(np.maximum(np.maximum(lo - p, p - hi), 0.0), axis=1)


def _distance_to_part(p: np.ndarray) -> np.ndarray:
    return np.minimum(_distance_to_box(p, UPRIGHT), _distance_to_box(p, BASE))


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("space")
    trimesh.boolean.union([_box(*UPRIGHT), _box(*BASE)], engine="manifold").export(root / "l.stl")
    _box(*ENVELOPE).export(root / "envelope.stl")
    return root


def _job(folder: Path, name: str, space: str, keep_out: bool = True) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(
        f"""
[part]
source = "l.stl"
[voxels]
pitch = 1.0
[material]
name = "PLA"
[physics]
model = "pmb"
[[fix]]
region = "z > 11"
[[load]]
region = ">X:1"
force = [0, 0, -10]
[morph]
problem = "part"
design_space = {space}
{f"keep_out = [{KEEP_OUT!r}]" if keep_out else ""}
steps = 4
min_thickness = 2
output = "out-{name}"
"""
    )
    return path


def _morph(job: Path):
    return CliRunner().invoke(app, ["morph", str(job), "--json"])


def _refined_centres(summary: dict) -> np.ndarray:
    grid = VoxelGrid.load(summary["outputs"]["voxels_npz"])
    return np.asarray(grid.origin) + np.argwhere(grid.occupancy) * grid.pitch


@pytest.mark.parametrize(
    ("name", "space"),
    [("part", '"part"'), ("bbox", '"bbox"'), ("margin", "2.0"), ("envelope", '"envelope.stl"')],
)
def test_design_space_bounds_the_refined_part(folder, name, space):
    result = _morph(_job(folder, name, space))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["guards"]["final"] == []
    centres = _refined_centres(summary)
    outside_part = _distance_to_part(centres) > 1e-9
    x, z = centres[:, 0], centres[:, 2]
    assert not ((x > 8) & (x < 12) & (z > 2)).any(), "material in the keep-out region"
    if name == "part":  # only removed: every refined cell is a cell of the part
        assert not outside_part.any()
        assert summary["mass_refined_g"] < summary["mass_original_g"]
        from fab.refine import refine_lines

        assert "safety factor: not measured (fab morph runs no failure test" in refine_lines(summary)[1]
        return
    # Grown where the design space allows, and never beyond it.
    assert outside_part.any(), f"{name}: nothing grew outside the part"
    assert summary["cells"]["design_space"] > summary["cells"]["original"]
    if name == "bbox":
        assert (_distance_to_box(centres, ((0, -2, 0), (16, 2, 12))) == 0).all()
    elif name == "margin":
        assert (_distance_to_part(centres) <= 2.0 + 1e-9).all()
        assert (centres.min(axis=0) < (0, -2, 0)).any() or (centres.max(axis=0) > (16, 2, 12)).any()
    else:
        assert (~outside_part | (_distance_to_box(centres, ENVELOPE) == 0)).all()


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ('"bbx"', "no such file"),
        ('"2"', "a margin is a number"),
        ('"missing.step"', "CAD file not found"),
        ("-2", "margin must be > 0 mm"),
        ("0", "margin must be > 0 mm"),
        ("true", "must be"),
        ("[1, 2]", "must be"),
        ('"notes.txt"', "unknown part format"),
        ('"open.stl"', "is not a closed solid"),
    ],
)
def test_malformed_design_space_is_one_line_exit_2_and_no_files(folder, space, message):
    (folder / "notes.txt").write_text("not a CAD file\n")
    box = _box(*ENVELOPE)
    box.update_faces(np.arange(len(box.faces)) >= 6)  # half a box: no inside to grow into
    box.export(folder / "open.stl")
    name = f"bad{abs(hash(space)) % 10**6}"
    result = _morph(_job(folder, name, space))
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "design_space" in lines[0] and message in lines[0], result.stderr
    assert "Traceback" not in result.output
    assert not (folder / f"out-{name}").exists()


def test_a_pitch_that_leaves_plates_one_voxel_thick_is_refused(folder):
    """At a pitch as coarse as its plates, the part is a sheet of single particles: one line, exit 2, no files."""
    _box((0, 0, 0), (12, 6, 1)).export(folder / "plate.stl")
    job = _job(folder, "plate", '"part"', keep_out=False)
    job.write_text(job.read_text().replace('"l.stl"', '"plate.stl"').replace('"z > 11"', '"x < 1"'))
    result = _morph(job)
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "one voxel thick" in lines[0] and "pitch to 0.5 mm or finer" in lines[0], lines
    assert not (folder / "out-plate").exists()


def test_a_few_one_voxel_features_are_a_warning_not_an_error():
    from fab.errors import FabError
    from fab.morph.part_job import _check_resolved

    block = np.zeros((12, 12, 12), dtype=bool)
    block[1:11, 1:11, 1:9] = True
    _check_resolved("job.toml", block, 1.0)  # nothing thin: silent
    block[1:11, 5, 9:11] = True  # a fin one voxel thick: 20 of 820 cells
    with pytest.warns(UserWarning, match="one voxel thick"):
        _check_resolved("job.toml", block, 1.0)
    with pytest.raises(FabError, match="pitch to 0.5 mm or finer"):
        _check_resolved("job.toml", block[:, 5:6, :], 1.0)
