"""Runs a real entry point in a subprocess with one test patch applied, for the kill/signal tests.

    python tests/reliability/driver.py <mode> <hydra overrides...>

Modes:
- train: src/train.py as it is (no patch; the tiny models' CoTs vary in length and some end on EOS,
  so real token counts give the groups a learning signal).
- curate_slow_write: pipelines/curate.py, whose curated train.jsonl writer stalls after its first
  row (prints WRITING): a signal then lands mid-write.
- curate_slow_generate: pipelines/curate.py, whose generation stalls (prints GENERATING).
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def patch_nothing() -> None:
    pass


def patch_curate_slow_write() -> None:
    import hawkeye.curation.curate as curate

    original = curate.write_jsonl

    def slow_write(path, rows):  # noqa: ANN001, ANN202
        if Path(path).name != "train.jsonl":
            return original(path, rows)

        def stalled():  # noqa: ANN202
            rows_list = list(rows)
            yield rows_list[0]
            print(f"WRITING {path} pid={os.getpid()}", flush=True)
            time.sleep(120)
            yield from rows_list[1:]

        return original(path, stalled())

    curate.write_jsonl = slow_write


def patch_curate_slow_generate() -> None:
    from hawkeye.generation.hf import HFBackend

    def stalled(self, prompts, params):  # noqa: ANN001, ANN202
        print(f"GENERATING pid={os.getpid()}", flush=True)
        time.sleep(120)
        raise AssertionError("not reached")

    HFBackend.generate = stalled


MODES = {
    "train": (patch_nothing, "src/train.py"),
    "curate_slow_write": (patch_curate_slow_write, "pipelines/curate.py"),
    "curate_slow_generate": (patch_curate_slow_generate, "pipelines/curate.py"),
}

if __name__ == "__main__":
    # Ctrl-C reaches the stage as it does in a terminal, whatever the test process passed down: a
    # process started in the background by a shell without job control, or one in which Lightning
    # handled a KeyboardInterrupt, ignores SIGINT, and an ignored signal is inherited across exec.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    patch, script = MODES[sys.argv[1]]
    sys.path.insert(0, str(REPO / "src"))
    patch()
    sys.argv = [str(REPO / script), *sys.argv[2:]]
    runpy.run_path(str(REPO / script), run_name="__main__")
