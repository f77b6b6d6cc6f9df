"""Morphogenesis: search over developmental programs (genome -> generating operations -> geometry) whose
results are scored by physics. ``fab morph JOB.toml`` runs it; see docs/morphogenesis.md.

Modules: ``program`` (the interface a problem implements), ``search`` (CMA-ES / GA, checkpoints, re-scoring,
Pareto), ``executors`` (serial, process pool, dask), ``guards``, ``checkpoint``, ``plots``, ``config``
(the [morph] table), ``run`` and ``command`` (the CLI); problem 1, the gear: ``gear`` with
``gear_cutter`` (the cutting process), ``gear_mesh`` (meshing with a copy), ``gear_strength`` (particle
engine) and ``gear_report`` (involute yardstick and fabrication files).
"""
