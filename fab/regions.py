"""Region expressions: pick particles (points in mm) for fixtures and loads.

Syntax (all lengths in mm; full reference in docs/job-file.md):

- Extreme selectors, CadQuery style: ``>X`` ``<X`` ``>Y`` ``<Y`` ``>Z`` ``<Z`` select the particles whose
  coordinate lies within ``depth`` of the part's extreme, written ``>X:2`` (depth 2 mm). The default depth
  is one pitch (">X:2" and ">X 2" mean the same), which selects exactly one layer of particles (a particle stands for a pitch-thick slab,
  so ``>X:2`` at pitch 0.5 selects 4 layers).
- Coordinates ``x``, ``y``, ``z`` with ``+ - * / ** %``, comparisons (chains allowed: ``0 < x < 5``),
  ``and``, ``or``, ``not``, parentheses, ``pi``, and the functions ``abs sqrt min max sin cos hypot``.
- Shapes: ``box(x0, y0, z0, x1, y1, z1)`` (corners, faces included), ``sphere(cx, cy, cz, r)``,
  ``cylinder(cx, cy, cz, ax, ay, az, r)`` (infinite, axis through (cx, cy, cz) along (ax, ay, az)),
  ``cylinder(cx, cy, cz, ax, ay, az, r, h)`` (base centre at (cx, cy, cz), height h along the axis).
- Extremes and shapes combine with the rest: ``>X and z > 1``, ``box(...) and not sphere(...)``.

The text is parsed with Python's ``ast`` and checked against a strict allow-list of node types and
names, then compiled into numpy closures; user text is never evaluated.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from fab.errors import FabError

_Coords = tuple[np.ndarray, np.ndarray, np.ndarray]
_Eval = Callable[[_Coords, "_Context"], np.ndarray | float]

# ">X", "<Z:2", ">Y 0.5" -- only where a condition may start (beginning, after "(", "and", "or", "not").
_EXTREME = re.compile(
    r"([<>])\s*([XYZ])(?![\w.])(?:(?:\s*:\s*|\s+)([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)(?![\w.]))?"
)
_CONDITION_START = re.compile(r"(?:^|[(,]|\b(?:and|or|not))$")
_AXES = {"x": 0, "y": 1, "z": 2}
_CONST = {"pi": math.pi}
_FUNCS: dict[str, tuple[Callable[..., np.ndarray | float], int, int]] = {
    "abs": (np.abs, 1, 1),
    "sqrt": (np.sqrt, 1, 1),
    "sin": (np.sin, 1, 1),
    "cos": (np.cos, 1, 1),
    "hypot": (np.hypot, 2, 2),
    "min": (lambda *a: _reduce(np.minimum, a), 2, 16),
    "max": (lambda *a: _reduce(np.maximum, a), 2, 16),
}
_SHAPES = {"box": (6, 6), "sphere": (4, 4), "cylinder": (7, 8)}
_BINOPS = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.divide,
    ast.Pow: np.power,
    ast.Mod: np.mod,
}
_CMPS = {
    ast.Lt: np.less,
    ast.LtE: np.less_equal,
    ast.Gt: np.greater,
    ast.GtE: np.greater_equal,
}


def _reduce(op: Callable, args: tuple) -> np.ndarray | float:
    out = args[0]
    for a in args[1:]:
        out = op(out, a)
    return out


@dataclass
class _Context:
    """What extreme selectors need beyond the coordinates: the whole part and its pitch."""

    lo: np.ndarray
    hi: np.ndarray
    pitch: float


@dataclass(frozen=True)
class Region:
    """A compiled region expression; ``mask(points_mm, pitch_mm=...)`` evaluates it on every point."""

    expr: str
    _fn: _Eval = field(repr=False, compare=False)

    def mask(self, points_mm: np.ndarray, *, pitch_mm: float) -> np.ndarray:
        """Boolean array, one entry per point (may be all False; :func:`select` refuses that)."""
        pts = _points(points_mm)
        try:
            pitch = float(pitch_mm)
        except (TypeError, ValueError):
            pitch = math.nan
        if not (math.isfinite(pitch) and pitch > 0):
            raise FabError(f"pitch must be a positive number of mm, got {pitch_mm!r}")
        if len(pts) == 0:
            return np.zeros(0, dtype=bool)
        ctx = _Context(pts.min(axis=0), pts.max(axis=0), pitch)
        with np.errstate(all="ignore"):  # sqrt of negatives etc. give NaN, which compares False
            out = self._fn((pts[:, 0], pts[:, 1], pts[:, 2]), ctx)
        return np.broadcast_to(np.asarray(out, dtype=bool), (len(pts),)).copy()


def _points(points_mm: np.ndarray) -> np.ndarray:
    pts = np.asarray(points_mm, dtype=float)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise FabError(f"points must have shape (n, 3) in mm, got {pts.shape}")
    return pts


def parse_region(expr: str) -> Region:
    """Compile a region expression (see the module docstring); syntax errors raise ``FabError`` with the column."""
    if not isinstance(expr, str) or not expr.strip():
        raise FabError(f"region must be a non-empty expression, got {expr!r}")
    if "\n" in expr or "\r" in expr:
        raise FabError(f"region {expr!r} must be on one line")
    for m in re.finditer(r"\b_\w*", expr):
        raise FabError(f"region {expr!r}: unknown name {m.group()!r} at column {m.start() + 1}")
    # Replace each extreme selector by a placeholder name of the same length so columns stay right.
    extremes: dict[str, tuple[int, int, float | None]] = {}

    def placeholder(m: re.Match) -> str:
        if not _CONDITION_START.search(expr[: m.start()].rstrip()):
            return m.group()  # e.g. "x > X": left for the parser to reject as an unknown name
        width = m.end() - m.start()
        tag = f"_{len(extremes)}"
        if len(tag) > width:
            raise FabError(f"region {expr!r}: too many extreme selectors")
        name = tag.ljust(width, "_")
        depth = float(m.group(3)) if m.group(3) is not None else None
        if depth is not None and depth <= 0:
            raise FabError(f"region {expr!r}: extreme depth must be > 0 mm at column {m.start() + 1}")
        extremes[name] = (_AXES[m.group(2).lower()], 1 if m.group(1) == ">" else -1, depth)
        return name

    text = _EXTREME.sub(placeholder, expr)
    try:
        # Parenthesised so leading spaces are not an indent; columns shift by one, undone below.
        tree = ast.parse(f"({text})", mode="eval")
    except SyntaxError as exc:
        col = max(1, min((exc.offset or 2) - 1, len(expr)))
        raise FabError(f"region {expr!r}: syntax error at column {col} ({exc.msg})") from None
    fn, kind = _Compiler(expr, extremes).visit(tree.body)
    if kind != "bool":
        raise FabError(f"region {expr!r} is a number, not a condition (compare it, e.g. 'x < 2')")
    return Region(expr, fn)


def select(expr: str | Region, points_mm: np.ndarray, *, pitch_mm: float) -> np.ndarray:
    """Boolean mask of the points (mm, shape (n, 3)) in the region; ``FabError`` when it selects none."""
    region = expr if isinstance(expr, Region) else parse_region(expr)
    mask = region.mask(points_mm, pitch_mm=pitch_mm)
    if not mask.any():
        pts = _points(points_mm)
        if len(pts) == 0:
            raise FabError(f"region {region.expr!r} selects no particle: the part has no particles")
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        box = ", ".join(f"{a} {lo[i]:.6g}..{hi[i]:.6g}" for i, a in enumerate("xyz"))
        raise FabError(f"region {region.expr!r} selects no particle (particle centres span {box} mm)")
    return mask


class _Compiler:
    """Walks the allow-listed AST, returning (closure, kind) with kind "num" or "bool"."""

    def __init__(self, expr: str, extremes: dict[str, tuple[int, int, float | None]]) -> None:
        self.expr = expr
        self.extremes = extremes

    def fail(self, node: ast.AST, what: str) -> FabError:
        col = max(1, getattr(node, "col_offset", 1))  # +1 for 1-based, -1 for the added "("
        return FabError(f"region {self.expr!r}: {what} at column {col}")

    def visit(self, node: ast.AST) -> tuple[_Eval, str]:
        method = getattr(self, "visit_" + type(node).__name__, None)
        if method is None:
            raise self.fail(node, f"'{ast.unparse(node)}' is not allowed")
        return method(node)

    def num(self, node: ast.AST) -> _Eval:
        fn, kind = self.visit(node)
        if kind != "num":
            raise self.fail(node, f"expected a number, got the condition '{ast.unparse(node)}'")
        return fn

    def cond(self, node: ast.AST) -> _Eval:
        fn, kind = self.visit(node)
        if kind != "bool":
            raise self.fail(node, f"expected a condition, got the number '{ast.unparse(node)}'")
        return fn

    def visit_Constant(self, node: ast.Constant) -> tuple[_Eval, str]:
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise self.fail(node, f"{node.value!r} is not a number")
        v = float(node.value)
        return (lambda c, ctx: v), "num"

    def visit_Name(self, node: ast.Name) -> tuple[_Eval, str]:
        if node.id in _AXES:
            i = _AXES[node.id]
            return (lambda c, ctx: c[i]), "num"
        if node.id in _CONST:
            v = _CONST[node.id]
            return (lambda c, ctx: v), "num"
        if node.id in self.extremes:
            axis, sign, depth = self.extremes[node.id]

            def extreme(c: _Coords, ctx: _Context) -> np.ndarray:
                d = ctx.pitch if depth is None else depth
                tol = 1e-6 * ctx.pitch  # a layer exactly `depth` inside is excluded, despite rounding
                if sign > 0:
                    return c[axis] > ctx.hi[axis] - d + tol
                return c[axis] < ctx.lo[axis] + d - tol

            return extreme, "bool"
        known = ", ".join([*_AXES, *_CONST, *_FUNCS, *_SHAPES])
        raise self.fail(node, f"unknown name {node.id!r} (known: {known}; extremes like >X:2)")

    def visit_UnaryOp(self, node: ast.UnaryOp) -> tuple[_Eval, str]:
        if isinstance(node.op, ast.Not):
            f = self.cond(node.operand)
            return (lambda c, ctx: np.logical_not(f(c, ctx))), "bool"
        if isinstance(node.op, ast.USub):
            f = self.num(node.operand)
            return (lambda c, ctx: np.negative(f(c, ctx))), "num"
        if isinstance(node.op, ast.UAdd):
            return self.num(node.operand), "num"
        raise self.fail(node, "this operator is not allowed (use not, -, +)")

    def visit_BinOp(self, node: ast.BinOp) -> tuple[_Eval, str]:
        op = _BINOPS.get(type(node.op))
        if op is None:
            raise self.fail(node, "this operator is not allowed (use + - * / ** %, and/or/not)")
        a, b = self.num(node.left), self.num(node.right)
        return (lambda c, ctx: op(a(c, ctx), b(c, ctx))), "num"

    def visit_BoolOp(self, node: ast.BoolOp) -> tuple[_Eval, str]:
        parts = [self.cond(v) for v in node.values]
        op = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
        return (lambda c, ctx: _reduce(op, tuple(p(c, ctx) for p in parts))), "bool"

    def visit_Compare(self, node: ast.Compare) -> tuple[_Eval, str]:
        terms = [self.num(node.left), *(self.num(v) for v in node.comparators)]
        ops = []
        for op in node.ops:
            if type(op) not in _CMPS:
                raise self.fail(node, "only < <= > >= comparisons are allowed (== is unreliable on floats)")
            ops.append(_CMPS[type(op)])

        def compare(c: _Coords, ctx: _Context) -> np.ndarray:
            vals = [t(c, ctx) for t in terms]
            return _reduce(np.logical_and, tuple(op(vals[i], vals[i + 1]) for i, op in enumerate(ops)))

        return compare, "bool"

    def visit_Call(self, node: ast.Call) -> tuple[_Eval, str]:
        if not isinstance(node.func, ast.Name) or node.keywords:
            raise self.fail(node, "only plain calls like sqrt(x) or box(...) are allowed")
        name, n = node.func.id, len(node.args)
        if name in _FUNCS:
            fn, lo, hi = _FUNCS[name]
            kind = "num"
        elif name in _SHAPES:
            lo, hi = _SHAPES[name]
            kind = "bool"
        else:
            raise self.fail(node, f"unknown function {name!r} (known: {', '.join([*_FUNCS, *_SHAPES])})")
        if not lo <= n <= hi:
            want = str(lo) if lo == hi else f"{lo} to {hi}"
            raise self.fail(node, f"{name}() takes {want} arguments, got {n}")
        args = [self.num(a) for a in node.args]
        if kind == "num":
            return (lambda c, ctx: fn(*(a(c, ctx) for a in args))), "num"
        shape = {"box": _box, "sphere": _sphere, "cylinder": _cylinder}[name]

        def call(c: _Coords, ctx: _Context) -> np.ndarray:
            return shape(c, *(a(c, ctx) for a in args))

        return call, "bool"


def _box(c: _Coords, x0, y0, z0, x1, y1, z1) -> np.ndarray:  # noqa: ANN001
    x, y, z = c
    return (
        (x >= np.minimum(x0, x1))
        & (x <= np.maximum(x0, x1))
        & (y >= np.minimum(y0, y1))
        & (y <= np.maximum(y0, y1))
        & (z >= np.minimum(z0, z1))
        & (z <= np.maximum(z0, z1))
    )


def _sphere(c: _Coords, cx, cy, cz, r) -> np.ndarray:  # noqa: ANN001
    x, y, z = c
    return (x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2 <= r * r


def _cylinder(c: _Coords, cx, cy, cz, ax, ay, az, r, h=None) -> np.ndarray:  # noqa: ANN001
    norm = np.sqrt(ax * ax + ay * ay + az * az)
    if not np.all(norm > 0):
        raise FabError("cylinder axis (ax, ay, az) must not be zero")
    ux, uy, uz = ax / norm, ay / norm, az / norm
    dx, dy, dz = c[0] - cx, c[1] - cy, c[2] - cz
    t = dx * ux + dy * uy + dz * uz  # distance along the axis
    radial2 = dx * dx + dy * dy + dz * dz - t * t
    inside = radial2 <= r * r
    if h is not None:
        inside &= (t >= np.minimum(0.0, h)) & (t <= np.maximum(0.0, h))
    return inside
