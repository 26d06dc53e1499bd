"""Schema of the `regimes` config group: which (A, B) regimes the map builds, gates and trains.

A regime is one ingredient set on purpose and checked on the validation split before any GRPO run:
- an A regime: how often Model A was shown a direct answer, per number of operations, and how much of
  the one-operation arithmetic it drilled by heart (its in-head ability on easy questions);
- a B regime: how many missing operations Model B was trained to compute (`finish`: 0 = copy only);
- every B regime reads the same generic views (`b_views`): prefixes of any CoT form A could write.
"""

from __future__ import annotations

from dataclasses import dataclass

from hawkeye.errors import ConfigError

# The measures a regime's gate may bound (`hawkeye.regimes.gate`): A's per number of operations, B's per
# CoT form it is handed.
A_MEASURES = ("a_greedy", "a_direct", "a_direct_ops1", "a_direct_ops2", "a_direct_ops3", "a_skip", "a_skip_ops1",
              "a_skip_ops2", "a_skip_ops3", "a_skip_right_ops1", "a_skip_right_ops2", "a_skip_right_ops3")
B_FORMS = ("none", "first_step_hidden", "direct_boxed", "critical_boxed", "critical_bare", "verbose_boxed",
           "missing1_bare", "missing2_bare")
B_VIEWS = ("verbose", "verbose_boxed", "bare", "bare_boxed", "direct", "none")


def _check_bounds(name: str, bounds: dict[str, list[float]], allowed: tuple[str, ...]) -> None:
    for measure, pair in bounds.items():
        if measure not in allowed:
            raise ConfigError(f"{name}.checks.{measure}: unknown measure (known: {', '.join(allowed)})")
        if len(pair) != 2 or not 0 <= pair[0] <= pair[1] <= 1:
            raise ConfigError(f"{name}.checks.{measure}={list(pair)} must be [low, high] with 0 <= low <= high <= 1")


@dataclass
class ARegime:
    """Model A: the warm start's A fine-tuned with direct answers at these rates, by number of operations."""

    direct_by_ops: dict[int, float]    # operations -> share of that question's examples answered directly
    checks: dict[str, list[float]]     # measure -> [low, high] on the validation split
    # Share of A's examples that drill the one-operation arithmetic by heart: a fresh story of any
    # one-operation signature (every split's), answered directly (`hawkeye.regimes.views.drill_example`).
    drill_one_op: float
    # Share of A's examples that ask it to reason and show the boxed answer alone: the CoT-free answer
    # GRPO must be able to sample for a short CoT to be found at all (`hawkeye.regimes.views.a_example`).
    skip_cot: float


@dataclass
class BRegime:
    """Model B: the warm start's B fine-tuned to compute at most `finish` missing operations."""

    finish: int                        # 0: copies a stated answer (or the last value), computes nothing
    checks: dict[str, list[float]]     # CoT form -> [low, high] accuracy on the validation split


@dataclass
class FinetuneConfig:
    a_steps: int
    b_steps: int
    batch_size: int
    lr: float
    warmup_steps: int


@dataclass
class PenaltyRule:
    """The penalty of every cell, set from each A regime's own c_orig on validation: a CoT as long as
    c_orig costs `orig_cost` (EM's maximum is 1), lambda * ((1 - alpha) * mean len(c_orig))^2 = orig_cost."""

    alpha: float
    orig_cost: float

    def __post_init__(self) -> None:
        if not 0 < self.alpha <= 1:
            raise ConfigError(f"regimes.penalty.alpha={self.alpha} must be in (0, 1]")
        if self.orig_cost <= 0:
            raise ConfigError(f"regimes.penalty.orig_cost={self.orig_cost} must be > 0")


@dataclass
class RegimesConfig:
    warm_starts: list[int]             # the warm starts (models/warmstarts/ws<k>) every regime is built from
    a: dict[str, ARegime]
    b: dict[str, BRegime]
    b_views: dict[str, float]          # view -> weight in every B regime's fine-tuning (normalised)
    run_a: list[str]                   # the A regimes the map runs
    run_b: list[str]                   # the B regimes the map runs
    finetune: FinetuneConfig
    penalty: PenaltyRule
    seeds: list[int]                   # GRPO seeds per warm start and cell
    b_alone_max: float                 # every B regime: B with an empty CoT
    gate_rows: int                     # validation questions of the gate (0 = all)
    eval_rows: int                     # test questions every trained A is scored on (0 = all)
    score_split: str                   # the split they are read on: the test split; validation for a probe
    flat_window: int                   # steps per block of the rule that says where a curve flattened
    flat_tolerance: float              # ... flat: every later block's mean within this share of the last's
    flat_floor: float                  # ... or within this many tokens per critical token (a collapsed curve)

    def __post_init__(self) -> None:
        for key, names, defined in (("run_a", self.run_a, self.a), ("run_b", self.run_b, self.b)):
            if not names:
                raise ConfigError(f"regimes.{key}=[] must name at least one regime")
            for name in names:
                if name not in defined:
                    raise ConfigError(f"regimes.{key}: unknown regime {name!r} (defined: {', '.join(sorted(defined))})")
        for name, a in self.a.items():
            for ops, share in a.direct_by_ops.items():
                if not 0 <= float(share) <= 1:
                    raise ConfigError(f"regimes.a.{name}.direct_by_ops.{ops}={share} must be in [0, 1]")
            for key in ("drill_one_op", "skip_cot"):
                if not 0 <= float(getattr(a, key)) <= 1:
                    raise ConfigError(f"regimes.a.{name}.{key}={getattr(a, key)} must be in [0, 1]")
            _check_bounds(f"regimes.a.{name}", a.checks, A_MEASURES)
        for name, b in self.b.items():
            if b.finish not in (0, 1, 2):
                raise ConfigError(f"regimes.b.{name}.finish={b.finish} must be 0, 1 or 2")
            _check_bounds(f"regimes.b.{name}", b.checks, B_FORMS)
        for view, weight in self.b_views.items():
            if view not in B_VIEWS:
                raise ConfigError(f"regimes.b_views.{view}: unknown view (known: {', '.join(B_VIEWS)})")
            if not 0 <= float(weight) <= 1:
                raise ConfigError(f"regimes.b_views.{view}={weight} must be in [0, 1]")
        if sum(float(w) for w in self.b_views.values()) <= 0:
            raise ConfigError(f"regimes.b_views={dict(self.b_views)} must not sum to 0")
        if not self.warm_starts or any(int(w) < 1 for w in self.warm_starts):
            raise ConfigError(f"regimes.warm_starts={list(self.warm_starts)} must be warm-start seeds >= 1")
        if len(self.seeds) < 2 or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"regimes.seeds={list(self.seeds)} must be at least 2 distinct GRPO seeds")
        if not 0 <= self.flat_tolerance < 1 or self.flat_floor < 0:
            raise ConfigError(f"regimes.flat_tolerance={self.flat_tolerance} must be in [0, 1) and "
                              f"regimes.flat_floor={self.flat_floor} >= 0")
        for key in ("flat_window",):
            if getattr(self, key) < 1:
                raise ConfigError(f"regimes.{key}={getattr(self, key)} must be >= 1")
        if not 0 <= self.b_alone_max <= 1:
            raise ConfigError(f"regimes.b_alone_max={self.b_alone_max} must be in [0, 1]")
