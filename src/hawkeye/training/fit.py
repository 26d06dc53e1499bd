"""Build data, models, the GRPO module, callbacks and the Lightning trainer from a config; fit; save.

`fit` runs inside the MLflow run opened by `hawkeye.tracking.mlflow_run.stage_run` (the caller),
and attaches Lightning's `MLFlowLogger` to that run (`mlflow.pytorch.autolog` does not patch the
`lightning` package). Under DDP/FSDP every rank runs `fit`; only rank 0 logs (Lightning's logger is
rank-zero only) and writes files, and rank 0 alone clears old checkpoints.

Precision: the policy loads in fp32 (the master weights; `check_master_weights` refuses 16-bit full
fine-tuning) and `trainer.precision=bf16-mixed` computes in bf16. The frozen reference model is kept
in bf16 under bf16 precision: it is never updated, and the logits it feeds are bf16 anyway.
`trainer.strategy=fsdp` is FSDP2 (`fully_shard`, through Lightning's ModelParallelStrategy, which
also runs on CPU with gloo): parameters, gradients and AdamW state sharded over the ranks.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import MLFlowLogger
from omegaconf import DictConfig

from hawkeye import runs
from hawkeye.models.load import load_model_and_tokenizer
from hawkeye.paths import resolve
from hawkeye.ranks import is_primary_process
from hawkeye.responder.model import Responder, freeze
from hawkeye.tracking.mlflow_run import tracking_uri
from hawkeye.training import checkpointing
from hawkeye.training.callbacks import CollapseDetector, StepMetricsWriter
from hawkeye.training.data import GRPODataModule
from hawkeye.training.module import GRPOModule


def train_data_path(cfg: DictConfig) -> Path:
    return resolve(cfg.paths.curated_dir) / "train.jsonl"


def fit(cfg: DictConfig, train_dir: str | Path, run_id: str) -> dict[str, Any]:
    """Train Model A per `cfg`; write `${train_dir}/{final,checkpoints,metrics.json,collapse_curve.tsv}`.
    Returns the metrics.json summary (first and final step)."""
    train_dir = Path(train_dir)
    g = cfg.grpo
    data = GRPODataModule(train_data_path(cfg), int(g.questions_per_step), int(g.max_steps), int(cfg.seed))
    policy, tok, ref = load_policy(cfg)
    responder = Responder.from_config(cfg)
    module = GRPOModule(cfg, policy, tok, responder, data.rows_for_step, ref_policy=ref,
                        rollout_factory=rollout_factory(cfg))

    resume = bool(cfg.resume)
    primary = is_primary_process()
    writer = StepMetricsWriter(train_dir, float(cfg.alpha) * data.mean_orig_tokens,
                               skip_until=checkpointing.last_logged_step(run_id) if resume and primary else -1)
    detector = CollapseDetector(cfg.collapse, stop=bool(cfg.trainer.stop_on_collapse))
    checkpoint = periodic_checkpoint(cfg, train_dir)
    logger = MLFlowLogger(experiment_name=cfg.tracking.experiment, tracking_uri=tracking_uri(cfg), run_id=run_id)
    trainer = make_trainer(cfg, train_dir, logger, [writer, detector, checkpoint])
    if primary:  # the other ranks start later (spawned by trainer.fit) and must not delete rank 0's files
        if not resume:  # inputs and models loaded fine: only now replace an earlier run's checkpoints
            shutil.rmtree(runs.checkpoint_dir(train_dir), ignore_errors=True)
        checkpointing.write_run_info(cfg, train_dir, run_id)  # written first: a crashed run is resumable
    # mlflow_run.json sits beside the checkpoints; and after-the-update state is what a GRPO checkpoint should hold.
    warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
    warnings.filterwarnings("ignore", message=r"Using ModelCheckpoint with manual optimization")
    try:
        trainer.fit(module, datamodule=data, ckpt_path=str(runs.last_checkpoint(train_dir)) if resume else None)
    finally:
        if responder is not None:
            responder.close()
        if module.rollout is not None:
            module.rollout.close()

    state = full_policy_state(module.policy)  # FSDP: every rank takes part in gathering the shards
    if trainer.is_global_zero:
        save_policy(module.policy, tok, runs.final_dir(train_dir), state_dict=state)
        client = logger.experiment
        client.set_tag(run_id, "final_model", str(runs.final_dir(train_dir).resolve()))
        client.set_tag(run_id, "checkpoint_last", str(runs.last_checkpoint(train_dir).resolve()))
        if checkpoint.best_model_path:
            client.set_tag(run_id, "checkpoint_periodic", checkpoint.best_model_path)
        writer.write_files()
    return {"first": writer.rows[0] if writer.rows else {}, "final": writer.rows[-1] if writer.rows else {},
            "steps": len(writer.rows), "collapse_step": detector.collapsed_at}


def load_policy(cfg: DictConfig) -> tuple[Any, Any, Any]:
    """(Model A to train, its tokenizer, the frozen reference for β > 0 or None). The reference is a copy
    of A before any LoRA adapter, kept in bf16 under bf16 precision (never updated)."""
    t = cfg.trainer
    policy, tok, _ = load_model_and_tokenizer(cfg.policy, cfg.paths.models_dir)
    policy.config.use_cache = False  # training forward passes; generate() turns the cache on itself
    policy.train()
    ref = None
    if cfg.grpo.beta != 0.0:
        ref = copy.deepcopy(policy)
        if str(t.precision).startswith("bf16"):
            ref.to(torch.bfloat16)
        freeze(ref)
    if t.lora.enabled:
        from peft import LoraConfig, get_peft_model

        policy = get_peft_model(policy, LoraConfig(r=t.lora.r, lora_alpha=t.lora.alpha, lora_dropout=t.lora.dropout,
                                                   target_modules=list(t.lora.target_modules), task_type="CAUSAL_LM"))
    return policy, tok, ref


def rollout_factory(cfg: DictConfig) -> Callable[[], Any] | None:
    """With `rollout.backend=vllm`: what builds the colocated engine (None: HF generate on the live policy)."""
    if cfg.rollout.backend != "vllm":
        return None
    from hawkeye.generation.vllm_backend import VLLMBackend

    def build() -> VLLMBackend:  # called in on_fit_start, once the ranks exist
        return VLLMBackend.from_config(cfg.policy, cfg.rollout, cfg.paths.models_dir, seed=int(cfg.seed), colocate=True)

    return build


def periodic_checkpoint(cfg: DictConfig, train_dir: Path) -> ModelCheckpoint:
    """`last.ckpt` and the newest periodic checkpoint, every `trainer.checkpoint_every_n_steps` GRPO steps."""
    return ModelCheckpoint(
        dirpath=runs.checkpoint_dir(train_dir),
        filename="step{step}",
        auto_insert_metric_name=False,
        every_n_train_steps=int(cfg.trainer.checkpoint_every_n_steps) * int(cfg.grpo.num_iterations),
        save_top_k=1,  # no monitor: keeps the newest periodic checkpoint
        save_last=True,
    )


def make_trainer(cfg: DictConfig, train_dir: Path, logger: MLFlowLogger, callbacks: list[L.Callback]) -> L.Trainer:
    t = cfg.trainer
    return L.Trainer(
        accelerator=t.accelerator,
        devices=int(t.devices),
        num_nodes=int(t.num_nodes),
        strategy=make_strategy(t),
        precision=t.precision,
        max_steps=int(cfg.grpo.max_steps) * int(cfg.grpo.num_iterations),  # μ optimizer steps per GRPO step
        max_epochs=-1,
        logger=logger,
        callbacks=callbacks,
        default_root_dir=str(train_dir),
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=1,
        deterministic=t.accelerator == "cpu",
        use_distributed_sampler=False,  # the module picks each rank's questions itself (rank_share)
    )


def make_strategy(t: Any) -> Any:
    """Lightning's strategy for `trainer.strategy`: `fsdp` is FSDP2 (ModelParallelStrategy; the module's
    `configure_model` shards the policy), anything else goes to Lightning as is (auto, ddp, ...)."""
    if t.strategy != "fsdp":
        return t.strategy
    from lightning.pytorch.strategies import ModelParallelStrategy

    # Sharded checkpoints (a folder per checkpoint, each rank writes its shard); resume reads them back.
    return ModelParallelStrategy(data_parallel_size=int(t.devices) * int(t.num_nodes), tensor_parallel_size=1)


def full_policy_state(policy: Any) -> dict[str, Any] | None:
    """The full (unsharded) policy state dict of an FSDP2-sharded policy, on CPU; None otherwise.
    Every rank must call it (the shards are gathered collectively)."""
    if not hasattr(policy, "reshard"):
        return None
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(policy, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def save_policy(policy: Any, tokenizer: Any, out_dir: Path, state_dict: dict[str, Any] | None = None) -> None:
    """The trained Model A as an HF folder (safetensors + tokenizer + chat template), written atomically."""
    if hasattr(policy, "merge_and_unload"):  # LoRA: the folder holds merged full weights
        policy = policy.merge_and_unload()
    policy.config.use_cache = True
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".final.", dir=out_dir.parent))
    try:
        policy.save_pretrained(tmp, safe_serialization=True, state_dict=state_dict)
        tokenizer.save_pretrained(tmp)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
