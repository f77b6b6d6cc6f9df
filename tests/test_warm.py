"""fab/warm.py (``make setup``): the kernels a first ``fab simulate`` runs are those warm compiles into the cache."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# In a fresh process (a pytest worker has other tests' specialisations loaded already): warm's stress paths,
# then the failure tests in plane stress (warm runs them in 3D only); prints the specialisations the second
# part added to any numba kernel of physics/, fab/ or exporters/.
SCRIPT = """
import sys, warnings
import numba
import numpy as np
from fab import warm
from fab.stress import stress_test
from fab.voxels import VoxelGrid

def signatures():
    out = {}
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] in ("physics", "fab", "exporters"):
            for attr, obj in list(vars(module).items()):
                if isinstance(obj, numba.core.registry.CPUDispatcher):
                    out[name + "." + attr] = set(map(str, obj.signatures))
    return out

grid = VoxelGrid(np.ones((12, 4, 4), bool), 0.5, np.full(3, 0.25))
with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)
    warm._stress_paths(stress_test, grid)
    before = signatures()
    for model in ("lps", "pmb"):
        stress_test(grid, material="Glass", fix="<X", load=">X:force=50,0,0", model=model, test="failure",
                    dimension=2)
new = {k: sorted(v - before.get(k, set())) for k, v in signatures().items() if v - before.get(k, set())}
print("NEW", new)
"""


def test_plane_failure_tests_need_no_kernel_beyond_warms():
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "NEW {}", out.stdout[-2000:]
