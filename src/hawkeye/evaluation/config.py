"""Schema of the `eval` config group."""

from __future__ import annotations

from dataclasses import dataclass

from hawkeye.errors import ConfigError

QUALITY_BACKENDS = ("engine", "server")


@dataclass
class EvalConfig:
    datasets: list[str]
    max_rows: int          # per dataset (0 = all)
    include_b_alone: bool  # the "B alone" floor
    # Which trained Model A rows to add to the base ones: "auto" = every arm run found under
    # ${paths.train_dir}/<arm>/seed<k>/ (else ${paths.train_dir}/final, the single-run layout);
    # null = none (base A only); or a path to one HF folder (one row, labelled "checkpoint").
    policy_checkpoint: str | None
    # The arm whose first seed is timed as Hawkeye (CoT only / Full) in the latency part (and
    # served by `hawkeye.serve` under "auto").
    latency_arm: str
    # Token caps for A's CoT and B's answer; null = rollout.max_new_tokens / responder_max_new_tokens
    # (the caps A was trained under, so compression is measured on the same budget).
    max_new_tokens: int | None
    responder_max_new_tokens: int | None
    # Quality generation: "engine" = in-process `make_backend` (rollout.backend: hf or vllm.LLM);
    # "server" = greedy requests to the vLLM servers the latency part starts anyway (saves a
    # second 25-60 s engine start per model on CPU). Both are greedy and batched.
    quality_backend: str
    # Serving latency (vLLM OpenAI-compatible servers).
    latency: bool
    latency_datasets: list[str] | None  # subset of `datasets` to time (null = all of them)
    concurrency: list[int]
    latency_requests: int               # requests per concurrency level (0 = one per test question)
    # ... but never fewer than this × the level's concurrency, so p50/p90/p99 rest on enough requests.
    latency_min_requests_per_slot: int
    request_timeout_s: float
    # Reuse running OpenAI-compatible servers instead of starting them (base URLs, no /v1).
    policy_url: str | None       # the evaluated Model A (Hawkeye)
    base_policy_url: str | None  # the base Model A (Baseline); policy_url if no trained A is timed
    responder_url: str | None
    hawkeye_url: str | None      # also time `python -m hawkeye.serve` at this URL ("serve")
    warmup_requests: int         # per server, before timing (first-request compile/caches)
    # vLLM reports each request's queue wait and prefill (the breakdown's engine figures); needs its statistics on
    engine_timings: bool
    idle_probe_s: float   # before timing: each server's CPU use while nothing is asked of it
    # Intervals: percentile bootstrap over questions, resampled jointly for every row (paired), seeded.
    confidence: float
    bootstrap_resamples: int
    # The accuracy margin the target judges ("within 3 points"); the test split must be large enough that
    # sampling its questions adds at most 2/3 of it to the interval (`evaluation.nested.questions_needed`).
    # null: no margin (a warning when the split looks too small).
    margin: float | None
    # Optional (left out of the YAMLs; set with ++eval.latency_replay={baseline_tokens:..,cot_tokens:..,
    # answer_tokens:..}): time these token counts instead of the models' own lengths. Every call then
    # generates exactly its count (Baseline: base A; CoT only: the timed A; Full: that A, then B).
    latency_replay: dict[str, int] | None = None

    def __post_init__(self) -> None:
        if self.latency_replay is not None:
            keys = {"baseline_tokens", "cot_tokens", "answer_tokens"}
            if set(self.latency_replay) != keys:
                raise ConfigError(f"latency_replay={dict(self.latency_replay)} must have exactly the keys "
                                  f"{sorted(keys)}")
            for key, value in self.latency_replay.items():
                if int(value) < 1:
                    raise ConfigError(f"latency_replay.{key}={value} must be >= 1 (tokens)")
        for key in ("max_new_tokens", "responder_max_new_tokens"):
            if getattr(self, key) is not None and getattr(self, key) < 1:
                raise ConfigError(f"{key}={getattr(self, key)} must be >= 1 (or null)")
        if self.max_rows < 0 or self.latency_requests < 0:
            raise ConfigError("max_rows and latency_requests must be >= 0")
        for c in self.concurrency:
            if c < 1:
                raise ConfigError(f"concurrency={c} must be >= 1")
        if self.request_timeout_s <= 0:
            raise ConfigError(f"request_timeout_s={self.request_timeout_s} must be > 0")
        if self.quality_backend not in QUALITY_BACKENDS:
            raise ConfigError(f"quality_backend={self.quality_backend!r} must be one of {QUALITY_BACKENDS}")
        if not self.datasets:
            raise ConfigError("datasets=[] must name at least one prepared split")
        for name in self.latency_datasets or []:
            if name not in self.datasets:
                raise ConfigError(f"latency_datasets={self.latency_datasets} must be a subset of datasets={self.datasets}")
        if self.idle_probe_s <= 0:
            raise ConfigError(f"idle_probe_s={self.idle_probe_s} must be > 0")
        if self.warmup_requests < 0:
            raise ConfigError(f"warmup_requests={self.warmup_requests} must be >= 0")
        if self.latency_min_requests_per_slot < 0:
            raise ConfigError(f"latency_min_requests_per_slot={self.latency_min_requests_per_slot} must be >= 0")
        if not 0 < self.confidence < 1:
            raise ConfigError(f"confidence={self.confidence} must be in (0, 1)")
        if self.margin is not None and not 0 < self.margin < 1:
            raise ConfigError(f"margin={self.margin} must be in (0, 1) or null")
        if self.bootstrap_resamples < 100:
            raise ConfigError(f"bootstrap_resamples={self.bootstrap_resamples} must be >= 100")
        if not self.latency_arm:
            raise ConfigError("latency_arm='' must name an arm (a folder under paths.train_dir)")
