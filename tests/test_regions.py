"""Region expressions: extremes, arithmetic, shapes, safety, and error messages with columns."""

from __future__ import annotations

import numpy as np
import pytest

from fab.errors import FabError
from fab.regions import parse_region, select

PITCH = 0.5


@pytest.fixture(scope="module")
def grid() -> np.ndarray:
    """A 20 x 8 x 4 lattice of particle centres, pitch 0.5 mm, spanning x 0..9.5, y 0..3.5, z 0..1.5."""
    axes = (np.arange(20) * PITCH, np.arange(8) * PITCH, np.arange(4) * PITCH)
    return np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)


def reference(grid: np.ndarray, cond) -> np.ndarray:  # noqa: ANN001
    x, y, z = grid.T
    return cond(x, y, z)


@pytest.mark.parametrize(
    ("expr", "cond"),
    [
        (">X", lambda x, y, z: x == 9.5),
        ("<X", lambda x, y, z: x == 0),
        ("<Z", lambda x, y, z: z == 0),
        (">Y", lambda x, y, z: y == 3.5),
        (">X:2", lambda x, y, z: x > 7.5),  # 2 mm = 4 layers
        (">X 2", lambda x, y, z: x > 7.5),
        ("<Y:0.1", lambda x, y, z: y == 0),  # thinner than a pitch still selects the outer layer
        (">X and z > 1", lambda x, y, z: (x == 9.5) & (z > 1)),
        ("not (>X or <X)", lambda x, y, z: (x > 0) & (x < 9.5)),
        ("x < 2 and z > 1", lambda x, y, z: (x < 2) & (z > 1)),
        ("(x-5)**2 + y**2 < 4", lambda x, y, z: (x - 5) ** 2 + y**2 < 4),
        ("0 < x <= 1 or y >= 3", lambda x, y, z: ((x > 0) & (x <= 1)) | (y >= 3)),
        ("abs(x - 5) <= min(1, 2) and sqrt(y) < max(1, 0.5)", lambda x, y, z: (abs(x - 5) <= 1) & (y < 1)),
        ("x < pi", lambda x, y, z: x < np.pi),
        ("-x > -1 and x % 1 < 0.25", lambda x, y, z: (x < 1) & (x % 1 < 0.25)),
        ("box(1, 1, 0, 2, 2, 0.5)", lambda x, y, z: (x >= 1) & (x <= 2) & (y >= 1) & (y <= 2) & (z <= 0.5)),
        ("box(2, 2, 0.5, 1, 1, 0)", lambda x, y, z: (x >= 1) & (x <= 2) & (y >= 1) & (y <= 2) & (z <= 0.5)),
        ("sphere(5, 2, 1, 1)", lambda x, y, z: (x - 5) ** 2 + (y - 2) ** 2 + (z - 1) ** 2 <= 1),
        ("cylinder(5, 2, 0, 0, 0, 1, 1)", lambda x, y, z: (x - 5) ** 2 + (y - 2) ** 2 <= 1),
        (
            "cylinder(5, 2, 0, 0, 0, 1, 1, 0.5)",
            lambda x, y, z: ((x - 5) ** 2 + (y - 2) ** 2 <= 1) & (z <= 0.5),
        ),
        ("cylinder(0, 2, 1, 1, 0, 0, 1, 3)", lambda x, y, z: ((y - 2) ** 2 + (z - 1) ** 2 <= 1) & (x <= 3)),
        (
            "box(0,0,0,9.5,3.5,1.5) and not sphere(5, 2, 1, 1)",
            lambda x, y, z: (x - 5) ** 2 + (y - 2) ** 2 + (z - 1) ** 2 > 1,
        ),
    ],
)
def test_selection_matches_numpy_reference(grid: np.ndarray, expr: str, cond) -> None:  # noqa: ANN001
    got = select(expr, grid, pitch_mm=PITCH)
    want = reference(grid, cond)
    assert got.dtype == bool and got.shape == (len(grid),)
    np.testing.assert_array_equal(got, want)


def test_default_depth_is_one_layer_of_the_given_pitch(grid: np.ndarray) -> None:
    coarse = grid[::2]
    assert select(">X", grid, pitch_mm=1.0).sum() == (grid[:, 0] > 8.5).sum()  # depth follows the pitch
    region = parse_region("<X")
    assert region.mask(coarse, pitch_mm=PITCH).sum() == (coarse[:, 0] == 0).sum()  # reusable object


@pytest.mark.parametrize(
    ("expr", "words"),
    [
        ("x <", "column 3"),
        ("x < 1 and", "column"),
        ("x + 1", "is a number, not a condition"),
        ("x < 1 and y", "expected a condition"),
        ("__import__('os').system('true')", "unknown name"),
        ("open('f') and x < 1", "unknown function 'open'"),
        ("x.real < 1", "not allowed"),
        ("x == 1", "only < <= > >="),
        ("foo < 1", "unknown name 'foo' (known"),
        ("x < X", "unknown name 'X'"),
        ("box(1, 2)", "box() takes 6 arguments"),
        ("min(x) < 1", "min() takes 2 to 16"),
        ("x < 'a'", "'a' is not a number at column 5"),
        ("(lambda: 1)() < 2", "allowed"),
        ("[x][0] < 1", "not allowed"),
        (">X:0", "depth must be > 0"),
        ("", "non-empty"),
        ("x < 1\nor y < 1", "one line"),
        ("sqrt(x, key=1) < 1", "plain calls"),
    ],
)
def test_bad_expressions_raise_one_line(grid: np.ndarray, expr: str, words: str) -> None:
    with pytest.raises(FabError) as err:
        select(expr, grid, pitch_mm=PITCH)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_empty_selection_names_expression_and_bbox(grid: np.ndarray) -> None:
    with pytest.raises(
        FabError, match=r"'x > 100' selects no particle .*x 0\.\.9\.5, y 0\.\.3\.5, z 0\.\.1\.5 mm"
    ):
        select("x > 100", grid, pitch_mm=PITCH)
    assert not parse_region("x > 100").mask(grid, pitch_mm=PITCH).any()  # mask itself does not raise


def test_bad_points_and_pitch(grid: np.ndarray) -> None:
    with pytest.raises(FabError, match="shape"):
        select(">X", grid[:, :2], pitch_mm=PITCH)
    with pytest.raises(FabError, match="pitch"):
        select(">X", grid, pitch_mm=0.0)
    with pytest.raises(FabError, match="axis"):
        select("cylinder(0, 0, 0, 0, 0, 0, 1)", grid, pitch_mm=PITCH)
