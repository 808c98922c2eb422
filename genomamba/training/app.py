"""The Hydra application behind ``genomamba train`` (configs shipped in ``genomamba.configs``).

Kept as its own module (runnable as a script) because Lightning's DDP launcher restarts
``sys.argv[0]`` with the same overrides for every extra local rank.
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from genomamba.errors import GenomambaError
from genomamba.training.schema import register_schemas

register_schemas()


@hydra.main(version_base="1.3", config_path="pkg://genomamba.configs", config_name="train")
def main(cfg: DictConfig) -> None:
    from genomamba.training.train import TrainingInterrupted, train

    try:
        train(cfg)
    except TrainingInterrupted as e:
        print(f"genomamba: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    except GenomambaError as e:
        # SystemExit is not caught by Hydra's error reporting: one line, no traceback.
        print(f"genomamba: error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
