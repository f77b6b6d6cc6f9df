"""PNG figures of a morphogenesis run (matplotlib, Agg backend, written atomically)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from exporters.atomic import atomic_path  # noqa: E402


def _save(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def convergence(history: list[dict[str, float]], path: Path, title: str = "") -> None:
    """Best-so-far, generation best and median ranked score per generation (log scale)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    gens = [h["generation"] for h in history]
    for key, style in (("best", "-"), ("generation_best", "--"), ("median", ":")):
        ax.semilogy(gens, [max(h[key], 1e-12) for h in history], style, label=key.replace("_", " "))
    ax.set_xlabel("generation")
    ax.set_ylabel("score (lower is better)")
    ax.set_title(title or "convergence")
    ax.legend()
    ax.grid(True, alpha=0.3)
    _save(fig, path)


def tooth_snapshot(profile, path: Path, title: str = "") -> None:
    """Three teeth of a gear profile (mm)."""
    fig, ax = plt.subplots(figsize=(5, 5))
    tau = 2 * math.pi / profile.teeth
    r, h = profile.radii, profile.half_angle
    keep = h > 0
    for k in (-1, 0, 1):
        up = k * tau + h[keep]
        lo = k * tau - h[keep][::-1]
        rr = np.concatenate([r[keep], r[keep][::-1]])
        ang = np.concatenate([up, lo])
        ax.plot(rr * np.cos(ang), rr * np.sin(ang), "k-", lw=1)
    ax.set_aspect("equal")
    ax.set_xlabel("x (mm)")
    ax.set_ylabel("y (mm)")
    ax.set_title(title)
    _save(fig, path)


def loaded_tooth(loaded, path: Path, title: str = "", tensile_strength: float | None = None) -> None:
    """A tooth under its design load (``fab.morph.gear_strength.LoadedTooth``): its cells deformed (scaled so
    the largest displacement is 3 % of the sector's size) and coloured by the largest principal stress, an arrow
    on every loaded particle, the three root-zone particles whose mean is the root stress ringed, particles with
    broken bonds crossed."""
    from matplotlib.collections import PolyCollection

    pts, u = loaded.points_mm, loaded.displacement_mm
    size = float(np.ptp(pts, axis=0).max())
    umax = float(np.linalg.norm(u, axis=1).max())
    scale = 0.03 * size / umax if umax > 0 else 1.0
    shown = pts + scale * u
    mpa = loaded.principal_pa / 1e6
    half = 0.5 * loaded.spacing_mm
    square = np.array([[-half, -half], [half, -half], [half, half], [-half, half]])
    fig, ax = plt.subplots(figsize=(6, 5.4))
    ax.add_collection(PolyCollection(pts[:, None, :] + square, facecolors="none", edgecolors="0.8", lw=0.3))
    lo, hi = np.percentile(mpa, [1, 99.5])
    cells = PolyCollection(shown[:, None, :] + square, array=mpa, cmap="turbo", lw=0)
    cells.set_clim(min(lo, 0.0), hi)
    ax.add_collection(cells)
    fig.colorbar(cells, ax=ax, shrink=0.8, label="largest principal stress (MPa)")
    broken = loaded.damage > 0
    if broken.any():
        ax.plot(shown[broken, 0], shown[broken, 1], "kx", ms=3, label="broken bonds")
    top = shown[loaded.top]
    ax.plot(top[:, 0], top[:, 1], "o", mfc="none", mec="k", ms=9, mew=1.5, label="root stress (mean of 3)")
    rad = math.radians(loaded.direction_deg)
    tip = shown[loaded.patch]
    arrow = 4 * loaded.spacing_mm * np.array([math.cos(rad), math.sin(rad)])
    ax.quiver(tip[:, 0] - arrow[0], tip[:, 1] - arrow[1], np.full(len(tip), arrow[0]), np.full(len(tip), arrow[1]),
              angles="xy", scale_units="xy", scale=1, color="k", width=0.006,
              label=f"load {loaded.force_n:.4g} N on {len(tip)} particles")  # fmt: skip
    ax.autoscale_view()
    ax.set_aspect("equal")
    ax.set_xlabel("x (mm)")
    ax.set_ylabel("y (mm)")
    ratio = f" = {loaded.root_stress / tensile_strength:.2f} x tensile strength" if tensile_strength else ""
    note = "" if loaded.converged else ", NOT CONVERGED (the score's step limit)"
    ax.set_title(
        f"{title}\nroot stress {loaded.root_stress / 1e6:.4g} MPa{ratio}; deformation x {scale:.3g}{note}", fontsize=9
    )
    ax.legend(loc="lower left", fontsize=7)
    _save(fig, path)


def profile_vs_involute(
    radii: np.ndarray,
    flank: np.ndarray,
    fitted: np.ndarray,
    deviation_um: np.ndarray,
    path: Path,
    title: str = "",
) -> None:
    """Flank polar angle vs the best-fit involute, and their normal deviation (um) along the radius."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    a1.plot(radii * np.cos(flank), radii * np.sin(flank), "k-", label="grown flank")
    a1.plot(radii * np.cos(fitted), radii * np.sin(fitted), "r--", label="best-fit involute")
    a1.set_aspect("equal")
    a1.legend()
    a1.set_xlabel("x (mm)")
    a1.set_ylabel("y (mm)")
    a2.plot(radii, deviation_um, "b-")
    a2.set_xlabel("radius (mm)")
    a2.set_ylabel("normal deviation from the involute (um)")
    a2.grid(True, alpha=0.3)
    fig.suptitle(title)
    _save(fig, path)


def transmission_error(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path, title: str = "") -> None:
    """Transmission error (urad) over one driver pitch, one line per labelled curve."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, (theta, te) in curves.items():
        ax.plot(np.degrees(theta), te * 1e6, label=label)
    ax.set_xlabel("driver angle (deg)")
    ax.set_ylabel("transmission error (urad)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    _save(fig, path)
