.PHONY: setup test lint repro params smoke
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
smoke:            ## the whole chain on tiny random models, in about a minute (no downloads)
	.venv/bin/python pipelines/prepare.py experiment=smoke
	.venv/bin/python pipelines/curate.py experiment=smoke
	.venv/bin/python src/train.py experiment=smoke -m lambda=0.1,1.0
	.venv/bin/python pipelines/evaluate.py experiment=smoke eval.latency=false
	.venv/bin/python pipelines/report.py experiment=smoke
