"""Supervised variant-effect CV and the rule-labelled benchmark generator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pysam
import pytest
import torch

from genomamba.data.fasta import GenomeFile
from genomamba.downstream.variants.repeat_benchmark import (
    generate_repeat_benchmark,
    read_labels,
    write_benchmark,
)
from genomamba.downstream.variants.supervised import finetune_variant_effect
from genomamba.errors import GenomambaError
from genomamba.models import GenomambaConfig, GenomambaLM


@pytest.fixture(scope="module")
def rand_genome(tmp_path_factory: pytest.TempPathFactory) -> GenomeFile:
    d = tmp_path_factory.mktemp("sup_fa")
    rng = np.random.default_rng(7)
    unit = "".join(rng.choice(list("ACGT"), 40))  # repeated 8x: high-copy k-mers for the benchmark
    body = "".join(rng.choice(list("ACGT"), 1500)) + unit * 8 + "".join(rng.choice(list("ACGT"), 1500))
    (d / "r.fa").write_text(f">c1\n{body}\n")
    return GenomeFile(d / "r.fa")


def test_supervised_auroc_on_separable_case(rand_genome: GenomeFile) -> None:
    torch.manual_seed(0)
    model = GenomambaLM(GenomambaConfig(d_model=16, n_layer=1, d_state=4))
    seq = rand_genome.fetch("c1", 0, 1500)
    rng = np.random.default_rng(0)
    pos = rng.choice(np.arange(100, 1400), 40, replace=False)
    # separable by construction: label 1 <=> ALT is G (never REF), label 0 <=> ALT is T
    items = []
    for i, p in enumerate(pos):
        ref = seq[p]
        alt = ("G" if ref != "G" else "C") if i % 2 else ("T" if ref != "T" else "A")
        items.append({"chrom": "c1", "pos": int(p) + 1, "ref": ref, "alt": alt, "label": int(i % 2 and alt == "G"), "bin": "b"})
    y = [x["label"] for x in items]
    res = finetune_variant_effect(model, items, rand_genome, features="diff", cv=3, window=32, add_zero_shot=True)
    assert res["n"] == 40 and res["n_pos"] == sum(y) and res["n_features"] == 17
    assert res["auroc"] > 0.8 and res["auprc"] > 0.6
    assert len(res["folds"]) == 3 and set(res["per_bin"]) == {"b"}
    res_c = finetune_variant_effect(model, items, rand_genome, features="concat", classifier="hgb", cv=3, window=32, add_zero_shot=False)
    assert res_c["n_features"] == 32 and 0.0 <= res_c["auroc"] <= 1.0
    bad = [dict(items[0], ref="N" if items[0]["ref"] != "N" else "A")] + items[1:]
    with pytest.raises(GenomambaError, match="cannot be used"):
        finetune_variant_effect(model, bad, rand_genome, cv=3, window=32)
    with pytest.raises(GenomambaError, match="features must be"):
        finetune_variant_effect(model, items, rand_genome, features="sum")


def test_benchmark_generator_deterministic_and_parses(rand_genome: GenomeFile, tmp_path: Path) -> None:
    a = generate_repeat_benchmark(rand_genome, n_per_class=10, k=8, min_copies=5, margin=50, seed=3)
    b = generate_repeat_benchmark(rand_genome, n_per_class=10, k=8, min_copies=5, margin=50, seed=3)
    c = generate_repeat_benchmark(rand_genome, n_per_class=10, k=8, min_copies=5, margin=50, seed=4)
    assert a == b and a != c
    assert sum(r["label"] for r in a) == 10
    assert all(r["copies"] >= 5 for r in a if r["label"] == 1) and all(r["copies"] == 1 for r in a if r["label"] == 0)
    seq = rand_genome.fetch("c1", 0, rand_genome.lengths["c1"])
    assert all(seq[r["pos"] - 1] == r["ref"] != r["alt"] for r in a)
    vcf, tsv = write_benchmark(a, rand_genome, tmp_path, "bench", "test")
    recs = list(pysam.VariantFile(str(vcf)))
    assert [(r.pos, r.ref, r.alts[0], r.info["LABEL"]) for r in recs] == [(x["pos"], x["ref"], x["alt"], x["label"]) for x in a]
    assert [x["label"] for x in read_labels(tsv)] == [x["label"] for x in a]


def test_bundled_benchmark_files_consistent(data_dir: Path) -> None:
    labels = read_labels(data_dir / "variants" / "ecoli536_repeat_snvs.labels.tsv")
    recs = list(pysam.VariantFile(str(data_dir / "variants" / "ecoli536_repeat_snvs.vcf")))
    assert len(labels) == len(recs) == 400 and sum(x["label"] for x in labels) == 200
    g = GenomeFile(data_dir / "genomes" / "escherichia_coli_536.fa.gz")
    for x in labels[:50]:
        assert g.fetch(x["chrom"], x["pos"] - 1, x["pos"]).upper() == x["ref"]


def _separable_labels(genome: GenomeFile, n: int = 30) -> list[dict]:
    """label 1 <=> ALT is G, label 0 <=> ALT is T (learnable from the ALT embedding)."""
    seq = genome.fetch("c1", 0, 1500)
    pos = np.random.default_rng(1).choice(np.arange(100, 1400), n, replace=False)
    rows = []
    for i, p in enumerate(pos):
        ref = seq[p]
        alt = ("G" if ref != "G" else "C") if i % 2 else ("T" if ref != "T" else "A")
        rows.append({"id": f"v{i}", "chrom": "c1", "pos": int(p) + 1, "ref": ref, "alt": alt,
                     "label": int(i % 2 and alt == "G"), "bin": "near" if p < 750 else "far"})
    return rows


def _write_tsv(path: Path, rows: list[dict]) -> Path:
    cols = list(rows[0])
    path.write_text("\t".join(cols) + "\n" + "".join("\t".join(str(r[c]) for c in cols) + "\n" for r in rows))
    return path


def test_finetune_cli_variant_effect_task(rand_genome: GenomeFile, tmp_path: Path) -> None:
    from genomamba.apps.cli import main

    torch.manual_seed(0)
    GenomambaLM(GenomambaConfig(d_model=16, n_layer=1, d_state=4)).save_pretrained(tmp_path / "model")
    rows = _separable_labels(rand_genome)
    labels = _write_tsv(tmp_path / "labels.tsv", rows)
    run_dir = tmp_path / "run"
    rc = main([
        "finetune", "task=variant_effect", f"model.path={tmp_path / 'model'}", f"run_dir={run_dir}",
        f"task.labels={labels}", f"task.head.fasta={rand_genome.path}", "task.head.cv=3",
        "task.head.window=32", "task.head.zero_shot_window=32",
    ])
    assert rc == 0
    import json

    m = json.loads((run_dir / "metrics.json").read_text())
    cv = m["cross_validated"]
    assert m["task"] == "variant_effect" and m["n_variants"] == len(rows)
    assert cv["auroc"] > 0.8 and set(cv["per_bin"]) == {"near", "far"} and len(cv["folds"]) == 3
    oof = (run_dir / "oof_predictions.tsv").read_text().splitlines()
    assert oof[0].split("\t")[-1] == "oof_probability" and len(oof) == len(rows) + 1
    # an unknown head option is a config error, not a traceback
    assert main(["finetune", "task=variant_effect", f"model.path={tmp_path / 'model'}", "task.head.nope=1"]) == 2


def test_read_labelled_variants_errors_name_file_and_line(tmp_path: Path) -> None:
    from genomamba.downstream.variants.labels import read_labelled_variants
    from genomamba.errors import VCFError

    good = {"chrom": "c1", "pos": 5, "ref": "A", "alt": "G", "label": 1}
    ok = read_labelled_variants(_write_tsv(tmp_path / "ok.tsv", [good, dict(good, pos=6, label=0)]))
    assert [r["label"] for r in ok] == [1, 0] and ok[0]["pos"] == 5
    with pytest.raises(VCFError, match=r"twice\.tsv: lines 2 and 3 both label c1:5 A>G"):  # labelled 1 and 0
        read_labelled_variants(_write_tsv(tmp_path / "twice.tsv", [good, dict(good, label=0)]))
    with pytest.raises(VCFError, match=r"bad\.tsv, line 3: label '2' is not 0 or 1"):
        read_labelled_variants(_write_tsv(tmp_path / "bad.tsv", [good, dict(good, pos=6, label=2)]))
    with pytest.raises(VCFError, match=r"nonint\.tsv, line 2: pos 'x'"):
        read_labelled_variants(_write_tsv(tmp_path / "nonint.tsv", [dict(good, pos="x")]))
    (tmp_path / "nocol.tsv").write_text("chrom\tpos\tref\talt\nc1\t5\tA\tG\n")
    with pytest.raises(VCFError, match=r"lacks column\(s\) \['label'\]"):
        read_labelled_variants(tmp_path / "nocol.tsv")
    with pytest.raises(VCFError, match="not found"):
        read_labelled_variants(tmp_path / "absent.tsv")
