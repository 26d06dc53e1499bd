"""The evaluate stage's latency part alone, on the same config: servers, rows, tables.

    python -m hawkeye.evaluation.latency experiment=testbed --out runs/latency
    python -m hawkeye.evaluation.latency experiment=paper_gsm8k eval.concurrency=[10,100] --out runs/latency-gpu

Writes `<out>/latency.json` and `<out>/latency.md` (without the poster table's quality columns,
which need the quality part), and the servers' logs to `<out>/server_logs/`. The evaluate stage
(`pipelines/evaluate.py`) measures the same rows after its quality part.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hawkeye.evaluation.latency", description=__doc__.split("\n")[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. experiment=testbed eval.concurrency=[10]")
    parser.add_argument("--out", default="runs/latency", help="folder for latency.json, latency.md, server_logs/")
    args = parser.parse_args(argv)

    import logging

    from hydra import compose, initialize_config_dir

    import hawkeye.runtime
    from hawkeye.evaluation.latency import machine
    from hawkeye.evaluation.latency.measure import latency_for_dataset
    from hawkeye.evaluation.latency.report import write_latency
    from hawkeye.evaluation.quality import load_rows
    from hawkeye.evaluation.systems import system_keys
    from hawkeye.paths import CONF_DIR, resolve
    from hawkeye.selection import resolve_served, token_caps
    from hawkeye.serving.endpoints import start_endpoints

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = hawkeye.runtime.start(compose(config_name="config", overrides=args.overrides), check_tracking=False)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    ev, out = cfg.eval, resolve(args.out)
    served = resolve_served(cfg)
    names = [n for n in ev.datasets if n in (ev.latency_datasets or ev.datasets)]
    rows = {n: load_rows(resolve(cfg.paths.prepared_dir), n, int(ev.max_rows))[0] for n in names}
    urls = {"hawkeye_a": ev.policy_url, "baseline_a": ev.base_policy_url, "responder": ev.responder_url}
    versions = machine.versions()
    context = {"datasets": names, "latency_system": system_keys(served.run)[1],
               "latency_answer_leak": served.answer_leak, "hardware": machine.hardware(), "versions": versions,
               "engines": dict(cfg.rollout.vllm),
               "server_cores": {role: list(cores) for role, cores in cfg.serving.server_cores.items()}}
    results = {}
    with contextlib.ExitStack() as stack:
        endpoints = start_endpoints(served.models, urls, cfg.rollout.vllm, str(cfg.serving.host), Path(out) / "server_logs",
                                    stack, float(cfg.serving.server_start_timeout_s), seed=int(cfg.seed),
                                    cores=cfg.serving.server_cores, engine_timings=bool(ev.engine_timings))
        for name, dataset in rows.items():
            results[name] = {"latency": latency_for_dataset(cfg, dataset, served, endpoints, token_caps(cfg))}
    write_latency(out, results, context)
    print((out / "latency.md").read_text())


if __name__ == "__main__":
    main()
