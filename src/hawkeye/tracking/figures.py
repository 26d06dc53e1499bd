"""Figures logged with runs. The collapse curve: mean CoT length per step against the target α·len(c_orig)."""

from __future__ import annotations

from typing import Any


def collapse_curve_figure(rows: list[dict[str, float]], target_tokens: float, title: str = "") -> Any:
    """CoT length (mean, with min-max band) and EM vs step; the dashed line is α·mean len(c_orig)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(steps, [r["cot_tokens_mean"] for r in rows], marker="o", label="CoT tokens (mean)")
    if rows and "cot_tokens_min" in rows[0]:
        ax.fill_between(steps, [r["cot_tokens_min"] for r in rows], [r["cot_tokens_max"] for r in rows],
                        alpha=0.2, label="min-max")
    ax.axhline(target_tokens, linestyle="--", color="gray", label=f"α·len(c_orig) = {target_tokens:.0f}")
    ax.set_xlabel("step")
    ax.set_ylabel("Model A CoT tokens")
    ax2 = ax.twinx()
    ax2.plot(steps, [r["em"] for r in rows], color="tab:green", alpha=0.6, label="EM")
    ax2.set_ylim(-0.05, 1.05)
    ax2.set_ylabel("EM")
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=8, loc="upper right")
    ax.set_title(title or "CoT length across training steps")
    fig.tight_layout()
    return fig
