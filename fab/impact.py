"""The impact test: explicit dynamics with prescribed velocities, an initial velocity and/or a rigid indenter.

Snapshots (mm, m/s) are kept for a ``.pvd`` time series.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fab.equilibrium import Progress, state_fields
from fab.job import Job
from fab.materials import Material
from fab.model import MM

# Default duration: this many wave transits across the part's largest size.
DEFAULT_TRANSITS = 10.0


def impact_test(sim, model, job: Job, material: Material, progress: Progress):
    """Explicit dynamics for the test's duration, keeping ``frames`` snapshots."""
    test = job.test
    if test.initial_velocity is not None:
        sim.v[sim.free] = np.asarray(test.initial_velocity, dtype=float)
    dt = sim.stable_time_step()
    size = float(np.ptp(model.points_mm, axis=0).max() + model.pitch_mm) * MM
    wave = material.wave_speed
    duration = test.duration if test.duration is not None else DEFAULT_TRANSITS * size / wave
    total = test.steps or max(1, int(math.ceil(duration / dt)))
    frames = min(test.frames, total)
    per_frame = [total // frames + (1 if i < total % frames else 0) for i in range(frames)]
    snapshots: list[dict[str, Any]] = []
    done = 0
    for i, steps in enumerate(per_frame):
        res = sim.run(steps, dt=dt)
        done += steps
        progress.update("impact", done / total, f"t = {res.time * 1e6:.1f} us")
        _count, labels = sim.fragments() if i == frames - 1 else (0, None)
        snapshots.append(
            {
                "time_s": float(res.time),
                "displacement_mm": (sim.u / MM).astype(np.float32),
                "damage": res.damage.astype(np.float32),
                "speed_m_s": np.linalg.norm(sim.v, axis=1).astype(np.float32),
            }
        )
        if progress.observe(sim, done, None, "impact") is not None:  # stopped from the live view
            break
    fields_ = state_fields(sim, model)
    return True, done, fields_, {"frames": snapshots}
