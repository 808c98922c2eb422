"""``genomamba mutagenesis``: equals score-variants on the same SNVs, writes readable tables,
bigWig / bedGraph tracks and a heatmap, refuses bad regions before writing, resumes."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from genomamba.apps.cli import main as cli
from genomamba.data.fasta import GenomeFile
from genomamba.downstream.variants import mutagenesis as mg
from genomamba.models import GenomambaConfig, GenomambaLM

SEQ_LEN = 400


def _dna(n: int, seed: int) -> str:
    return "".join(np.random.default_rng(seed).choice(list("ACGT"), n))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("mutagenesis")
    seq = _dna(SEQ_LEN, 7)
    seq = seq[:360] + "NNNNN" + seq[365:]  # an N run: no SNVs there
    (d / "g.fa").write_text(f">c1\n{seq}\n>gap\n{'N' * 50}\n")
    torch.manual_seed(0)
    model = GenomambaLM(GenomambaConfig(d_model=16, n_layer=2, d_state=4, attn_layers=[1], attn_window=16, attn_heads=2))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    model.save_pretrained(d / "model")
    return {"dir": d, "fasta": d / "g.fa", "model": d / "model", "seq": seq}  # type: ignore[dict-item]


def _tsv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def test_mutagenesis_equals_score_variants_and_writes_readable_tracks(files, tmp_path: Path) -> None:
    import pyarrow.parquet as pq
    import pyBigWig

    out = tmp_path / "mg"
    rc = cli(["mutagenesis", "--model", str(files["model"]), "--fasta", str(files["fasta"]), "--region", "c1:51-350",
              "--out-dir", str(out), "--window", "32", "--batch-size", "2048"])
    assert rc == 0
    rows = _tsv(out / "scores.tsv")
    seq = files["seq"]
    acgt = [i for i in range(50, 350) if seq[i] in "ACGT"]
    assert len(rows) == 3 * len(acgt) == 900
    assert all(r["status"] == "ok" for r in rows)
    # score-variants on a VCF of the same SNVs gives the same scores
    vcf = tmp_path / "all.vcf"
    head = "##fileformat=VCFv4.2\n##contig=<ID=c1,length=400>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    vcf.write_text(head + "".join(f"c1\t{r['pos']}\t.\t{r['ref']}\t{r['alt']}\t.\t.\t.\n" for r in rows))
    assert cli(["score-variants", "--model", str(files["model"]), "--fasta", str(files["fasta"]), "--vcf", str(vcf),
                "--out", str(tmp_path / "sv.tsv"), "--window", "32", "--batch-size", "2048"]) == 0
    sv = _tsv(tmp_path / "sv.tsv")
    for column in ("score", "score_fwd", "score_rev", "shift", "influence"):
        a = np.array([float(r[column]) for r in rows])
        b = np.array([float(r[column]) for r in sv])
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    assert [(r["pos"], r["alt"]) for r in rows] == [(r["pos"], r["alt"]) for r in sv]
    # Parquet: the same table, typed
    table = pq.read_table(out / "scores.parquet").to_pydict()
    assert table["pos"][:3] == [int(r["pos"]) for r in rows[:3]]
    np.testing.assert_allclose(table["score"], [float(r["score"]) for r in rows], rtol=1e-5)
    # per-base tracks: bigWig reads back what the bedGraph holds, the mean / min over the 3 ALTs
    llr = np.array([float(r["score"]) for r in rows]).reshape(-1, 3)
    bw = pyBigWig.open(str(out / "llr_mean.bw"))
    assert bw.chroms() == {"c1": SEQ_LEN}
    got = np.array(bw.values("c1", 50, 350), dtype=np.float64)
    bw.close()
    want = np.full(300, np.nan)
    want[np.array(acgt) - 50] = llr.mean(1)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))  # N bases have no value
    np.testing.assert_allclose(got[~np.isnan(got)], want[~np.isnan(want)], rtol=1e-5, atol=1e-5)
    lines = (out / "llr_min.bedGraph").read_text().splitlines()
    assert lines[0].startswith("track type=bedGraph") and len(lines) == 1 + len(acgt)
    chrom, s, e, v = lines[1].split("\t")
    assert (chrom, int(s), int(e)) == ("c1", 50, 51) and float(v) == pytest.approx(llr[0].min(), abs=1e-5)
    for name in mg.SUMMARIES:
        assert (out / f"{name}.bw").stat().st_size > 0 and (out / f"{name}.bedGraph").is_file()
    assert (out / "heatmap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (out / ".mutagenesis-partial").exists()  # the scratch folder goes once the outputs are written


def test_heatmap_draws_genes_with_codon_positions(tmp_path: Path) -> None:
    from genomamba.downstream.genes.consequences import Gene
    from genomamba.downstream.variants.heatmap import plot_mutagenesis

    region = mg.Region("c1", 100, 160)
    rows = [{"pos": p, "ref": "A", "alt": alt, "status": "ok", "score": -float(p % 7)}
            for p in range(101, 161) for alt in "CGT"]
    genes = [Gene("c1_1", "c1", 90, 150, 1), Gene("c1_2", "c1", 130, 400, -1)]
    plot_mutagenesis(rows, region, genes, tmp_path / "h.png")
    assert (tmp_path / "h.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    ("region", "message"),
    [("c1:300-401", "past the end of c1"), ("gap:1-50", "no sequence"), ("c1:10", "expected CHROM:START-END"),
     ("chrX:1-10", "chrX"), ("c1:20-10", "END >= START")],
)
def test_bad_regions_are_refused_before_anything_is_written(files, tmp_path: Path, capsys, region, message) -> None:
    out = tmp_path / "never"
    rc = cli(["mutagenesis", "--model", str(files["model"]), "--fasta", str(files["fasta"]), "--region", region,
              "--out-dir", str(out), "--window", "32"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and message in err[0] and err[0].startswith("genomamba: error:")
    assert not out.exists()


def test_an_interrupted_run_resumes_from_its_finished_blocks(files, tmp_path: Path, monkeypatch) -> None:
    genome = GenomeFile(files["fasta"])
    model = GenomambaLM.load(files["model"]).eval()
    region = mg.parse_region("c1:201-400", genome)
    key = mg.run_key("m", genome, region, 16, "tiled", None)
    partial = mg.PartialResults(tmp_path / "scratch", key)
    full = mg.saturation_mutagenesis(model, genome, region, window=16, partial=partial, tiles_per_block=4,
                                     batch_size=2048)
    assert len(full) == 3 * (200 - 5)  # no SNVs in the N run
    blocks = sorted((tmp_path / "scratch").glob("block_*.npz"))
    assert len(blocks) == 4  # 64-bp blocks over 201..400
    # "interrupted": two blocks never finished; a rerun scores those two only, and the same numbers
    blocks[1].unlink()
    blocks[3].unlink()
    calls = []
    real = mg.score_variants
    monkeypatch.setattr(mg, "score_variants", lambda *a, **k: calls.append(1) or real(*a, **k))
    again = mg.saturation_mutagenesis(model, genome, region, window=16, batch_size=2048,
                                      partial=mg.PartialResults(tmp_path / "scratch", key), tiles_per_block=4)
    assert len(calls) == 2
    assert [r["score"] for r in again] == [r["score"] for r in full]
    # a folder left by another run (other window, model, region...) is not reused
    mg.PartialResults(tmp_path / "scratch", {**key, "window": 32})
    assert not list((tmp_path / "scratch").glob("block_*.npz"))
