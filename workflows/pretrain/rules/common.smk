# Config validation (at parse time) and helpers shared by the rules.
import shlex
from pathlib import Path


include: "../../common/checks.smk"


validate_config(config, Path(workflow.current_basedir) / ".." / "schemas" / "config.schema.yaml", coerce=("evaluate",))

GENOMAMBA = genomamba_cli()
_fastas = [config["fasta"]] if isinstance(config["fasta"], str) else config["fasta"]
FASTAS = [
    check_fasta(key, config_path(key, f, "training FASTA", "fix the path or remove it"))
    for key, f in ((("fasta" if len(_fastas) == 1 else f"fasta[{i}]"), f) for i, f in enumerate(_fastas))
]
EVAL_FASTA = (
    check_fasta("evaluate.fasta", config_path("evaluate.fasta", config["evaluate"]["fasta"], "evaluation FASTA", "fix the path, or leave it empty"))
    if config["evaluate"]["fasta"]
    else FASTAS[0]
)


def train_args(run_dir):
    """Shell-quoted Hydra overrides: the FASTA(s), run_dir, name, then the config's overrides."""
    paths = ",".join(f"'{p}'" for p in FASTAS)
    args = ["data=fasta", f"data.fasta=[{paths}]", f"run_dir={Path(run_dir).resolve()}", f"name={config['name']}"]
    return " ".join(shlex.quote(a) for a in args + list(config["overrides"]))
