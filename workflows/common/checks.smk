# Parse-time config helpers shared by the workflows (included from each rules/common.smk).
import os
import sys
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate


def validate_config(cfg, schema, coerce=()):
    """Validate ``cfg`` against the JSON schema at ``schema`` (absolute path).

    Unknown top-level keys get a short message listing the allowed ones; ``coerce`` names keys
    whose nested values came from ``--config`` as strings (Snakemake parses nested values with
    YAML's BaseLoader, so ``window_lengths=[256,512]`` arrives as ``['256', '512']``).
    """
    schema = Path(schema).resolve()
    with open(schema) as fh:
        allowed = yaml.safe_load(fh)["properties"]
    unknown = sorted(set(cfg) - set(allowed))
    if unknown:
        raise WorkflowError(
            f"unknown config key(s) {unknown}: allowed keys are {sorted(allowed)} (see {schema}); check the spelling"
        )
    for key in coerce:
        if key in cfg:
            cfg[key] = _coerce_cli(cfg[key])
    validate(cfg, str(schema))


def _coerce_cli(value):
    if isinstance(value, list):
        return [_coerce_cli(v) for v in value]
    if isinstance(value, dict):
        return {k: _coerce_cli(v) for k, v in value.items()}
    if isinstance(value, str):
        if value.lower() in ("true", "false"):
            return value.lower() == "true"
        for kind in (int, float):
            try:
                return kind(value)
            except ValueError:
                pass
    return value


def config_path(key, value, what, fix):
    """Absolute path of a config value that must exist, else a WorkflowError naming key, path and fix."""
    p = _absolute(value)
    if not p.exists():
        raise WorkflowError(f"config key '{key}': {what} not found: {p}{_relative_hint(value)}; {fix}")
    return p.resolve()


def _absolute(value):
    """``value`` as a path, with ``~`` expanded and relative paths taken from the working directory."""
    p = Path(os.path.expanduser(str(value)))
    return p if p.is_absolute() else Path.cwd() / p


def _relative_hint(value):
    return "" if Path(str(value)).is_absolute() else f" (relative paths are taken from the working directory {Path.cwd()})"


def checked(key, check, *args, where="", **kwargs):
    """``check(*args, **kwargs)``, one of the package's own checks, with a GenomambaError turned into
    a WorkflowError naming the config key: the dry run fails with the message the job would give."""
    from genomamba.errors import GenomambaError

    try:
        return check(*args, **kwargs)
    except GenomambaError as e:
        raise WorkflowError(f"config key '{key}'{where}: {e}") from None


def config_model(key, value):
    """The model a config key names: a path on disk (save_pretrained directory, run directory or
    .ckpt) or the name of a model shipped with genomamba; a WorkflowError naming the key otherwise."""
    p = _absolute(value)
    if p.exists():
        return p.resolve()
    from genomamba.models.checkpoint import resolve_model_path

    try:
        return checked(key, resolve_model_path, str(value))[0]  # a shipped model's folder inside the package
    except WorkflowError as e:
        raise WorkflowError(f"{e}{_relative_hint(value)}; pass a save_pretrained directory, a training run directory (e.g. runs/demo), a .ckpt or a shipped model name") from None


def check_model_track(model_key, model, track_key, track):
    """The model reads a relative track exactly when ``track`` (the config key ``track_key``) is set:
    what score-variants and variant-benchmark refuse, checked from the model's config alone."""
    from genomamba.models.checkpoint import load_model_config

    cfg = checked(model_key, load_model_config, model)
    checked(track_key, cfg.check_track_input, track, f"the model {model} (config key '{model_key}')", option=track_key)
    return cfg


def check_track(key, track, fasta):
    """The relative track has the FASTA's records, each as long (genomamba.data.tracks.open_track)."""
    from genomamba.data.fasta import GenomeFile
    from genomamba.data.tracks import open_track

    genome = checked("fasta", GenomeFile, fasta)
    checked(key, open_track, str(track), genome, option=key)
    return track


def check_vcf(key, path):
    """A VCF the job can read: not plain gzip, not a truncated download, a header htslib parses."""
    from genomamba.downstream.variants.vcf import check_vcf as check

    return checked(key, check, path)


def check_labels(key, path):
    """A labelled-variants TSV the job can read (genomamba.downstream.variants.labels)."""
    from genomamba.downstream.variants.labels import read_labelled_variants

    checked(key, read_labelled_variants, path)
    return path


def check_device(key, value):
    """A device name (cpu, cuda, cuda:N, mps, auto); not whether this machine has it, as jobs may run elsewhere."""
    from genomamba.devices import check_device_name  # light: no torch

    return checked(key, check_device_name, value, option=key)


def check_fasta(key, path, where=""):
    """A WorkflowError naming the config key when ``path`` is not a FASTA genomamba can read
    (empty, not FASTA, plain gzip instead of BGZF, a truncated download ...): caught by a dry run,
    not hours later."""
    from genomamba.data.fasta import validate_fasta  # light: pyfaidx only, no torch

    checked(key, validate_fasta, path, where=where)
    return path


def genomamba_cli():
    """The ``genomamba`` script next to the Python running Snakemake (same venv), else the one on PATH."""
    here = Path(sys.executable).parent / "genomamba"
    return str(here) if here.exists() else "genomamba"
