"""bits2atoms pipeline: parts, voxels, jobs, regions, materials, stress tests, morphogenesis, CLI."""

import os

# numba's OpenMP threads sleep at barriers instead of spinning (see physics/__init__.py: up to 8x on a loaded
# machine). fab's own parallel kernels (the voxelizer) may run before physics is imported, so set it here too.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
