"""Stage `prepare`: write the prepared jsonl splits + manifest into `${paths.prepared_dir}`.

python pipelines/prepare.py                    # cpu_default sizes -> data/prepared
python pipelines/prepare.py experiment=smoke   # tiny sizes -> data/smoke/prepared (seconds)
"""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig

from hawkeye.data.prepare import run
from hawkeye.runtime import flags_first, start

log = logging.getLogger("prepare")


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    cfg = start(cfg)  # validate first (names a bad key), then threads and seeds
    manifest = run(cfg)
    log.info("prepared %s", {name: f["rows"] for name, f in manifest["files"].items()})


if __name__ == "__main__":
    sys.argv = flags_first(sys.argv)
    main()
