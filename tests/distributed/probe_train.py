"""`src/train.py` with a recorder in every process, for the 2-process CPU tests (tests/test_distributed.py).

Lightning's launcher starts the other ranks by running this same file again, so each rank records,
after every training step, into $HAWKEYE_PROBE_DIR/rank<R>.jsonl: the questions it trained on, its
own samples' EM and CoT lengths, the step metrics it holds (those rank 0 logs), and a digest of the
full policy weights. Two patches make the ranks' numbers differ on tiny random models: EM is 1 on
rank 0's samples and 0 on rank 1's, and len(c) counts characters (random tiny models rarely stop).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from pathlib import Path

import torch.distributed as dist

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "src"))

import hawkeye.runtime  # noqa: E402
import hawkeye.training.module as module  # noqa: E402
from hawkeye.generation.vllm_backend import policy_weights  # noqa: E402
from hawkeye.reward.reward import Reward, compute_reward  # noqa: E402

OUT = Path(os.environ["HAWKEYE_PROBE_DIR"])


def rank_dependent_reward(answer, gold, cot, cot_tokens, orig_tokens, cfg, *, lam, alpha):  # noqa: ANN001, ANN201
    r = compute_reward(answer, gold, cot, cot_tokens, orig_tokens, cfg, lam=lam, alpha=alpha)
    em = 1.0 if dist.get_rank() == 0 else 0.0
    return Reward(em=em, penalty=r.penalty, leak=r.leak, reward=em - r.penalty - r.leak)


original_step = module.GRPOModule.training_step


def recording_step(self, batch, batch_idx):  # noqa: ANN001, ANN201
    original_step(self, batch, batch_idx)
    rank, world = self.rank_and_world
    digest = hashlib.sha256()
    for name, tensor in policy_weights(self.policy):  # FSDP: gathers the shards (every rank takes part)
        digest.update(name.encode() + tensor.detach().float().cpu().numpy().tobytes())
    record = {
        "rank": rank, "world": world, "step": int(self.step_metrics["step"]),
        "questions": [s["question"] for s in self.step_samples],
        "em": [s["em"] for s in self.step_samples],
        "cot_tokens": [s["cot_tokens"] for s in self.step_samples],
        "metrics": self.step_metrics, "weights": digest.hexdigest(),
        "sharded": hasattr(self.policy, "reshard"),  # FSDP2 wrapped it (configure_model)
        "param_dtypes": sorted({str(p.dtype) for p in self.policy.parameters()}),
        "precision": str(self.trainer.precision),
    }
    with open(OUT / f"rank{rank}.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")


module.compute_reward = rank_dependent_reward
module.GRPOModule.training_step = recording_step

spec = importlib.util.spec_from_file_location("train_app", REPO / "src" / "train.py")
train_app = importlib.util.module_from_spec(spec)
spec.loader.exec_module(train_app)
# As `python src/train.py`: Hydra finds ../conf next to the script file.
train_app.main.__wrapped__.__module__ = "__main__"

if __name__ == "__main__":
    sys.argv = hawkeye.runtime.flags_first(sys.argv)
    train_app.main()
