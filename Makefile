# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Each creates .venv and installs the project (and what it needs) first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,plot]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/thesis-sweep run phase1/latent_space=none,vq trainer.epochs=2 env=local
	$(BIN)/thesis-sweep status

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/mypy

bench: install
	$(BIN)/python benchmarks/bench_core.py
	$(BIN)/python benchmarks/bench_status.py
	$(BIN)/python benchmarks/bench_compare.py
	$(BIN)/python benchmarks/bench_search.py
	@if command -v sbatch >/dev/null; then $(BIN)/python benchmarks/bench_slurm.py; \
	else echo "bench_slurm: skipped (start Slurm with: bash scripts/ci/slurm-up.sh)"; fi

clean:
	rm -rf $(VENV) outputs .pytest_cache .mypy_cache .ruff_cache .hypothesis
