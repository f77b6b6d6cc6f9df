# Two commands do all the set-up on a fresh machine (Python >= 3.11 with pip and venv):
#   make demo   -- create .venv, install bits2atoms, run the sample pipeline end to end (writes out/):
#                  a PLA bracket stress-tested, printed (STL, G-code) and planned for voxel assembly, then
#                  refined by fab run (failure tests of both parts: 33 % lighter at the original's safety factor,
#                  samples/bracket_refine) and printed again
#   make test   -- create .venv, install bits2atoms with test tools, lint, run the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup demo test bench peers clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "bits2atoms needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m fab.warm       # compile the numba kernels into their cache now, not on the first run
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/fab run samples/bracket_job.toml
	$(BIN)/fab check-assembly out/bracket_assembly.json
	$(BIN)/fab export samples/plate_with_hole.step --cnc out/plate.nc --dxf out/plate.dxf --svg out/plate.svg
	# The whole pipeline on the user's part: the original's failure tests, the refinement (quick mode), the
	# refined part's failure tests, its files ([export]: STL, G-code, voxels, VTU, side-by-side PNG).
	$(BIN)/fab run samples/bracket_refine/job.toml

# The live-page tests drive Debian's headless chromium (tests/browser.py): installed here when missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
BROWSER := /usr/bin/chromium /usr/bin/chromedriver

$(BROWSER):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver

test: $(STAMP) | $(BROWSER)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2

# Benchmarks compare against peers installed from Debian (LAMMPS, CalculiX, PrusaSlicer): `make peers` once, as
# root. A benchmark whose peer is missing says so and prints its own figures only.
peers:
	apt-get update
	apt-get install -y lammps lammps-examples openmpi-bin calculix-ccx prusa-slicer xvfb

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python benchmarks/bench_voxelize.py
	$(BIN)/python benchmarks/bench_assembly.py
	$(BIN)/python benchmarks/bench_gcode.py
	$(BIN)/python benchmarks/bench_lammps_peri.py
	$(BIN)/python benchmarks/bench_lps.py
	$(BIN)/python benchmarks/bench_contact.py
	$(BIN)/python benchmarks/bench_relax.py
	$(BIN)/python benchmarks/validation.py
	$(BIN)/python benchmarks/validation_joints.py
	$(BIN)/python benchmarks/bench_live.py
	$(BIN)/python benchmarks/bench_stress.py
	$(BIN)/python benchmarks/bench_failure.py
	$(BIN)/python benchmarks/bench_morph_gear.py
	$(BIN)/python benchmarks/bench_morph_bracket.py
	$(BIN)/python benchmarks/bench_refine.py

clean:
	rm -rf out .pytest_cache
