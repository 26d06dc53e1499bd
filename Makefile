.PHONY: setup test lint repro params
setup:            ## create .venv/ and install everything (idempotent)
	bash scripts/setup.sh
test:             ## the test suite (offline, CPU, tiny models)
	OMP_NUM_THREADS=1 .venv/bin/python -m pytest
lint:
	.venv/bin/ruff check .
params:           ## recompose conf/ into params.yaml (what `dvc repro` reads)
	.venv/bin/python scripts/compose_params.py
repro:
	.venv/bin/dvc repro
