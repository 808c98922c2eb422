"""The species_classification workflow through snakemake-executor-plugin-slurm with the shipped
profile (workflows/profiles/slurm), so the profile itself is exercised: every rule becomes an
sbatch job with the partition, threads, memory, runtime and GPU request the profile sets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slurm

REPO_ROOT = Path(__file__).resolve().parents[2]
PROFILE = REPO_ROOT / "workflows" / "profiles" / "slurm"
SNAKEMAKE = Path(sys.executable).parent / "snakemake"


def test_species_workflow_runs_through_the_slurm_profile(slurm, tiny_model: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    config = work / "test_config.yaml"
    config.write_text(yaml.safe_dump({
        "genomes": str(REPO_ROOT / "data" / "species.tsv"),
        "model": str(tiny_model),
        "window_lengths": [256],
        "n_windows": 8,
        "n_test_windows": 4,
        "cv_folds": 2,
        "classifiers": ["logistic"],
        "embed": {"threads": 1, "device": "cpu"},
    }))
    cmd = [
        str(SNAKEMAKE), "-s", str(REPO_ROOT / "workflows" / "species_classification" / "Snakefile"),
        "--profile", str(PROFILE), "--directory", str(work), "--configfile", str(config),
        # Only what this test cluster needs beyond the profile: it has no accounting database
        # (slurmdbd), so job states come from squeue, and status checks start sooner.
        "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "3",
    ]
    proc = subprocess.run(cmd, env={**slurm.env, "MPLBACKEND": "Agg"}, cwd=tmp_path, capture_output=True, text=True, timeout=1500)
    log = f"{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
    assert proc.returncode == 0, log
    metrics = json.loads((work / "results" / "metrics.json").read_text())
    assert metrics["window_lengths"] == [256]
    assert set(metrics["results"]["256"]) == {"embedding", "kmer_k4"}
    assert (work / "results" / "report.md").is_file()

    # Every rule ran as a SLURM job (not locally), with the profile's resources.
    jobs = slurm.run("squeue", "--states=all", "--noheader", "-o", "%i|%k|%P|%C|%m|%l|%b|%T").stdout.splitlines()
    by_rule: dict[str, list[list[str]]] = {}
    for line in jobs:
        job_id, comment, partition, cpus, mem, limit, gres, state = line.split("|")
        rule = comment.removeprefix("rule_").split("_wildcards")[0]
        by_rule.setdefault(rule, []).append([partition, cpus, mem, limit, gres, state])
    rules = {"sample_windows", "embed", "kmer_features", "classify", "report"}
    assert rules <= set(by_rule), jobs
    assert all(r[-1] == "COMPLETED" for rule in rules for r in by_rule[rule]), jobs
    embed = by_rule["embed"][0]
    assert embed[0] == "gpu" and embed[1] == "8" and embed[2] == "16000M" and embed[3] == "1:00:00", embed
    assert "gpu:1" in embed[4], embed
    kmer = by_rule["kmer_features"][0]
    assert kmer[0] == "cpu" and kmer[1] == "1" and kmer[2] == "4000M" and kmer[3] == "30:00", kmer
