"""Variant scoring with a relative-track model: the track is cut with each window and flipped with
it, and the commands refuse a missing or unwanted track before any work."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from genomamba.data.fasta import GenomeFile
from genomamba.downstream.variants.scoring import score_variants
from genomamba.downstream.variants.vcf import Variant
from genomamba.errors import ConfigError
from genomamba.models import GenomambaConfig, GenomambaLM

_COMP = str.maketrans("ACGTN", "TGCAN")


def random_dna(n: int, seed: int, alphabet: str = "ACGT") -> str:
    return "".join(np.random.default_rng(seed).choice(list(alphabet), n))


def write_fasta(path, records: dict[str, str]):
    path.write_text("".join(f">{name}\n{seq}\n" for name, seq in records.items()))
    return path


def _revcomp(s: str) -> str:
    return s.translate(_COMP)[::-1]


@pytest.fixture(scope="module")
def track_model(tmp_path_factory) -> GenomambaLM:
    torch.manual_seed(1)
    model = GenomambaLM(GenomambaConfig(d_model=16, n_layer=2, relative_track=True))
    with torch.no_grad():
        model.backbone.track_embeddings.weight.normal_()  # a trained model's table is not zero
    return model.eval()


# window: an odd window is centred exactly (31 bp each side), so the two windows mirror each other;
# tiled: with tiles that divide the contig, the reverse strand's tiles are the forward strand's.
@pytest.mark.parametrize(("method", "window"), [("window", 63), ("tiled", 60)])
def test_the_track_is_flipped_with_the_window(tmp_path, track_model, method, window) -> None:
    """Scoring on the reverse-complemented genome and track swaps score_fwd and score_rev: each
    strand's window reads the track bases of its own positions (and the one after them)."""
    seq, trk = random_dna(300, seed=5), random_dna(300, seed=6, alphabet="ACGTN")
    g = write_fasta(tmp_path / "g.fa", {"r": seq})
    t = write_fasta(tmp_path / "t.fa", {"r": trk})
    g_rc = write_fasta(tmp_path / "g_rc.fa", {"r": _revcomp(seq)})
    t_rc = write_fasta(tmp_path / "t_rc.fa", {"r": _revcomp(trk)})
    pos = 151  # 1-based
    alt = "ACGT"[("ACGT".index(seq[pos - 1]) + 1) % 4]
    mirrored = Variant("r", 300 - pos + 1, _revcomp(seq[pos - 1]), _revcomp(alt))
    fwd = score_variants(track_model, g, [Variant("r", pos, seq[pos - 1], alt)], window=window, track=t,
                         method=method)[0]
    rev = score_variants(track_model, g_rc, [mirrored], window=window, track=t_rc, method=method)[0]
    assert fwd["status"] == rev["status"] == "ok"
    np.testing.assert_allclose([fwd["score_fwd"], fwd["score_rev"]], [rev["score_rev"], rev["score_fwd"]], atol=1e-5)
    assert abs(fwd["score_fwd"] - fwd["score_rev"]) > 1e-4  # the check is not vacuous
    # and the track matters: another track gives another score
    t2 = write_fasta(tmp_path / "t2.fa", {"r": random_dna(300, seed=7)})
    other = score_variants(track_model, g, [Variant("r", pos, seq[pos - 1], alt)], window=window, track=t2,
                           method=method)[0]
    assert abs(other["score"] - fwd["score"]) > 1e-4


def test_score_variants_needs_the_track_of_a_track_model(tmp_path, track_model) -> None:
    g = write_fasta(tmp_path / "g.fa", {"r": random_dna(200, seed=1)})
    v = [Variant("r", 100, "A", "C")]
    with pytest.raises(ConfigError, match="reads a relative track"):
        score_variants(track_model, g, v, window=32)
    with pytest.raises(ConfigError, match="does not read a relative track"):
        score_variants(GenomambaLM(GenomambaConfig(d_model=16, n_layer=1)), g, v, window=32, track=g)


def test_cli_refuses_before_any_output(tmp_path, track_model) -> None:
    from genomamba.apps.cli import main

    seq = random_dna(400, seed=2)
    g = write_fasta(tmp_path / "g.fa", {"r": seq})
    track_model.save_pretrained(tmp_path / "m")
    (tmp_path / "in.vcf").write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                                     f"r\t200\t.\t{seq[199]}\t{'A' if seq[199] != 'A' else 'C'}\t.\t.\t.\n")
    base = ["score-variants", "--model", str(tmp_path / "m"), "--fasta", str(g), "--vcf", str(tmp_path / "in.vcf"),
            "--out", str(tmp_path / "out.tsv"), "--window", "64"]
    assert main(base) == 2
    assert not (tmp_path / "out.tsv").exists()
    bad = write_fasta(tmp_path / "bad.fa", {"r": seq[:-1]})
    assert main([*base, "--track", str(bad)]) == 2
    assert not (tmp_path / "out.tsv").exists()
    t = write_fasta(tmp_path / "t.fa", {"r": random_dna(400, seed=3, alphabet="ACGTN")})
    assert main([*base, "--track", str(t)]) == 0
    rows = (tmp_path / "out.tsv").read_text().splitlines()
    assert len(rows) == 2 and rows[1].split("\t")[10] == "ok"


def test_evaluate_needs_the_track(tmp_path, track_model, capsys) -> None:
    from genomamba.apps.cli import main

    g = write_fasta(tmp_path / "g.fa", {"r": random_dna(4000, seed=2)})
    track_model.save_pretrained(tmp_path / "m")
    assert main(["evaluate", str(tmp_path / "m"), "--fasta", str(g), "--window-length", "128"]) == 2
    assert "pass --track" in capsys.readouterr().err
    t = write_fasta(tmp_path / "t.fa", {"r": random_dna(4000, seed=3, alphabet="ACGTN")})
    assert main(["evaluate", str(tmp_path / "m"), "--fasta", str(g), "--window-length", "128", "--track", str(t),
                 "--max-windows", "4", "--orders", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["relative_track"] and out["track"] == str(t) and np.isfinite(out["model"]["bits_per_base"])
    assert GenomeFile(t).lengths == {"r": 4000}


def test_make_relative_track_cli_on_a_genome_slice(tmp_path, capsys) -> None:
    """A 30 kb slice of E. coli 536 and, as its relative, the same slice with transitions planted at
    two coding third positions: the track FASTA has the genome's record, reads the planted bases
    there and the genome's own bases at every other aligned position; the genome as its own
    relative is refused with nothing written."""
    from genomamba.apps.cli import main
    from genomamba.data.tracks import open_track, track_codes
    from genomamba.downstream.genes.consequences import call_genes

    repo = Path(__file__).resolve().parents[2]
    ecoli = GenomeFile(repo / "data" / "genomes" / "escherichia_coli_536.fa.gz")
    seq = ecoli.fetch(next(iter(ecoli.lengths)), 2_000_000, 2_030_000).upper()
    genome_fa = write_fasta(tmp_path / "g.fa", {"slice": seq})
    genes = [g for g in call_genes(GenomeFile(genome_fa)) if not g.partial and g.strand > 0]
    planted = [genes[0].start + 3 * 10 + 2, genes[1].start + 3 * 12 + 2]  # third positions, plus strand
    rel = list(seq)
    for pos in planted:
        rel[pos] = {"A": "G", "G": "A", "C": "T", "T": "C"}[seq[pos]]
    relative_fa = write_fasta(tmp_path / "r.fa", {"other": "".join(rel)})
    out = tmp_path / "out" / "track.fa.gz"
    assert main(["make-relative-track", "--fasta", str(genome_fa), "--relative", str(genome_fa), "--out", str(out)]) == 2
    assert "is the genome of --fasta itself" in capsys.readouterr().err and not out.exists()
    assert main(["make-relative-track", "--fasta", str(genome_fa), "--relative", str(relative_fa), "--out", str(out)]) == 0
    assert "bases aligned" in capsys.readouterr().err
    track = open_track(out, GenomeFile(genome_fa))
    codes = track_codes(track, "slice", 0, len(seq))
    own = np.array(["ACGT".index(b) for b in seq])
    assert [codes[p] for p in planted] == ["ACGT".index(rel[p]) for p in planted]
    aligned = codes < 4
    aligned[planted] = False
    assert aligned.sum() > 0.5 * len(seq) and (codes[aligned] == own[aligned]).all()
    with gzip.open(out, "rt") as fh:  # BGZF reads as gzip; the header names the relative
        assert fh.readline().startswith(">slice relative_track relative=r.fa genes=")


def test_variant_benchmark_refuses_a_missing_or_misplaced_track_before_any_output(tmp_path, track_model, capsys) -> None:
    from genomamba.apps.cli import main

    repo = Path(__file__).resolve().parents[2]
    track_model.save_pretrained(tmp_path / "m")
    base = ["variant-benchmark", "--fasta", str(repo / "data/genomes/escherichia_coli_536.fa.gz"),
            "--benchmark", str(repo / "data/variants/ecoli536_genes_last5pct"), "--out-dir", str(tmp_path / "out")]
    assert main([*base, "--model", str(tmp_path / "m")]) == 2
    assert "reads a relative track" in capsys.readouterr().err
    track = repo / "data/tracks/klebsiella_pneumoniae_HS11286.relative_escherichia_coli_536.fa.gz"
    assert main([*base, "--model", str(tmp_path / "m"), "--track", str(track)]) == 2  # another genome's track
    assert "has no record" in capsys.readouterr().err
    assert main([*base, "--track", str(track)]) == 2  # no model to read it
    assert "give --model and no --scores" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
