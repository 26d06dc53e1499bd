"""Run `src/train.py` in this process, unchanged, and record what it does not report: peak GPU memory.

    python tools/gpu_check/train_with_stats.py STATS.json src/train.py experiment=packaged trainer=gpu ...

Executes src/train.py as `__main__` (runpy: its own argv handling, Hydra app and exit status), then
writes STATS.json: torch.cuda.max_memory_allocated / max_memory_reserved (bytes, None without CUDA),
the process's peak RSS, wall time and the exit status. Used by tools/gpu_check/run.sh.
"""

from __future__ import annotations

import json
import resource
import runpy
import sys
import time
from pathlib import Path


def main() -> None:
    stats_path, script, *overrides = sys.argv[1:]
    sys.argv = [script, *overrides]
    sys.path.insert(0, str(Path(script).resolve().parent))  # as `python src/train.py` would
    t0 = time.perf_counter()
    code: int | str | None = 0
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as e:  # Hydra exits 1 on an error, after printing it
        code = e.code
    finally:
        import torch

        cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
        stats = {
            "exit_code": code,
            "wall_s": time.perf_counter() - t0,
            "cuda_device": torch.cuda.get_device_name(0) if cuda else None,
            "max_memory_allocated": torch.cuda.max_memory_allocated() if cuda else None,
            "max_memory_reserved": torch.cuda.max_memory_reserved() if cuda else None,
            "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,  # Linux: KiB
        }
        Path(stats_path).write_text(json.dumps(stats, indent=1) + "\n")
    sys.exit(code)


if __name__ == "__main__":
    main()
