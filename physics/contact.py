"""Short-range contact between particles that are not bonded: separate bodies, and fragments after fracture.

    body = Body.from_occupancy(occ, dx, rho, labels=labels)     # labels: 1 = gear A, 2 = gear B
    sim = Simulation(body, law, [..., Contact()])               # or Contact(fragments=True)

The repulsion is LAMMPS's / Silling's short-range force: particles i, j closer than d repel each other with the
force density f_i = k V_j (d - r) (x_i - x_j) / r (N/m^3), d = ``distance`` x spacing (0.9), k the law's
``contact_stiffness()``: 15 c / delta, c its micromodulus or the PMB one of its bulk modulus (the stiffness of
PMB's stencil contact). Pairs are equal and opposite, so momentum is conserved; the force derives from the potential
U = k V^2 (d - r)^2 / 2 per pair, so an undamped collision conserves energy up to the time-stepping error.

Which pairs: particles of different bodies (``Body.from_occupancy(..., labels=...)``) always; with
``fragments=True`` also particles of the same body that are not joined by an intact bond (broken bonds, and
pairs outside the stencil: a fragment that comes back, a bar bent onto itself).

Pairs come from a Verlet list: a cell list (physics.cells) on the deformed positions of the members, cutoff
d + skin, rebuilt when any member has moved more than skin / 2 since the last build (so no pair closer than d can
be missing). Each particle sums its own row of the list (race-free, deterministic whatever the thread count).
A row keeps its bonded neighbours (same body, intact bond at the build) apart: they are looked at only once
the particle has lost a bond since the build, so bonded face neighbours inside the list (1 spacing apart, within
d + skin) cost nothing until fracture. Bonds cut by hand between runs are seen at the next build; cut them
before the first run (as pre-cracks) or give the list a reason to rebuild.
Contact acts as a load: it adds to ``sim.force`` after the force law, in explicit runs and in relaxation alike,
and does not enter ``sim.internal`` (so reactions of supports report the bonds' forces, as for other loads).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from physics.cells import CellList
from physics.conditions import Condition
from physics.errors import PhysicsError

PARALLEL_WORK = (
    50_000  # rows + unbonded list entries above which the contact kernel runs its rows in parallel
)


@dataclass
class Contact(Condition):
    """Repulsion between unbonded particles of the set ``where`` (default all): see the module docstring.

    ``distance`` and ``skin`` are in lattice spacings; ``stiffness`` k (N/m^7 in 3D: force density per unit volume
    of the other particle per metre of overlap) defaults to 15 c / delta. ``forces`` is the total contact force (N)
    on each body, (bodies, 3), at the last force evaluation; ``energy`` the contact potential (J) there, ``pairs``
    the number of pairs in the Verlet list and ``rebuilds`` how often it was built.
    """

    where: str | np.ndarray = "all"
    fragments: bool = False
    distance: float = 0.9
    skin: float = 0.3
    stiffness: float | None = None
    energy: float = 0.0
    pairs: int = 0
    rebuilds: int = 0

    def bind(self, sim) -> None:
        body = sim.body
        lat = body.lattice
        if isinstance(self.where, str) and self.where == "all":
            self.members = np.arange(body.count, dtype=np.int64)
        else:
            self.members = body.indices(self.where)
        if not (self.distance > 0 and self.skin > 0):
            raise PhysicsError(
                f"contact distance and skin must be positive, got {self.distance}, {self.skin}"
            )
        if body.bodies == 1 and not self.fragments:
            raise PhysicsError(
                "Contact between bodies needs several bodies (Body.from_occupancy(..., labels=...)); "
                "use Contact(fragments=True) for fragments of one body"
            )
        self.labels = np.ascontiguousarray(body.body_id[self.members], dtype=np.int32)
        self.d = self.distance * lat.spacing
        self.cutoff = self.d + self.skin * lat.spacing
        self.k = float(self.stiffness) if self.stiffness is not None else sim.law.contact_stiffness()
        if not (self.k > 0 and np.isfinite(self.k)):
            raise PhysicsError(f"contact stiffness must be positive, got {self.k}")
        # Stencil index of each lattice offset within the pad (-1: not a bond), for the intact-bond test.
        m = lat.pad
        self._table = np.full((2 * m + 1) ** 3, -1, dtype=np.int32)
        s = lat.stencil + m
        self._table[(s[:, 0] * (2 * m + 1) + s[:, 1]) * (2 * m + 1) + s[:, 2]] = np.arange(
            len(s), dtype=np.int32
        )
        self._pad = m
        # Reference positions of the members (float64, 24 bytes each): decoding them from grid cells costs integer
        # divisions per pair, 4-5x the rest of the pair's arithmetic.
        self._x0 = np.ascontiguousarray(body.positions()[self.members])
        self._bodies = body.bodies
        self._u_built: np.ndarray | None = None

    def load(self, sim, t: float) -> None:
        lat = sim.body.lattice
        half_skin2 = (0.5 * self.skin * lat.spacing) ** 2
        if self._u_built is None or _moved_or_broke(
            self.members, sim.u, self._u_built, half_skin2, sim.newly_broken, self._broke
        ):
            self._build(sim)
        kernel = _contact_forces_parallel if self._parallel else _contact_forces_serial
        self.energy = kernel(
            self._rows, self._row_start, self._row_split, self._nbr, self.members, self._x0, lat.spacing, sim.u,
            sim.bits, self._table, self._pad, self._broke, self.d, self.k, sim.body.particle_volume, self._buf,
            sim.force,
        )  # fmt: skip
        self._volume = sim.body.particle_volume

    @property
    def forces(self) -> np.ndarray:
        """(bodies, 3) total contact force (N) on each body at the last force evaluation (summed when asked)."""
        out = np.zeros((self._bodies, 3))
        if self._u_built is not None:
            _body_totals(self._rows, self.labels, self._buf, self._volume, out)
        return out

    def _build(self, sim) -> None:
        cl = CellList(self._x0 + sim.u[self.members], self.cutoff)
        row, nbr = cl.neighbours(labels=None if self.fragments else self.labels)
        # Each row: neighbours without an intact bond first ("active", always tested), then the bonded ones
        # ("dormant", tested only once the particle has lost a bond since the build: bonds never heal).
        split = _partition(row, nbr, self.members, self.labels, self._x0, sim.body.lattice.spacing, sim.bits,
                           self._table, self._pad)  # fmt: skip
        counts = np.diff(row)
        rows = np.flatnonzero(counts).astype(np.int64)  # member slots with at least one candidate
        self._rows = rows
        self._row_start = np.concatenate([[0], np.cumsum(counts[rows])]).astype(np.int64)
        self._row_split = self._row_start[:-1] + (split[rows] - row[rows])
        self._nbr = nbr
        # Rows in parallel only where there is work for both threads (each parallel region wakes sleeping threads;
        # on a busy machine that cost more than a few thousand rows).
        self._parallel = len(rows) + int((self._row_split - self._row_start[:-1]).sum()) > PARALLEL_WORK
        self._broke = np.zeros(len(self.members), dtype=np.bool_)
        self._buf = np.zeros((len(rows), 3))
        self._u_built = sim.u[self.members].copy()
        self.pairs = len(nbr) // 2
        self.rebuilds += 1


@njit(cache=True)
def _moved_or_broke(members, u, u_built, limit2, newly_broken, broke) -> bool:
    """Whether any member moved more than sqrt(limit2) since the build (then stops: the list is rebuilt); marks
    members that lost a bond at this step in ``broke``."""
    for k in range(members.shape[0]):
        i = members[k]
        dx = u[i, 0] - u_built[k, 0]
        dy = u[i, 1] - u_built[k, 1]
        dz = u[i, 2] - u_built[k, 2]
        if dx * dx + dy * dy + dz * dz > limit2:
            return True
        if newly_broken[i] > 0:
            broke[k] = True
    return False


@njit(cache=True, inline="always")
def _bonded(a, b, i, x0, inv, bits, table, pad) -> bool:
    """Whether members a, b (particle i = members[a]) are joined by an intact bond of i's (same body assumed)."""
    ox = int(round((x0[b, 0] - x0[a, 0]) * inv))
    oy = int(round((x0[b, 1] - x0[a, 1]) * inv))
    oz = int(round((x0[b, 2] - x0[a, 2]) * inv))
    if abs(ox) > pad or abs(oy) > pad or abs(oz) > pad:
        return False
    side = 2 * pad + 1
    bond = table[((ox + pad) * side + oy + pad) * side + oz + pad]
    return bond >= 0 and (bits[bond >> 5, i] >> np.uint32(bond & 31)) & np.uint32(1) != 0


@njit(cache=True, parallel=True)
def _partition(row, nbr, members, labels, x0, spacing, bits, table, pad) -> np.ndarray:
    """Reorder each row of the CSR list: unbonded neighbours first; returns where each row's bonded part starts."""
    n = row.shape[0] - 1
    split = np.empty(n, dtype=np.int64)
    inv = 1.0 / spacing
    for a in prange(n):
        lo = row[a]
        hi = row[a + 1]
        i = members[a]
        tmp = nbr[lo:hi].copy()
        front = lo
        back = hi
        for s in range(tmp.shape[0]):
            b = tmp[s]
            if labels[a] == labels[b] and _bonded(a, b, i, x0, inv, bits, table, pad):
                back -= 1
                nbr[back] = b
            else:
                nbr[front] = b
                front += 1
        split[a] = front
    return split


@njit(cache=True, inline="always")
def _row_force(
    r, rows, row_start, row_split, nbr, members, x0, inv, u, bits, table, pad, broke, d, kv, buf, force
):
    """Row r of the contact list: add particle members[rows[r]]'s repulsion to ``force`` and ``buf[r]``; return
    its sum of squared overlaps. A row's bonded ("dormant") neighbours are looked at only if its particle lost a
    bond since the build, and count only where that bond is now broken."""
    a = rows[r]
    end = row_start[r + 1] if broke[a] else row_split[r]
    if end == row_start[r]:
        return 0.0  # buf[r] is 0 since the build: a row's range only grows (bonds never heal)
    i = members[a]
    xi = x0[a, 0] + u[i, 0]
    yi = x0[a, 1] + u[i, 1]
    zi = x0[a, 2] + u[i, 2]
    fx = 0.0
    fy = 0.0
    fz = 0.0
    e = 0.0
    for s in range(row_start[r], end):
        b = nbr[s]
        j = members[b]
        dx = xi - x0[b, 0] - u[j, 0]
        dy = yi - x0[b, 1] - u[j, 1]
        dz = zi - x0[b, 2] - u[j, 2]
        rr = np.sqrt(dx * dx + dy * dy + dz * dz)
        if rr >= d or rr == 0.0:
            continue
        if s >= row_split[r] and _bonded(a, b, i, x0, inv, bits, table, pad):
            continue  # still bonded: the bond carries their interaction
        overlap = d - rr
        g = kv * overlap / rr
        fx += g * dx
        fy += g * dy
        fz += g * dz
        e += overlap * overlap
    buf[r, 0] = fx
    buf[r, 1] = fy
    buf[r, 2] = fz
    force[i, 0] += fx
    force[i, 1] += fy
    force[i, 2] += fz
    return e


@njit(cache=True, parallel=True)
def _contact_forces_parallel(
    rows,
    row_start,
    row_split,
    nbr,
    members,
    x0,
    spacing,
    u,
    bits,
    table,
    pad,
    broke,
    d,
    k,
    volume,
    buf,
    force,
) -> float:
    """Contact force densities of every row into ``force`` (N/m^3), rows in parallel; returns the potential (J)."""
    kv = k * volume
    inv = 1.0 / spacing
    energy = np.zeros(rows.shape[0])
    for r in prange(rows.shape[0]):
        energy[r] = _row_force(
            r,
            rows,
            row_start,
            row_split,
            nbr,
            members,
            x0,
            inv,
            u,
            bits,
            table,
            pad,
            broke,
            d,
            kv,
            buf,
            force,
        )
    # Each pair appears in both rows: U = sum_pairs k V^2 (d - r)^2 / 2 = sum_rows k V^2 (d - r)^2 / 4.
    return 0.25 * kv * volume * energy.sum()


@njit(cache=True)
def _contact_forces_serial(
    rows,
    row_start,
    row_split,
    nbr,
    members,
    x0,
    spacing,
    u,
    bits,
    table,
    pad,
    broke,
    d,
    k,
    volume,
    buf,
    force,
) -> float:
    """As _contact_forces_parallel, on one thread (small lists: waking threads costs more than the work)."""
    kv = k * volume
    inv = 1.0 / spacing
    energy = np.zeros(rows.shape[0])
    for r in range(rows.shape[0]):
        energy[r] = _row_force(
            r,
            rows,
            row_start,
            row_split,
            nbr,
            members,
            x0,
            inv,
            u,
            bits,
            table,
            pad,
            broke,
            d,
            kv,
            buf,
            force,
        )
    return 0.25 * kv * volume * energy.sum()


@njit(cache=True)
def _body_totals(rows, labels, buf, volume, out) -> None:
    for r in range(rows.shape[0]):
        b = labels[rows[r]]
        for a in range(3):
            out[b, a] += buf[r, a] * volume
