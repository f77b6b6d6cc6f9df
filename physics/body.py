"""A body: particles on a lattice with per-particle volume and density, and named point sets.

Units: metres, kg/m^3. A 2D body (plane stress or plane strain) has one layer of particles at z = 0 and a
``thickness``; its particle volume is dx^2 * thickness.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from physics.errors import PhysicsError
from physics.lattice import Lattice


class Body:
    """Particles of one material on a regular lattice."""

    def __init__(self, lattice: Lattice, density: float, thickness: float | None = None) -> None:
        if not (density > 0):
            raise PhysicsError(f"density must be positive (kg/m^3), got {density}")
        self.lattice = lattice
        self.density = float(density)
        if lattice.dimension == 2:
            if thickness is None or not (thickness > 0):
                raise PhysicsError("a 2D body needs a positive thickness in m")
            self.thickness = float(thickness)
            self.particle_volume = lattice.spacing**2 * self.thickness
        else:
            self.thickness = lattice.spacing
            self.particle_volume = lattice.spacing**3
        self.sets: dict[str, np.ndarray] = {}

    @classmethod
    def from_occupancy(
        cls,
        occupancy: np.ndarray,
        spacing: float,
        density: float,
        *,
        origin=(0.0, 0.0, 0.0),
        horizon_cells: float = 3.015,
        thickness: float | None = None,
        labels: np.ndarray | None = None,
    ) -> Body:
        """Particles at the filled cells of a 3D (or 2D, with ``thickness``) occupancy array, spacing in m.

        ``labels`` (integer array of the occupancy's shape): filled cells with different labels are separate
        bodies of the same material, never bonded to each other (two gears, an indenter body); see
        ``physics.contact.Contact`` for the repulsion between them."""
        lattice = Lattice.from_occupancy(occupancy, spacing, origin, horizon_cells, labels)
        return cls(lattice, density, thickness)

    @property
    def count(self) -> int:
        return self.lattice.count

    @property
    def bodies(self) -> int:
        """Number of separate bodies (``labels`` of from_occupancy; 1 without)."""
        return self.lattice.bodies

    @property
    def body_id(self) -> np.ndarray:
        """(n,) int32 body of each particle (0 .. bodies - 1)."""
        if self.lattice.labels is None:
            return np.zeros(self.count, dtype=np.int32)
        return self.lattice.labels

    @property
    def dimension(self) -> int:
        return self.lattice.dimension

    def positions(self) -> np.ndarray:
        """(n, 3) reference positions in m."""
        return self.lattice.positions()

    def point_set(self, name: str, selection: np.ndarray | Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """Name a set of particles: a boolean mask, an index array, or a function of the (n, 3) positions."""
        if callable(selection):
            selection = selection(self.positions())
        selection = np.asarray(selection)
        if selection.dtype == bool:
            if selection.shape != (self.count,):
                raise PhysicsError(
                    f"point set {name!r}: mask has shape {selection.shape}, expected ({self.count},)"
                )
            indices = np.flatnonzero(selection)
        else:
            indices = np.unique(selection.astype(np.int64))
            if len(indices) and (indices[0] < 0 or indices[-1] >= self.count):
                raise PhysicsError(f"point set {name!r}: index out of range")
        if len(indices) == 0:
            raise PhysicsError(f"point set {name!r} selects no particle")
        self.sets[name] = indices
        return indices

    def indices(self, name_or_indices: str | np.ndarray) -> np.ndarray:
        if isinstance(name_or_indices, str):
            try:
                return self.sets[name_or_indices]
            except KeyError:
                raise PhysicsError(
                    f"no point set named {name_or_indices!r}; known: {sorted(self.sets)}"
                ) from None
        return np.asarray(name_or_indices, dtype=np.int64)
