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
