# Two commands do all the set-up on a fresh machine (Python >= 3.11 with pip and venv):
#   make demo   -- create .venv, install bits2atoms, run the sample pipeline end to end (writes out/)
#   make test   -- create .venv, install bits2atoms with test tools, lint, run the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup demo test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "bits2atoms needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/fab convert samples/bracket.py --pitch 0.5 -o out/bracket.voxels.npz
	$(BIN)/fab export samples/bracket.py --stl out/bracket.stl --gcode out/bracket.gcode --pitch 2 \
		--assembly out/bracket_assembly.json --vtk out/bracket.vti
	$(BIN)/fab check-assembly out/bracket_assembly.json
	$(BIN)/fab export out/bracket.voxels.npz --stl out/bracket_voxels.stl
	$(BIN)/fab export samples/plate_with_hole.step --cnc out/plate.nc --dxf out/plate.dxf --svg out/plate.svg

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_voxelize.py
	$(BIN)/python benchmarks/bench_assembly.py
	$(BIN)/python benchmarks/bench_gcode.py
	$(BIN)/python benchmarks/bench_lammps_peri.py
	$(BIN)/python benchmarks/validation.py

clean:
	rm -rf out .pytest_cache
