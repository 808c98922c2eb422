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


def train_overrides(run_dir):
    """The Hydra overrides of the train job: the FASTA(s), run_dir, name, then the config's overrides."""
    paths = ",".join(f"'{p}'" for p in FASTAS)
    args = ["data=fasta", f"data.fasta=[{paths}]", f"run_dir={Path(run_dir).resolve()}", f"name={config['name']}"]
    return args + [str(a) for a in config["overrides"]]


def train_args(run_dir):
    """The train job's overrides, shell-quoted."""
    return " ".join(shlex.quote(a) for a in train_overrides(run_dir))


def check_overrides():
    """Compose the train job's overrides now and run genomamba train's own preflight on them (config
    keys, model settings, FASTA, track ...): a typo such as trainer.max_stepz fails the dry run."""
    from omegaconf import OmegaConf

    from genomamba.apps.train import preflight
    from genomamba.training.compose import compose_config

    overrides = train_overrides("results/train")
    problem = preflight(overrides)
    if problem is not None:
        raise WorkflowError(f"config key 'overrides': {problem}")
    cfg = compose_config(overrides)
    if OmegaConf.select(cfg, "model.relative_track", default=False):
        raise WorkflowError(
            "config key 'overrides': model.relative_track=true, but this workflow's evaluate step passes no relative "
            "track; train relative-track models with `genomamba train` and evaluate them with `genomamba evaluate "
            "--track`, or drop model.relative_track"
        )


if workflow.is_main_process:  # not again in each job of a cluster run
    check_overrides()
