"""Merge the training run's metrics.json and the evaluate JSON into results/metrics.json."""

import json
import sys
from pathlib import Path

from genomamba.outputs import write_json

smk = snakemake  # noqa: F821  (injected by Snakemake's script: directive)
sys.stderr = open(smk.log[0], "w")

run = Path(smk.input.run)
train = json.loads((run / "metrics.json").read_text()) if (run / "metrics.json").is_file() else {}
evaluation = json.loads(Path(smk.input.evaluate).read_text())
out = {"run_dir": str(run.resolve()), "model": str((run / "model").resolve()), "train": train, "evaluate": evaluation}
write_json(smk.output[0], out)
print(f"wrote {smk.output[0]}", file=sys.stderr)
