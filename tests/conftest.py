"""Shared fixtures: small parts written to a temporary directory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"


@pytest.fixture
def box_stl(tmp_path: Path) -> Path:
    """A 20 x 10 x 5 mm box as binary STL."""
    path = tmp_path / "box.stl"
    trimesh.creation.box(extents=(20.0, 10.0, 5.0)).export(path)
    return path


@pytest.fixture
def bad_inputs(tmp_path: Path) -> dict[str, Path]:
    """Files that every importer must refuse with a one-line error."""
    files: dict[str, Path] = {}
    files["unknown_extension"] = tmp_path / "part.xyz"
    files["unknown_extension"].write_text("not a part")
    files["raising_script"] = tmp_path / "raises.py"
    files["raising_script"].write_text("import cadquery as cq\nraise ValueError('boom in script')\n")
    files["no_result_script"] = tmp_path / "noresult.py"
    files["no_result_script"].write_text("import cadquery as cq\nbox = 1 + 1\n")
    files["bad_step"] = tmp_path / "broken.step"
    files["bad_step"].write_text("ISO-10303-21;\nthis is not step\n")
    files["empty_mesh"] = tmp_path / "empty.stl"
    files["empty_mesh"].write_text("solid empty\nendsolid empty\n")
    nan_mesh = trimesh.creation.box(extents=(1, 1, 1))
    vertices = nan_mesh.vertices.copy()
    vertices[0] = np.nan
    files["nan_mesh"] = tmp_path / "nan.obj"
    files["nan_mesh"].write_text(
        "".join(f"v {x} {y} {z}\n" for x, y, z in vertices)
        + "".join(f"f {a + 1} {b + 1} {c + 1}\n" for a, b, c in nan_mesh.faces)
    )
    files["zero_volume"] = tmp_path / "flat.stl"
    trimesh.Trimesh(
        vertices=[[0, 0, 0], [10, 0, 0], [10, 10, 0], [0, 10, 0]], faces=[[0, 1, 2], [0, 2, 3]], process=False
    ).export(files["zero_volume"])
    return files


# The longest items first: with `pytest -n 2` a long item collected late (the docs that run whole pipelines)
# otherwise starts when the other worker is nearly done and becomes the suite's tail.
_LONG_FIRST = ("test_docs.py::test_doc_runs_as_written", "test_samples.py::", "test_refine.py::")


def pytest_collection_modifyitems(items: list) -> None:
    def rank(item) -> int:
        return next((k for k, key in enumerate(_LONG_FIRST) if key in item.nodeid), len(_LONG_FIRST))

    items.sort(key=rank)  # stable: the order within each group stays the collection order
