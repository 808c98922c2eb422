"""Snakemake workflows: dry runs, real runs on the bundled data with a tiny model, bad configs."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import matplotlib.image as mpimg
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA = REPO_ROOT / "data"
ECOLI = DATA / "genomes" / "escherichia_coli_536.fa.gz"
VCF = DATA / "variants" / "ecoli536_repeat_snvs.vcf"
LABELS = DATA / "variants" / "ecoli536_repeat_snvs.labels.tsv"
WORKFLOWS = REPO_ROOT / "workflows"
# The snakemake of the running venv (not whatever is first on PATH).
SNAKEMAKE = Path(sys.executable).parent / "snakemake"


def run_snakemake(
    workflow: str, workdir: Path, config: dict[str, Any] | None = None, *args: str, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run ``snakemake -s workflows/<workflow>/Snakefile --directory workdir`` with ``config``
    written to a YAML ``--configfile`` (merged over the workflow's config/config.yaml)."""
    cmd = [str(SNAKEMAKE), "-s", str(WORKFLOWS / workflow / "Snakefile"), "--directory", str(workdir)]
    workdir.mkdir(parents=True, exist_ok=True)
    if config is not None:
        cfg = workdir / "test_config.yaml"
        cfg.write_text(yaml.safe_dump(config))
        cmd += ["--configfile", str(cfg)]
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=timeout, cwd=workdir.parent, env=env)


def species_config(model: Path, **extra: object) -> dict:
    return {
        "genomes": str(DATA / "species.tsv"),
        "model": str(model),
        "window_lengths": [256, 512],
        "n_windows": 16,
        "n_test_windows": 8,
        "cv_folds": 3,
        "embed": {"threads": 1, "device": "cpu"},
        **extra,
    }


def variant_config(model: Path, vcf: Path = VCF, labels: Path | None = LABELS, **extra: object) -> dict:
    return {
        "vcf": str(vcf),
        "fasta": str(ECOLI),
        "model": str(model),
        "labels": str(labels) if labels else "",
        "benchmark": "",
        "device": "cpu",
        "threads": 1,
        **extra,
    }


def pretrain_config() -> dict:
    return {"fasta": [str(ECOLI)], "overrides": ["model=tiny", "trainer.max_steps=5"]}


def default_config(workflow: str, model: Path) -> dict:
    """The small test config of one of the three workflows."""
    return {
        "species_classification": species_config(model),
        "variant_effect": variant_config(model),
        "pretrain": pretrain_config(),
    }[workflow]


def assert_ok(proc) -> None:
    assert proc.returncode == 0, f"snakemake failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"


def assert_png(path: Path) -> None:
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 200 and img.shape[2] in (3, 4), img.shape


# ----------------------------------------------------------------------------- dry runs
@pytest.mark.parametrize("workflow", ["species_classification", "variant_effect", "pretrain"])
def test_dry_run(workflow: str, tiny_model: Path, tmp_path: Path) -> None:
    config = default_config(workflow, tiny_model)
    proc = run_snakemake(workflow, tmp_path / "work", config, "-n", "--cores", "2")
    assert_ok(proc)
    assert "This was a dry-run" in proc.stdout + proc.stderr
    assert not (tmp_path / "work" / "results").exists()


@pytest.mark.parametrize("workflow", ["species_classification", "variant_effect", "pretrain"])
def test_snakemake_lint_is_clean(workflow: str, tiny_model: Path, tmp_path: Path) -> None:
    """`snakemake --lint` (log, conda env and script checks on every rule) finds nothing."""
    config = default_config(workflow, tiny_model)
    proc = run_snakemake(workflow, tmp_path / "work", config, "--lint")
    assert_ok(proc)
    assert "Congratulations, your workflow is in a good condition!" in proc.stdout + proc.stderr


def test_dry_run_species_strain_split_and_cli_config(tiny_model: Path, tmp_path: Path) -> None:
    """--config values (as the Makefile passes them) reach the workflow: one job per window length."""
    proc = run_snakemake(
        "species_classification", tmp_path / "work", None, "-n",
        "--config", f"genomes={DATA / 'species.tsv'}", f"model={tiny_model}", "window_lengths=[128,256,512]",
        "split=strain", "embed={threads: 1}",
    )
    assert_ok(proc)
    out = proc.stdout + proc.stderr
    for length in (128, 256, 512):
        assert f"results/features/{length}/embedding.npz" in out


def test_dry_run_variant_effect_without_labels(tiny_model: Path, tmp_path: Path) -> None:
    proc = run_snakemake("variant_effect", tmp_path / "work", variant_config(tiny_model, labels=None), "-n")
    assert_ok(proc)
    out = proc.stdout + proc.stderr
    assert "score_variants" in out and "rule supervised" not in out and "roc_curve.png" not in out


# ----------------------------------------------------------------------------- real runs
@pytest.mark.timeout(240)
def test_species_workflow_runs(tiny_model: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    assert_ok(run_snakemake("species_classification", work, species_config(tiny_model), "--cores", "2"))
    res = work / "results"
    metrics = json.loads((res / "metrics.json").read_text())
    assert metrics["window_lengths"] == [256, 512]
    assert len(metrics["species"]) == 4 and metrics["chance"] == pytest.approx(0.25)
    for length in ("256", "512"):
        by_feature = metrics["results"][length]
        assert set(by_feature) == {"embedding", "kmer_k4"}
        for feature in ("embedding", "kmer_k4"):
            assert set(by_feature[feature]) == {"logistic", "random_forest"}
            for m in by_feature[feature].values():
                assert 0.0 <= m["test_accuracy"] <= 1.0
                assert m["test_accuracy_ci"][0] <= m["test_accuracy"] <= m["test_accuracy_ci"][1]
                assert 0.0 <= m["cv_accuracy_mean"] <= 1.0
                assert m["n_test"] == 4 * 8 and m["n_train"] == 4 * 16
                assert sum(map(sum, m["confusion_matrix"])) == m["n_test"]
    for png in ("confusion_matrix.png", "accuracy_by_length.png"):
        assert_png(res / "plots" / png)
    report = (res / "report.md").read_text()
    assert "| 512 | genomamba embedding | logistic regression |" in report
    assert "- pretraining overlap: not checked (the model records no training data)" in report  # a bare saved model
    # paired embedding vs k-mer comparison on the same 32 windows; 8 per species is flagged as too few
    d = metrics["embedding_vs_kmer"]["512/logistic/embedding_vs_kmer_k4"]
    e, k = metrics["results"]["512"]["embedding"]["logistic"], metrics["results"]["512"]["kmer_k4"]["logistic"]
    assert d["n"] == 32 and d["difference"] == pytest.approx(e["test_accuracy"] - k["test_accuracy"])
    assert "Too few held-out windows to compare models" in report and "McNemar" in report
    # BED windows: train and held-out never overlap (region split), each length its own file.
    for length in (256, 512):
        rows = {w: list(csv.reader(open(res / "windows" / str(length) / f"{w}.bed"), delimiter="\t")) for w in ("train", "test")}
        assert len(rows["train"]) == 64 and len(rows["test"]) == 32
        assert all(int(r[2]) - int(r[1]) == length for r in rows["train"] + rows["test"])
        spans = {(r[7], r[0]): [] for r in rows["train"] + rows["test"]}
        for r in rows["train"]:
            spans[(r[7], r[0])].append((int(r[1]), int(r[2])))
        for r in rows["test"]:
            s, e = int(r[1]), int(r[2])
            assert all(e <= a or s >= b for a, b in spans[(r[7], r[0])])


@pytest.mark.timeout(150)
def test_variant_effect_workflow_runs(tiny_model: Path, tmp_path: Path) -> None:
    """The first 40 labelled SNVs of each class from the bundled benchmark (kept small for time)."""
    with open(LABELS, newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    keep = [r for r in rows if r["label"] == "0"][:40] + [r for r in rows if r["label"] == "1"][:40]
    keep_ids = {r["id"] for r in keep}
    (tmp_path / "in").mkdir()
    vcf, labels = tmp_path / "in" / "subset.vcf", tmp_path / "in" / "subset.labels.tsv"
    vcf.write_text("".join(line for line in open(VCF) if line.startswith("#") or line.split("\t")[2] in keep_ids))
    with open(labels, "w", newline="") as fh:
        wr = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter="\t", lineterminator="\n")
        wr.writeheader()
        wr.writerows(keep)
    config = variant_config(
        tiny_model, vcf=vcf, labels=labels, window=128,
        supervised={"classifiers": ["logistic"], "cv": 3, "window": 64},
    )
    work = tmp_path / "work"
    assert_ok(run_snakemake("variant_effect", work, config, "--cores", "2"))
    metrics = json.loads((work / "results" / "metrics.json").read_text())
    assert metrics["n_variants"] == 80 and metrics["status_counts"] == {"ok": 80}
    assert metrics["zero_shot"]["n"] == 80 and metrics["zero_shot"]["n_pos"] == 40
    # the SNVs' hidden-state shift and influence, ranked the other way round (larger = label 1)
    assert metrics["zero_shot_shift"]["n"] == metrics["zero_shot_influence"]["n"] == 80
    assert metrics["zero_shot_influence"]["ranking"] == "higher influence = more likely label 1"
    for m in (metrics["zero_shot"], metrics["supervised"]["logistic"]):
        assert 0.0 <= m["auroc"] <= 1.0 and 0.0 <= m["auprc"] <= 1.0
    assert metrics["supervised"]["logistic"]["cv"] == 3
    assert_png(work / "results" / "plots" / "roc_curve.png")


@pytest.mark.timeout(240)
def test_variant_effect_gene_benchmark_runs(tiny_model: Path, tmp_path: Path) -> None:
    """The gene benchmark's report from a subset of the bundled E. coli set (10 SNVs per class, 30 uniform)."""
    vcf_in = DATA / "variants" / "ecoli536_genes_last5pct.vcf"
    labels_in = DATA / "variants" / "ecoli536_genes_last5pct.labels.tsv"
    with open(labels_in, newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    keep, seen = [], {}
    for r in rows:
        key = (r["consequence"], r["sample"])
        if seen.get(key, 0) < (30 if r["sample"] == "uniform" else 10):
            seen[key] = seen.get(key, 0) + 1
            keep.append(r)
    ids = {r["id"] for r in keep}
    (tmp_path / "in").mkdir()
    vcf, labels = tmp_path / "in" / "genes.vcf", tmp_path / "in" / "genes.labels.tsv"
    vcf.write_text("".join(line for line in open(vcf_in) if line.startswith("#") or line.split("\t")[2] in ids))
    with open(labels, "w", newline="") as fh:
        wr = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter="\t", lineterminator="\n")
        wr.writeheader()
        wr.writerows(keep)
    config = variant_config(
        tiny_model, vcf=vcf, labels=None, benchmark=str(labels), window=64, markov_orders=[2, 3],
        supervised={"classifiers": ["logistic"], "cv": 3, "window": 32},
        benchmark_relative=str(DATA / "genomes" / "klebsiella_pneumoniae_MGH78578.fa.gz"),
    )
    work = tmp_path / "work"
    assert_ok(run_snakemake("variant_effect", work, config, "--cores", "2"))
    res = work / "results" / "benchmark"
    metrics = json.loads((res / "metrics.json").read_text())
    # the shift and the influence come from the zero-shot TSV's columns (all benchmark variants are SNVs)
    assert set(metrics["scorers"]) == {"model", "model_shift", "model_influence", "markov_k2", "markov_k3", "codon_usage",
                                       "transversion_rule", "relative_species"}
    assert metrics["relative_species"]["fasta"].endswith("klebsiella_pneumoniae_MGH78578.fa.gz")
    assert 0 < metrics["relative_species"]["snvs_with_aligned_base"] <= metrics["relative_species"]["coding_snvs"]
    assert metrics["n_scored"]["model"] == metrics["n_scored"]["model_shift"] == metrics["n_scored"]["model_influence"] == len(keep)
    a = metrics["scorers"]["model"]["auroc_vs_synonymous"]["nonsense"]
    assert a["n_pos"] == 10 and a["ci"][0] <= a["auroc"] <= a["ci"][1]
    assert metrics["supervised"]["cv"] == 3
    report = (res / "report.md").read_text()
    assert "Zero-shot AUROC vs synonymous" in report and "| markov_k3 |" in report
    assert_png(res / "benchmark.png")


@pytest.mark.timeout(240)
def test_variant_effect_scores_with_a_relative_track_model(tmp_path: Path) -> None:
    """config key track: the score rule hands the fasta's relative track to a relative-track model."""
    import torch

    import genomamba

    torch.manual_seed(0)
    model = genomamba.GenomambaLM(genomamba.GenomambaConfig(d_model=16, n_layer=2, relative_track=True))
    model.save_pretrained(tmp_path / "track_model")
    (tmp_path / "in").mkdir()
    vcf = tmp_path / "in" / "few.vcf"
    lines = [line for line in open(DATA / "variants" / "ecoli536_genes_last5pct.vcf")]
    vcf.write_text("".join([line for line in lines if line.startswith("#")] + [line for line in lines if not line.startswith("#")][:6]))
    track = DATA / "tracks" / "escherichia_coli_536.relative_klebsiella_pneumoniae_MGH78578.fa.gz"
    config = variant_config(tmp_path / "track_model", vcf=vcf, labels=None, benchmark="", window=64, track=str(track))
    work = tmp_path / "work"
    assert_ok(run_snakemake("variant_effect", work, config, "--cores", "1", "--", "results/scores/zero_shot.tsv"))
    rows = list(csv.DictReader(open(work / "results" / "scores" / "zero_shot.tsv"), delimiter="\t"))
    assert len(rows) == 6 and {r["status"] for r in rows} == {"ok"}


def test_species_strain_split_windows(tiny_model: Path, tmp_path: Path) -> None:
    """split=strain: for K. pneumoniae and S. aureus the held-out strain's FASTA only feeds test windows."""
    work = tmp_path / "work"
    cfg = species_config(tiny_model, split="strain", window_lengths=[256], n_windows=8, n_test_windows=4)
    assert_ok(run_snakemake("species_classification", work, cfg, "--cores", "1", "--", "results/windows/256/split.json"))
    held_out = json.loads((work / "results" / "windows" / "256" / "split.json").read_text())["held_out"]
    assert held_out["Klebsiella pneumoniae"].startswith("strain ") and held_out["Staphylococcus aureus"].startswith("strain ")
    beds = {w: list(csv.reader(open(work / "results" / "windows" / "256" / f"{w}.bed"), delimiter="\t")) for w in ("train", "test")}
    for species in ("Klebsiella pneumoniae", "Staphylococcus aureus"):
        train = {r[7] for r in beds["train"] if r[6] == species}
        test = {r[7] for r in beds["test"] if r[6] == species}
        assert len(train) == 1 and len(test) == 1 and train != test


def test_species_workflow_holds_out_named_strains_it_never_trained_on(tmp_path: Path) -> None:
    """test_strains picks the held-out strains; a strain in the model's training-data record is
    refused with a one-line error on the console, one it never saw passes with the check recorded."""
    import torch

    from genomamba.data.fasta import GenomeFile
    from genomamba.data.intervals import Interval
    from genomamba.data.provenance import describe_training_data
    from genomamba.models import GenomambaConfig, GenomambaLM

    torch.manual_seed(0)
    model = GenomambaLM(GenomambaConfig(d_model=16, n_layer=1))
    hs11286 = GenomeFile(DATA / "genomes" / "klebsiella_pneumoniae_HS11286.fa.gz")
    model.training_data = describe_training_data([hs11286], [[Interval(c, 0, n) for c, n in hs11286.lengths.items()]])
    model.save_pretrained(tmp_path / "model")
    target = ("--cores", "1", "--", "results/windows/256/split.json")

    def config(klebsiella: str) -> dict:
        return species_config(tmp_path / "model", split="strain", window_lengths=[256], n_windows=8, n_test_windows=4,
                              test_strains={"Klebsiella pneumoniae": klebsiella, "Staphylococcus aureus": "N315"})

    proc = run_snakemake("species_classification", tmp_path / "seen", config("HS11286"), *target)
    assert proc.returncode != 0
    errors = [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "test sequence the model was trained on (Klebsiella pneumoniae HS11286: " in errors[0]
    assert "test_strains" in errors[0] and not (tmp_path / "seen" / "results" / "windows" / "256" / "split.json").exists()

    work = tmp_path / "unseen"
    assert_ok(run_snakemake("species_classification", work, config("MGH 78578"), *target))
    split = json.loads((work / "results" / "windows" / "256" / "split.json").read_text())
    assert split["held_out"]["Klebsiella pneumoniae"] == "strain MGH 78578" and split["held_out"]["Staphylococcus aureus"] == "strain N315"
    assert split["pretraining_overlap"]["recorded"] and split["pretraining_overlap"]["seen_bp"] == {}

    proc = run_snakemake("species_classification", tmp_path / "typo", config("MGH78578"), "-n")
    assert proc.returncode != 0
    assert ("config key 'test_strains': test_strains: 'Klebsiella pneumoniae' has no strain 'MGH78578' to hold out"
            in proc.stdout + proc.stderr)


# ----------------------------------------------------------------------------- bad configs
def test_missing_genome_fails_at_parse_time(tiny_model: Path, tmp_path: Path) -> None:
    missing = tmp_path / "genomes" / "not_there.fa.gz"
    table = tmp_path / "species.tsv"
    table.write_text(f"path\tspecies\n{ECOLI}\tEscherichia coli\n{missing}\tStaphylococcus aureus\n")
    proc = run_snakemake("species_classification", tmp_path / "work", species_config(tiny_model, genomes=str(table)), "-n")
    err = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "config key 'genomes': genome FASTA not found" in err and str(missing) in err and str(table) in err
    assert "fix the path or remove the line" in err


def test_missing_genome_in_inline_mapping(tiny_model: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nope.fa"
    cfg = species_config(tiny_model, genomes={str(ECOLI): "Escherichia coli", str(missing): "Other"})
    proc = run_snakemake("species_classification", tmp_path / "work", cfg, "-n")
    assert proc.returncode != 0
    assert f"config key 'genomes: {missing}': genome FASTA not found: {missing}" in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("workflow", "key", "expect"),
    [
        ("species_classification", "model", "config key 'model': model not found"),
        ("variant_effect", "vcf", "config key 'vcf': VCF not found"),
        ("variant_effect", "labels", "config key 'labels': labels TSV not found"),
        ("variant_effect", "benchmark_relative", "config key 'benchmark_relative': related-species FASTA not found"),
        ("variant_effect", "track", "config key 'track': relative-track FASTA not found"),
        ("pretrain", "fasta", "config key 'fasta': training FASTA not found"),
    ],
)
def test_missing_paths_fail_at_parse_time(workflow: str, key: str, expect: str, tiny_model: Path, tmp_path: Path) -> None:
    base = {"species_classification": species_config(tiny_model), "variant_effect": variant_config(tiny_model),
            "pretrain": pretrain_config()}[workflow]
    missing = tmp_path / "missing" / "thing"
    proc = run_snakemake(workflow, tmp_path / "work", {**base, key: str(missing)}, "-n")
    assert proc.returncode != 0
    assert expect in proc.stdout + proc.stderr and str(missing) in proc.stdout + proc.stderr


@pytest.mark.parametrize("workflow", ["species_classification", "variant_effect", "pretrain"])
def test_unknown_key_fails_with_its_name(workflow: str, tiny_model: Path, tmp_path: Path) -> None:
    proc = run_snakemake(workflow, tmp_path / "work", None, "-n", "--config", "window_lenghts=[256]")
    assert proc.returncode != 0
    assert "unknown config key(s) ['window_lenghts']" in proc.stdout + proc.stderr
    assert "allowed keys are" in proc.stdout + proc.stderr


def test_bad_value_fails_schema_validation(tiny_model: Path, tmp_path: Path) -> None:
    proc = run_snakemake("species_classification", tmp_path / "work", species_config(tiny_model, split="chromosome"), "-n")
    assert proc.returncode != 0
    assert "'chromosome' is not one of ['region', 'strain']" in proc.stdout + proc.stderr


def test_unknown_nested_key(tiny_model: Path, tmp_path: Path) -> None:
    cfg = species_config(tiny_model, embed={"threads": 1, "batchsize": 8})
    proc = run_snakemake("species_classification", tmp_path / "work", cfg, "-n")
    assert proc.returncode != 0
    assert "'batchsize' was unexpected" in proc.stdout + proc.stderr


# JSON-schema keywords the workflow schemas use; any other key in a property is a typo or a YAML
# slip (an unquoted comma in a flow mapping makes its tail a key of its own).
_SCHEMA_KEYWORDS = {"type", "description", "minLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                    "enum", "items", "minItems", "uniqueItems", "oneOf", "properties", "additionalProperties",
                    "minProperties", "propertyNames", "required", "pattern", "default"}


@pytest.mark.parametrize("workflow", ["species_classification", "variant_effect", "pretrain"])
def test_schemas_hold_no_stray_keys(workflow: str) -> None:
    schema = yaml.safe_load((WORKFLOWS / workflow / "schemas" / "config.schema.yaml").read_text())

    def stray(node: object, where: str) -> list[str]:
        if isinstance(node, list):
            return [s for i, x in enumerate(node) for s in stray(x, f"{where}[{i}]")]
        if not isinstance(node, dict):
            return []
        out = [f"{where}.{k}" for k in node if k not in _SCHEMA_KEYWORDS]
        for k, v in node.items():
            if k == "properties":
                out += [s for name, sub in v.items() for s in stray(sub, f"{where}.{name}")]
            elif k in ("items", "oneOf", "additionalProperties"):
                out += stray(v, f"{where}.{k}")
        return out

    assert stray({k: v for k, v in schema.items() if not k.startswith("$")}, workflow) == []


@pytest.mark.timeout(300)
def test_variant_effect_mutagenesis_rule(tiny_model: Path, tmp_path: Path) -> None:
    """mutagenesis.regions: the dry run plans one genomamba mutagenesis job per named region; a tiny
    region runs for real."""
    regions = {"tiny": "NC_008253.1:4700001-4700012", "other": "NC_008253.1:4800001-4800030"}
    config = variant_config(tiny_model, labels=None, window=32,
                            mutagenesis={"regions": regions, "window": 16, "genes": False})
    dry = run_snakemake("variant_effect", tmp_path / "dry", config, "-n")
    assert_ok(dry)
    assert dry.stdout.count("rule mutagenesis:") == 2 and "results/mutagenesis/other/heatmap.png" in dry.stdout
    work = tmp_path / "work"
    assert_ok(run_snakemake("variant_effect", work, config, "--cores", "1", "--",
                            "results/mutagenesis/tiny/scores.tsv"))
    rows = list(csv.DictReader(open(work / "results" / "mutagenesis" / "tiny" / "scores.tsv"), delimiter="\t"))
    assert len(rows) == 36 and {r["status"] for r in rows} == {"ok"}
    assert_png(work / "results" / "mutagenesis" / "tiny" / "heatmap.png")
    assert (work / "results" / "logs" / "mutagenesis" / "tiny.log").is_file()
