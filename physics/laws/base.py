"""The machinery of the force-law registry: ForceLaw (the contract's defaults), register_law and the look-ups.
The contract itself is written in physics/laws/__init__.py; law modules import from here, so the package can
import them (to find every law file) without an import cycle."""

from __future__ import annotations

import importlib
import os
from importlib import metadata
from typing import Any, ClassVar

import numpy as np

from physics.errors import PhysicsError

ENTRY_POINTS = "bits2atoms.laws"  # third-party laws: an entry point per law module
REQUIRED = ("setup", "initial_bonds", "compute", "stable_time_step")

LAWS: dict[str, type] = {}

# An observed evaluation (the state has ``between``, a callable) of a body above this many particles calls its
# kernels on about this many at a time and the observer between them (a live page within one evaluation: 0.5 s
# at about 0.5 M particles of LPS on the loaded 2-core machine, benchmarks/bench_live.py --evaluation).
GROUP_PARTICLES = 100_000


def chunk_groups(lattice, state) -> list[np.ndarray]:
    """The run-chunk boundaries (``lattice.run_chunks``; ``lattice`` a Lattice or its RunFrame) of each kernel call of one evaluation: all of them in one
    call (the normal path), or, where ``state.between`` is set and the body is larger than GROUP_PARTICLES,
    consecutive slices of about GROUP_PARTICLES particles. A law calls ``state.between()`` after each call of a
    split evaluation (``between_groups``); each particle's outputs come from the same arithmetic either way."""
    chunks = lattice.run_chunks
    if getattr(state, "between", None) is None or lattice.count <= GROUP_PARTICLES:
        return [chunks]
    ends = np.concatenate([[0], np.cumsum(lattice.runs[:, 2])])[chunks]  # particles before each chunk boundary
    marks = np.searchsorted(ends, np.arange(GROUP_PARTICLES, ends[-1], GROUP_PARTICLES))
    cuts = np.unique(np.concatenate([[0], marks, [len(chunks) - 1]]))
    return [np.ascontiguousarray(chunks[a : b + 1]) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]


def frame_inputs(law, state) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(ux, uy, uz, bits) of ``state`` as the law's kernels read them, on its lattice's RunFrame
    (physics.lattice): the state's own arrays where the frame is the lattice's order, else copies into buffers
    the law keeps (one set per float type; their empty cells stay zero). The bond words are gathered again only
    where they differ from those of the last copy (a tangent product restores the same bits every time)."""
    lattice = law.body.lattice
    frame = lattice.frame
    if frame.identity:
        return state.ux, state.uy, state.uz, state.bits
    from physics.laws.pmb_kernels import frame_bits, to_frame

    buffers = law.__dict__.setdefault("_frame_buffers", {})
    key = (state.ux.dtype, id(frame))  # a law set up again on another body gets buffers of that body's frame
    if key not in buffers:
        for old in [k for k, v in buffers.items() if v[6] is not frame]:  # another body's (the law set up again)
            del buffers[old]
        grid = np.zeros(int(np.prod(frame.shape)), dtype=state.ux.dtype)
        # The frame's grids, its bond words, the state's bond words they were gathered from (lattice order), whether
        # those are set, the frame (kept so that its id is not reused) and (lattice cell, frame cell) of each frame
        # particle: the gather reads them in order.
        index = (lattice.cells[frame.particle], frame.cells)
        bits = np.empty_like(state.bits)
        buffers[key] = (grid, grid.copy(), grid.copy(), bits, bits.copy(), [False], frame, index)
    fx, fy, fz, fbits, seen, valid, _, index = buffers[key]
    raw = [a.view(np.uint32) for a in (state.ux, state.uy, state.uz, fx, fy, fz)]  # one kernel for both types
    to_frame(*index, state.ux.dtype.itemsize // 4, *raw)
    if not (valid[0] and np.array_equal(seen, state.bits)):
        frame_bits(frame.particle, state.bits, fbits)
        seen[:] = state.bits
        valid[0] = True
    return fx, fy, fz, fbits


def between_groups(state, groups: list[np.ndarray]) -> None:
    """After a kernel call over one of ``groups``: the state's observer, where the evaluation is split."""
    if len(groups) > 1:
        state.between()


PRECISIONS = ("float32", "float64")


def grid_dtype(law) -> np.dtype:
    """The float type of the displacement grids and bond forces a state hands ``law`` (float32 by default)."""
    return np.dtype(getattr(law, "dtype", np.float32))


class ForceLaw:
    """Defaults for the contract above; a law overrides what it has."""

    name: ClassVar[str] = ""
    dimensions: ClassVar[tuple[int, ...]] = (2, 3)
    interaction_range: ClassVar[int] = 1
    # Float types its kernels compute in; ``dtype`` is the one in use (set by ``use_precision`` before setup).
    precisions: ClassVar[tuple[str, ...]] = ("float32",)
    dtype: ClassVar[np.dtype] = np.dtype(np.float32)

    def use_precision(self, precision: str) -> None:
        """Compute in ``precision`` ("float32", the default, or "float64") from the next ``setup`` on; a
        PhysicsError names the ones this law has."""
        name = str(precision).strip().lower()
        if name not in PRECISIONS:
            raise PhysicsError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        if name not in self.precisions:
            raise PhysicsError(
                f"force law {self.name!r} computes in {', '.join(self.precisions)} only, not {name}"
            )
        self.dtype = np.dtype(name)  # an instance attribute: copies made by dataclasses.replace start at float32

    # The float arrays the law's kernels read (made in ``dtype`` by setup), for ``to_precision``.
    tables: ClassVar[tuple[str, ...]] = ()

    def to_precision(self, precision: str) -> None:
        """Switch a law that is set up already to ``precision``, in place: its kernel tables change type and keep
        their values (made in float32, they stay float32's numbers: the same model, evaluated in the new type)."""
        old = self.dtype
        self.use_precision(precision)
        if self.dtype == old:
            return
        for name in self.tables:
            value = getattr(self, name, None)
            if isinstance(value, np.ndarray):
                setattr(self, name, value.astype(self.dtype))
        self._relink_tables()

    def _relink_tables(self) -> None:
        """After ``to_precision``: restore what referred to the old tables (views, aliases)."""

    def twin(self, precision: str):
        """A copy of this set-up law computing in ``precision``, the same model: its kernel tables (``tables``)
        and every other array it holds (per-particle state that follows the bond bits, e.g. LPS's intact-bond
        counts) of its own, so that each copy refreshes that state from the bits it is handed; the rest (the
        lattice, pair plan, buffers kept per float type) shared. E.g. a float32 twin of a float64 law for the
        cheap products of a preconditioner (physics/newton.py)."""
        import copy

        other = copy.copy(self)
        for name, value in vars(self).items():
            if isinstance(value, np.ndarray) and name not in self.tables:
                setattr(other, name, value.copy())
        if np.dtype(precision) == self.dtype:  # to_precision would keep the shared tables
            for name in self.tables:
                value = getattr(self, name, None)
                if isinstance(value, np.ndarray):
                    setattr(other, name, value.copy())
            other._relink_tables()
        other.to_precision(precision)
        return other

    @property
    def linear_near_reference(self) -> bool:
        return True

    @classmethod
    def fixed_poisson_ratio(cls, dimension: int, plane: str = "stress") -> float | None:
        return None

    @classmethod
    def from_material(
        cls,
        *,
        youngs_modulus: float,
        poisson_ratio: float,
        fracture_energy: float | None = None,
        critical_stretch: float | None = None,
        plane: str = "stress",
    ) -> ForceLaw:
        raise PhysicsError(f"force law {cls.name!r} is not calibrated from a material's constants")

    def initial_bonds(self, body) -> np.ndarray:
        """(W, n) uint32 bitmask with a bit per existing stencil neighbour (16 bytes per particle at 122 bonds)."""
        exists = body.lattice.neighbours() >= 0
        words = (exists.shape[1] + 31) // 32
        bits = np.zeros((words, body.count), dtype=np.uint32)
        for b in range(exists.shape[1]):
            bits[b >> 5] |= exists[:, b].astype(np.uint32) << np.uint32(b & 31)
        return bits

    def relaxation_stiffness(self, body) -> np.ndarray:
        raise self._lacks("diagonal stiffness for dynamic relaxation")

    def strain_energy_density(self, sim) -> np.ndarray:
        raise self._lacks("strain energy density")

    def stress(self, sim) -> np.ndarray:
        raise self._lacks("stress field")

    def contact_stiffness(self) -> float:
        raise self._lacks("contact stiffness (give Contact(stiffness=...))")

    def interior_energy_density(self, lattice, extension: np.ndarray) -> np.ndarray:
        raise self._lacks("interior energy density (physics.fracture's lattice-calibrated critical stretch)")

    def elastic_copy(self) -> ForceLaw | None:
        return None

    def _lacks(self, what: str) -> PhysicsError:
        return PhysicsError(f"force law {self.name!r} has no {what} (see physics/laws/__init__.py)")


def register_law(cls: type) -> type:
    """Class decorator: make ``cls`` available by ``cls.name`` (checks the contract is complete)."""
    name = str(getattr(cls, "name", "") or "").strip().lower()
    if not name:
        raise PhysicsError(f"force law {cls.__qualname__} needs a class attribute name = '...'")
    missing = [m for m in REQUIRED if not callable(getattr(cls, m, None))]
    if missing:
        raise PhysicsError(f"force law {name!r} lacks {', '.join(missing)} (see physics/laws/__init__.py)")
    known = LAWS.get(name)
    if known is not None and known.__qualname__ != cls.__qualname__:
        raise PhysicsError(f"force law name {name!r} is taken by {known.__module__}.{known.__qualname__}")
    LAWS[name] = cls
    return cls


def unregister_law(name: str) -> None:
    """Remove a law from the registry (tests that register toy laws)."""
    LAWS.pop(name.strip().lower(), None)


_plugins_loaded = False


def _load_plugins() -> None:
    """Import the laws announced by installed packages (entry points) and by ``BITS2ATOMS_LAWS`` (module names,
    comma separated), once."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    modules = [ep.value for ep in metadata.entry_points(group=ENTRY_POINTS)]
    modules += [m.strip() for m in os.environ.get("BITS2ATOMS_LAWS", "").split(",") if m.strip()]
    for module in modules:
        try:
            importlib.import_module(module.split(":")[0])
        except ImportError as exc:
            raise PhysicsError(f"cannot import force law module {module!r}: {exc}") from exc


def law_names(*, material: bool = False) -> tuple[str, ...]:
    """The registered laws' names, sorted; ``material=True``: only those calibrated from a material's constants
    (``from_material``)."""
    _load_plugins()
    return tuple(sorted(k for k, cls in LAWS.items() if not material or _has_from_material(cls)))


def _has_from_material(cls: type) -> bool:
    method = getattr(cls, "from_material", None)
    return callable(method) and getattr(method, "__func__", None) is not ForceLaw.from_material.__func__


def law_class(name: str) -> type:
    """The law class registered as ``name`` (PhysicsError naming the available ones)."""
    key = str(name).strip().lower()
    if key not in LAWS:
        _load_plugins()
    if key not in LAWS:
        raise PhysicsError(f"unknown force law {name!r}; available: {', '.join(law_names())}")
    return LAWS[key]


def make_law(name: str, **parameters: Any):
    """Instantiate a force law by name (``"pmb"``, ``"lps"``, ...) with its own parameters."""
    return law_class(name)(**parameters)
