"""Zero-shot variant scoring: VCF handling, causal LLR sign, GPN masked score, strand symmetry."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pysam
import pytest
import torch
import torch.nn.functional as F

from genomamba.apps.score_variants import main as score_variants_main
from genomamba.data.fasta import GenomeFile
from genomamba.data.tokenizer import DNATokenizer, reverse_complement_str
from genomamba.downstream.variants.scoring import OUTPUT_COLUMNS, score_variants, write_scores_tsv
from genomamba.downstream.variants.vcf import Variant, read_vcf
from genomamba.errors import VCFError
from genomamba.models import GenomambaConfig, GenomambaLM

TOK = DNATokenizer()
MOTIF = "ACGTTGCAAGCTTCGA"  # an arbitrary fixed 16-mer, tiled to build the repeat
N_COPIES = 40
CORRUPT = 20 * 16 + 5  # 0-based position in contig "motif" where the reference deviates from the motif


def _vcf(path: Path, records: list[str], contigs: dict[str, int]) -> Path:
    head = ["##fileformat=VCFv4.2", *(f"##contig=<ID={c},length={n}>" for c, n in contigs.items())]
    head.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO")
    path.write_text("\n".join(head + records) + "\n")
    return path


def _motif_seq() -> str:
    s = list(MOTIF * N_COPIES)
    s[CORRUPT] = "A" if s[CORRUPT] != "A" else "C"  # one deviation from the repeat
    return "".join(s)


@pytest.fixture(scope="module")
def genome(tmp_path_factory: pytest.TempPathFactory) -> GenomeFile:
    d = tmp_path_factory.mktemp("var_fa")
    rng = np.random.default_rng(1)
    rand = "".join(rng.choice(list("ACGT"), 300))
    (d / "g.fa").write_text(f">motif\n{_motif_seq()}\n>rand\n{rand}\n")
    return GenomeFile(d / "g.fa")


@pytest.fixture(scope="module")
def motif_lm() -> GenomambaLM:
    """Tiny causal model fitted (both strands) to the repeated motif: ~100 Adam steps, ~2 s."""
    torch.manual_seed(0)
    model = GenomambaLM(GenomambaConfig(d_model=32, n_layer=2, d_state=8))
    fwd = TOK.encode(MOTIF * 8)  # (128,)
    rev = TOK.encode(reverse_complement_str(MOTIF * 8))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    for _ in range(100):
        starts = torch.randint(0, 16, (8,), generator=g)
        src = [fwd if i % 2 else rev for i in range(8)]
        batch = torch.stack([torch.from_numpy(src[i][s : s + 64].copy()) for i, s in enumerate(starts.tolist())])
        logits = model(batch).logits[:, :-1]
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.3, f"motif model did not fit (loss {loss.item():.3f})"
    return model.eval()


def _snv_records(seq: str, positions: list[int], to_motif: bool) -> list[str]:
    recs = []
    for p in positions:
        ref = seq[p]
        alt = MOTIF[p % 16] if to_motif else "ACGT"[("ACGT".index(ref) + 1) % 4]
        recs.append(f"motif\t{p + 1}\t.\t{ref}\t{alt}\t.\t.\t.")
    return recs


# -- causal LLR ----------------------------------------------------------------------------
def test_causal_llr_sign_on_repeated_motif(motif_lm: GenomambaLM, genome: GenomeFile, tmp_path: Path) -> None:
    seq = _motif_seq()
    breaking = [200, 257, 403, 450]
    recs = _snv_records(seq, breaking, to_motif=False) + _snv_records(seq, [CORRUPT], to_motif=True)
    vcf = _vcf(tmp_path / "m.vcf", recs, {"motif": len(seq), "rand": 300})
    rows = score_variants(motif_lm, genome, vcf, window=64, batch_size=4)
    assert [r["status"] for r in rows] == ["ok"] * 5
    brk = np.array([r["score"] for r in rows[:4]])
    restore = rows[4]["score"]
    # breaking the repeat costs several nats on both strands; restoring it gains
    assert (brk < -2.0).all(), brk
    assert all(r["score_fwd"] < -2 and r["score_rev"] < -2 for r in rows[:4])
    assert restore > 1.0 > brk.max()
    assert all(math.isclose(r["score"], (r["score_fwd"] + r["score_rev"]) / 2) for r in rows)


def test_causal_llr_equals_direct_window_likelihoods(motif_lm: GenomambaLM, genome: GenomeFile) -> None:
    """score_fwd is log P(alt window) - log P(ref window) of the centred windows computed by hand;
    an indel too."""
    seq = _motif_seq()
    v_snv = Variant("motif", 301, seq[300], "T" if seq[300] != "T" else "G")
    v_del = Variant("motif", 311, seq[310:313], seq[310])
    rows = score_variants(motif_lm, genome, [v_snv, v_del], window=32, method="window")

    def ll(s: str) -> float:
        ids = torch.from_numpy(TOK.encode(s))[None]
        lp = F.log_softmax(motif_lm(ids).logits[0, :-1].double(), -1)
        return float(lp.gather(-1, ids[0, 1:, None]).sum())

    for v, row in zip([v_snv, v_del], rows, strict=True):
        s = v.start + len(v.ref) // 2 - 16
        ref_w = seq[s : s + 32]
        off = v.start - s
        alt_w = ref_w[:off] + v.alt + ref_w[off + len(v.ref) :]
        with torch.no_grad():
            want_f = ll(alt_w) - ll(ref_w)
            want_r = ll(reverse_complement_str(alt_w)) - ll(reverse_complement_str(ref_w))
        assert row["status"] == "ok"
        assert row["score_fwd"] == pytest.approx(want_f, abs=1e-3)
        assert row["score_rev"] == pytest.approx(want_r, abs=1e-3)


def test_shift_is_the_largest_hidden_state_distance_on_either_strand(motif_lm: GenomambaLM, genome: GenomeFile) -> None:
    """shift = max over positions and both strands of ||h_alt - h_ref||, computed by hand for SNVs
    (several in one padded batch); nan for an indel, whose windows do not align."""
    seq = _motif_seq()
    snvs = [Variant("motif", p, seq[p - 1], "T" if seq[p - 1] != "T" else "G") for p in (40, 301, 590)]
    v_del = Variant("motif", 311, seq[310:313], seq[310])
    rows = score_variants(motif_lm, genome, [*snvs, v_del], window=32, batch_size=4, method="window")

    def hidden(s: str) -> torch.Tensor:
        return motif_lm(torch.from_numpy(TOK.encode(s))[None]).hidden_states[0]

    for v, row in zip(snvs, rows, strict=False):
        s = v.start - 16
        ref_w = seq[s : s + 32]
        alt_w = ref_w[: v.start - s] + v.alt + ref_w[v.start - s + 1 :]
        with torch.no_grad():
            fwd = (hidden(alt_w) - hidden(ref_w)).norm(dim=-1)
            rev = (hidden(reverse_complement_str(alt_w)) - hidden(reverse_complement_str(ref_w))).norm(dim=-1)
        assert fwd[: v.start - s].max() < 1e-5 < fwd.max()  # causal: positions before the SNV do not move
        assert row["shift"] == pytest.approx(float(max(fwd.max(), rev.max())), rel=1e-4)
    assert math.isnan(rows[3]["shift"]) and rows[3]["status"] == "ok" and math.isfinite(rows[3]["score"])


def test_influence_is_the_kl_of_next_base_predictions_after_the_snv(motif_lm: GenomambaLM, genome: GenomeFile) -> None:
    """influence = mean over strands of sum_t KL(p_ref,t || p_alt,t) over A, C, G, T, computed by
    hand on separate (unbatched) passes for SNVs, one window clipped at the contig start; nan for
    an indel, whose windows do not align."""
    seq = _motif_seq()
    snvs = [Variant("motif", p, seq[p - 1], "T" if seq[p - 1] != "T" else "G") for p in (5, 301, 590)]
    v_del = Variant("motif", 311, seq[310:313], seq[310])
    rows = score_variants(motif_lm, genome, [*snvs, v_del], window=32, batch_size=4, method="window")

    def next_base_logp(s: str) -> torch.Tensor:  # (L - 1, 4): row t predicts base t + 1
        return F.log_softmax(motif_lm(torch.from_numpy(TOK.encode(s))[None]).logits[0, :-1, :4].double(), -1)

    for v, row in zip(snvs, rows, strict=False):
        s = min(max(0, v.start - 16), len(seq) - 32)
        ref_w = seq[s : s + 32]
        alt_w = ref_w[: v.start - s] + v.alt + ref_w[v.start - s + 1 :]
        per_strand = []
        with torch.no_grad():
            for r, a in ((ref_w, alt_w), (reverse_complement_str(ref_w), reverse_complement_str(alt_w))):
                lr, la = next_base_logp(r), next_base_logp(a)
                kl = (lr.exp() * (lr - la)).sum(-1)
                off = next(i for i in range(32) if r[i] != a[i])  # the SNV; row off - 1 predicts it
                assert kl[:off].abs().max() < 1e-5  # causal: predictions up to the SNV itself do not change
                per_strand.append(float(kl[off:].sum()))
        assert row["influence"] == pytest.approx(sum(per_strand) / 2, rel=1e-3, abs=1e-6)
        assert row["influence"] > 0
    assert math.isnan(rows[3]["influence"]) and rows[3]["status"] == "ok"


# -- masked (GPN) score --------------------------------------------------------------------
def test_masked_score_is_masked_logit_difference(genome: GenomeFile) -> None:
    torch.manual_seed(3)
    model = GenomambaLM(GenomambaConfig(d_model=32, n_layer=2, d_state=8, bidirectional=True)).eval()
    seq = _motif_seq()
    vs = [Variant("motif", p + 1, seq[p], "G" if seq[p] != "G" else "T") for p in (100, 333, 600)]
    vs.append(Variant("motif", 5, seq[4], "A" if seq[4] != "A" else "C"))  # window clipped at the contig start
    vs.append(Variant("motif", 50, seq[49:51], seq[49]))  # deletion: not defined for the masked score
    rows = score_variants(model, genome, vs, window=48)
    assert [r["status"] for r in rows] == ["ok"] * 4 + ["unsupported"]
    assert "GPN" in rows[4]["message"] and math.isnan(rows[4]["score"])
    for v, row in zip(vs[:4], rows[:4], strict=True):
        s = min(max(0, v.start - 24), len(seq) - 48)
        ids = torch.from_numpy(TOK.encode(seq[s : s + 48]))[None]
        ids[0, v.start - s] = TOK.mask_id
        with torch.no_grad():
            lp = F.log_softmax(model(ids).logits[0, v.start - s], -1)
        want = float(lp[TOK.encode(v.alt)[0]] - lp[TOK.encode(v.ref)[0]])
        assert row["score_fwd"] == pytest.approx(want, abs=1e-4)
        assert row["score_fwd"] != pytest.approx(row["score_rev"], abs=1e-4)  # plain BiMamba is not RC-symmetric
        # the shift of a masked model comes from its unmasked REF and ALT windows
        alt = seq[s : v.start] + v.alt + seq[v.start + 1 : s + 48]
        with torch.no_grad():
            h_ref, h_alt = (model(torch.from_numpy(TOK.encode(w))[None]).hidden_states[0] for w in (seq[s : s + 48], alt))
        assert (h_alt - h_ref).norm(dim=-1)[: v.start - s].max() > 1e-3  # a bidirectional model moves both sides
        assert row["shift"] >= float((h_alt - h_ref).norm(dim=-1).max()) - 1e-4  # forward strand; max with reverse
        assert math.isnan(row["influence"])  # defined for causal models only


def test_rc_equivariant_model_strands_agree(genome: GenomeFile) -> None:
    torch.manual_seed(4)
    model = GenomambaLM(GenomambaConfig(d_model=32, n_layer=2, d_state=8, bidirectional=True, rc_equivariant=True))
    seq = _motif_seq()
    vs = [Variant("motif", p + 1, seq[p], "C" if seq[p] != "C" else "A") for p in (77, 250, 431, 611)]
    rows = score_variants(model, genome, vs, window=40)
    f = np.array([r["score_fwd"] for r in rows])
    r = np.array([r["score_rev"] for r in rows])
    assert np.abs(f).max() > 1e-3  # non-trivial scores
    np.testing.assert_allclose(f, r, atol=1e-4)


# -- VCF problems --------------------------------------------------------------------------
def test_problem_records_flagged_not_dropped(motif_lm: GenomambaLM, data_dir: Path) -> None:
    vcf = data_dir / "variants" / "demo_problems.vcf"
    n_alts = sum(len(r.alts or (".",)) for r in pysam.VariantFile(str(vcf)))
    rows = score_variants(motif_lm, data_dir / "genomes" / "escherichia_coli_536.fa.gz", vcf, window=32)
    assert len(rows) == n_alts == 10
    by_id = {}
    for r in rows:
        by_id.setdefault(r["id"], []).append(r)
    assert by_id["ref_mismatch"][0]["status"] == "ref_mismatch"
    msg = by_id["ref_mismatch"][0]["message"]
    assert "record 2" in msg and "line 12" in msg and "'T'" in msg
    assert by_id["unknown_contig"][0]["status"] == "unknown_contig" and "chrZ" in by_id["unknown_contig"][0]["message"]
    for k in ("symbolic_del", "breakend", "long_del"):
        assert by_id[k][0]["status"] == "unsupported" and by_id[k][0]["message"]
        assert math.isnan(by_id[k][0]["score"])
    for k in ("snv_ok", "del3", "ins3"):
        assert by_id[k][0]["status"] == "ok" and math.isfinite(by_id[k][0]["score"])
    assert [r["alt"] for r in by_id["multiallelic"]] == ["A", "C"]


def test_malformed_line_names_file_record_and_line(tmp_path: Path) -> None:
    vcf = _vcf(tmp_path / "bad.vcf", ["motif\t5\t.\tA\tG\t.\t.\t.", "motif\tx7\t.\tA\tG\t.\t.\t."], {"motif": 640})
    with pytest.raises(VCFError) as ei:
        read_vcf(vcf)
    msg = str(ei.value)
    assert "bad.vcf" in msg and "record 2" in msg and "line 5" in msg and "'x7'" in msg
    short = _vcf(tmp_path / "short.vcf", ["motif\t5\t.\tA"], {"motif": 640})
    with pytest.raises(VCFError, match=r"short.vcf: malformed record 1 \(line 4\): 4 tab-separated columns"):
        read_vcf(short)
    (tmp_path / "nohdr.vcf").write_text("motif\t5\t.\tA\tG\t.\t.\t.\n")
    with pytest.raises(VCFError, match="nohdr.vcf: not a readable VCF"):
        read_vcf(tmp_path / "nohdr.vcf")
    with pytest.raises(VCFError, match="not found"):
        read_vcf(tmp_path / "missing.vcf")


def test_bgzipped_vcf_and_cli(motif_lm: GenomambaLM, genome: GenomeFile, tmp_path: Path) -> None:
    seq = _motif_seq()
    plain = _vcf(tmp_path / "v.vcf", _snv_records(seq, [120, 500], to_motif=False), {"motif": len(seq), "rand": 300})
    pysam.tabix_compress(str(plain), str(tmp_path / "v.vcf.gz"))  # BGZF, as bgzip writes it
    assert [v.pos for v in read_vcf(tmp_path / "v.vcf.gz")] == [121, 501]
    motif_lm.save_pretrained(tmp_path / "m")
    out = tmp_path / "s.tsv"
    rc = score_variants_main(
        ["--model", str(tmp_path / "m"), "--fasta", str(genome.path), "--vcf", str(tmp_path / "v.vcf.gz"),
         "--out", str(out), "--window", "64", "--device", "cpu"]
    )
    assert rc == 0
    lines = out.read_text().splitlines()
    assert lines[0].split("\t") == list(OUTPUT_COLUMNS) and len(lines) == 3
    assert all(float(line.split("\t")[5]) < -2 for line in lines[1:])
    bad = score_variants_main(["--model", str(tmp_path / "m"), "--fasta", str(genome.path), "--vcf", str(tmp_path / "nope.vcf"), "--out", str(out)])
    assert bad == 2


def test_write_scores_tsv_blank_for_unscored(tmp_path: Path) -> None:
    row = dict.fromkeys(OUTPUT_COLUMNS, "x") | {"pos": 3, "score": math.nan, "score_fwd": -1.5, "score_rev": math.nan}
    text = write_scores_tsv([row], tmp_path / "o.tsv").read_text().splitlines()
    assert text[1].split("\t")[5:8] == ["", "-1.5", ""]


def test_score_variants_reports_auroc_from_info_labels_or_a_labels_tsv(
    motif_lm: GenomambaLM, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from genomamba.downstream.stats import auroc

    # 40 records of the bundled (rule-labelled) E. coli VCF, which carries INFO LABEL=0/1.
    src = (data_dir / "variants" / "ecoli536_repeat_snvs.vcf").read_text().splitlines()
    header = [ln for ln in src if ln.startswith("#")]
    records = [ln for ln in src if not ln.startswith("#")][:40]
    vcf = tmp_path / "sub.vcf"
    vcf.write_text("\n".join(header + records) + "\n")
    motif_lm.save_pretrained(tmp_path / "m")
    fasta = data_dir / "genomes" / "escherichia_coli_536.fa.gz"
    base = ["--model", str(tmp_path / "m"), "--fasta", str(fasta), "--vcf", str(vcf), "--window", "32", "--device", "cpu"]
    assert score_variants_main([*base, "--out", str(tmp_path / "a.tsv")]) == 0
    from_info = capsys.readouterr().err
    # Expected: AUROC of -score (label 1 expected lower) against the INFO labels, from the written TSV.
    rows = [ln.split("\t") for ln in (tmp_path / "a.tsv").read_text().splitlines()[1:]]
    labels = [int(r.split("LABEL=")[1].split(";")[0]) for r in records]
    expected = auroc(labels, [-float(r[5]) for r in rows])
    assert f"AUROC {expected:.3f} [" in from_info and "(INFO LABEL)" in from_info, from_info
    assert f"{sum(labels)} label-1 and {len(labels) - sum(labels)} label-0 variants scored" in from_info
    # The hidden-state shift (column 9) ranks the other way round: label 1 expected to shift more.
    expected_shift = auroc(labels, [float(r[8]) for r in rows])
    assert f"hidden-state shift (40 SNVs): AUROC {expected_shift:.3f} [" in from_info
    # So does the influence (column 10).
    expected_influence = auroc(labels, [float(r[9]) for r in rows])
    assert f"influence (40 SNVs): AUROC {expected_influence:.3f} [" in from_info
    assert from_info.count("label 1 expected to score higher") == 2
    # The same labels from a TSV naming the contig by its accession alias give the same AUROC.
    tsv = tmp_path / "labels.tsv"
    tsv.write_text("chrom\tpos\tref\talt\tlabel\n" + "".join(
        f"NC_008253.1\t{r[1]}\t{r[3]}\t{r[4]}\t{lab}\n" for r, lab in zip((x.split("\t") for x in records), labels, strict=True)
    ))
    assert score_variants_main([*base, "--out", str(tmp_path / "b.tsv"), "--labels", str(tsv)]) == 0
    from_tsv = capsys.readouterr().err
    assert f"AUROC {expected:.3f} [" in from_tsv and f"(--labels {tsv})" in from_tsv
    # --positive-scores higher flips the direction: AUROC becomes 1 - AUROC.
    assert score_variants_main([*base, "--out", str(tmp_path / "c.tsv"), "--positive-scores", "higher"]) == 0
    assert f"AUROC {1 - expected:.3f} [" in capsys.readouterr().err
    # A non-0/1 INFO label is a clear error naming the line.
    bad = tmp_path / "bad.vcf"
    bad.write_text("\n".join(header + [records[0].replace("LABEL=0", "LABEL=7").replace("LABEL=1", "LABEL=7")]) + "\n")
    assert score_variants_main([*base[:4], "--vcf", str(bad), "--out", str(tmp_path / "d.tsv"), "--window", "32"]) == 2
    assert "INFO LABEL=7 is not a 0/1 label" in capsys.readouterr().err
