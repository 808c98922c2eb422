"""Tiled causal variant scores: exact state reuse equals whole windows, on every causal model type.

``method="tiled"`` (one REF pass per tile and strand, ALT runs from saved states) against
``method="tiled-reference"`` (whole REF and ALT windows with the same context, no state reuse),
on random SNVs placed near contig ends, next to an N run, on a contig shorter than the attention
window and with score windows shorter than it; plus the geometry and the model-level timeline.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from genomamba.data.fasta import GenomeFile
from genomamba.data.tracks import open_track
from genomamba.downstream.variants.scoring import score_variants
from genomamba.downstream.variants.tiles import TiledContext
from genomamba.downstream.variants.vcf import Variant
from genomamba.errors import ConfigError
from genomamba.models import GenomambaConfig, GenomambaLM

SCORES = ("score_fwd", "score_rev", "shift", "influence")
# Every causal model type that ships (genomamba/pretrained), tiny: plain Mamba, hybrid with
# sliding-window attention (window 24: longer than the short score windows below), periodic
# states (ssm_periods), relative track; and a full-attention hybrid.
MODEL_TYPES = {
    "mamba": {},
    "hybrid": {"attn_layers": [1], "attn_window": 24, "attn_heads": 2, "rope_periods": [3]},
    "periodic": {"ssm_periods": [3, 3]},
    "track": {"ssm_periods": [3], "relative_track": True},
    "full_attention": {"attn_layers": [0], "attn_heads": 2},
}


def _dna(n: int, seed: int, alphabet: str = "ACGT") -> str:
    return "".join(np.random.default_rng(seed).choice(list(alphabet), n))


@pytest.fixture(scope="module")
def genome(tmp_path_factory: pytest.TempPathFactory) -> tuple[GenomeFile, GenomeFile, dict[str, str]]:
    d = tmp_path_factory.mktemp("tiles")
    a = _dna(300, 1)
    a = a[:150] + "N" * 12 + a[162:]  # an N run
    seqs = {"a": a, "b": _dna(20, 2)}  # b: shorter than the attention window and the score windows
    (d / "g.fa").write_text("".join(f">{k}\n{v}\n" for k, v in seqs.items()))
    (d / "t.fa").write_text("".join(f">{k}\n{_dna(len(v), 3, 'ACGTN')}\n" for k, v in seqs.items()))
    g = GenomeFile(d / "g.fa")
    return g, open_track(d / "t.fa", g), seqs


def _snvs(seqs: dict[str, str], seed: int = 0) -> list[Variant]:
    rng = np.random.default_rng(seed)
    a = seqs["a"]
    picks = [1, 2, 15, 16, 47, 48, 149, 162, 298, 299, *rng.choice(300, 5, replace=False).tolist()]
    out = [Variant("a", p + 1, a[p], "ACGT"[("ACGT".index(a[p]) + 1 + p % 3) % 4]) for p in picks if a[p] != "N"]
    out += [Variant("b", p + 1, seqs["b"][p], "ACGT"[("ACGT".index(seqs["b"][p]) + 2) % 4]) for p in (1, 9, 19)]
    out.append(Variant("a", 60, a[59:62], a[59]))  # an indel: whole windows in both methods
    return out


def _model(dtype: torch.dtype, **kw: object) -> GenomambaLM:
    torch.manual_seed(0)
    model = GenomambaLM(GenomambaConfig(d_model=16, n_layer=2, d_state=4, **kw))  # type: ignore[arg-type]
    with torch.no_grad():  # a trained model's weights are not at their init (the track table is zero there)
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    return model.to(dtype).eval()


def _scores(rows: list[dict]) -> np.ndarray:
    return np.array([[r[c] for c in SCORES] for r in rows], dtype=np.float64)


CASES = [(kind, torch.float64, 1e-9) for kind in MODEL_TYPES] + [
    ("mamba", torch.float32, 1e-5), ("hybrid", torch.float32, 1e-5), ("track", torch.float32, 1e-5)]


@pytest.mark.parametrize(("kind", "dtype", "tol"), CASES, ids=[f"{k}-{str(d)[6:]}" for k, d, _ in CASES])
def test_state_reuse_equals_whole_windows(genome, kind: str, dtype: torch.dtype, tol: float) -> None:
    g, track, seqs = genome
    kw = MODEL_TYPES[kind]
    model = _model(dtype, **kw)
    t = track if kw.get("relative_track") else None
    variants = _snvs(seqs)
    # 16: the score window (8 bp) and the tiles are shorter than the attention window (24)
    for window in (16, 48) if kind == "hybrid" else (48,):
        fast = score_variants(model, g, [Variant(v.chrom, v.pos, v.ref, v.alt) for v in variants], window=window,
                              method="tiled", track=t, batch_size=7)
        slow = score_variants(model, g, [Variant(v.chrom, v.pos, v.ref, v.alt) for v in variants], window=window,
                              method="tiled-reference", track=t, batch_size=16)
        assert [r["status"] for r in fast] == ["ok"] * len(variants)
        a, b = _scores(fast), _scores(slow)
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
        assert np.isnan(a[-1, 2:]).all() and np.isfinite(a[:-1]).all()  # the indel has no shift / influence
        np.testing.assert_allclose(a[np.isfinite(a)], b[np.isfinite(b)], rtol=0, atol=tol)
        assert np.abs(a[:-1, :2]).max() > 0.1 and a[:-1, 2:].min() > 0  # not vacuous


def test_a_score_depends_on_its_own_position_only(genome) -> None:
    """Alone or among many, an SNV scores the same: its context comes from its tile, not from the
    other variants; and the tiled context differs from the centred window's (other numbers)."""
    g, _, seqs = genome
    model = _model(torch.float64, attn_layers=[1], attn_window=24, attn_heads=2)
    variants = _snvs(seqs)[:-1]
    many = _scores(score_variants(model, g, variants, window=32))
    for i in (0, 7, 12):
        v = variants[i]
        alone = _scores(score_variants(model, g, [Variant(v.chrom, v.pos, v.ref, v.alt)], window=32))
        np.testing.assert_allclose(alone[0], many[i], rtol=0, atol=1e-10)
    centred = _scores(score_variants(model, g, [Variant(v.chrom, v.pos, v.ref, v.alt) for v in variants], window=32,
                                     method="window"))
    assert np.abs(centred[:, 0] - many[:, 0]).max() > 1e-3


def test_tiled_context_geometry() -> None:
    ctx = TiledContext(512)
    assert (ctx.tile, ctx.context, ctx.after) == (512, 256, 256)
    for p in (0, 1, 255, 256, 511, 512, 700, 1023, 9_999):
        s, e = ctx.forward_span(p, 1, 10_000)
        lo, hi = ctx.reverse_span(p, 1, 10_000)
        assert s == max(0, p // 512 * 512 - 256) and e == min(10_000, p + 256)
        assert lo == max(0, p - 255) and hi == min(10_000, (p // 512 + 1) * 512 + 256)
        if 256 <= p < 9_744:  # away from the contig ends: a context of C .. C + T - 1 bp on both strands
            assert 256 <= p - s <= 767 and 256 <= hi - 1 - p <= 767
    assert TiledContext(7).context == 3 and TiledContext(7).after == 4  # odd W: as the centred window's halves


def test_masked_models_keep_the_window_method(genome) -> None:
    g, _, seqs = genome
    torch.manual_seed(0)
    bi = GenomambaLM(GenomambaConfig(d_model=16, n_layer=2, bidirectional=True)).eval()
    v = [Variant("a", 40, seqs["a"][39], "A" if seqs["a"][39] != "A" else "C")]
    auto = score_variants(bi, g, v, window=32)
    window = score_variants(bi, g, [Variant("a", 40, v[0].ref, v[0].alt)], window=32, method="window")
    assert auto[0]["score"] == window[0]["score"]
    with pytest.raises(ConfigError, match="needs a causal model"):
        score_variants(bi, g, v, window=32, method="tiled")
    with pytest.raises(ConfigError, match="method must be one of"):
        score_variants(_model(torch.float32), g, v, window=32, method="centred")


@pytest.mark.parametrize("kind", ["hybrid", "periodic", "track"])
def test_timeline_states_equal_streaming_states(kind: str) -> None:
    """forward_timeline's state after a prefix restarts the model exactly as streaming that prefix
    (return_state) does; a track model reads the code after each piece (track_ids one longer)."""
    kw = MODEL_TYPES[kind]
    model = _model(torch.float64, **kw)
    ids = torch.randint(0, 4, (3, 40))
    track = torch.randint(0, 5, (3, 41)) if kw.get("relative_track") else None
    whole = model(ids, track_ids=track).logits
    out, timeline = model.forward_timeline(ids, [0, 5, 17, 40], track_ids=track)
    torch.testing.assert_close(out.logits, whole)
    rows = torch.tensor([2, 0, 1, 2])
    state = timeline.state_at(rows, torch.tensor([0, 1, 2, 2]))
    starts = [0, 5, 17, 17]
    rest = torch.stack([ids[r, s : s + 12] for r, s in zip(rows.tolist(), starts, strict=True)])
    rest_track = None if track is None else torch.stack([track[r, s : s + 13] for r, s in zip(rows.tolist(), starts, strict=True)])
    cont = model(rest, state=state, track_ids=rest_track).logits
    for i, (r, s) in enumerate(zip(rows.tolist(), starts, strict=True)):
        torch.testing.assert_close(cont[i], whole[r, s : s + 12], rtol=1e-10, atol=1e-10)


def test_score_variants_reports_progress(genome) -> None:
    g, _, seqs = genome
    done: list[int] = []
    variants = _snvs(seqs)
    score_variants(_model(torch.float32), g, variants, window=32, batch_size=5, progress=done.append)
    assert sum(done) == 2 * len(variants)  # each variant on both strands (progress_total's units), the indel too


def test_shipped_models_state_reuse_in_float32(data_dir: Path) -> None:
    """The shipped hybrid and track models (float32, as shipped) on bundled-genome SNVs: the state
    reuse equals whole windows within 1e-5."""
    g = GenomeFile(data_dir / "genomes" / "escherichia_coli_536.fa.gz")
    track = open_track(data_dir / "tracks" / "escherichia_coli_536.relative_klebsiella_pneumoniae_MGH78578.fa.gz", g)
    chrom = next(iter(g.lengths))
    seq = g.fetch(chrom, 4_700_000, 4_700_200).upper()
    variants = [Variant(chrom, 4_700_001 + p, seq[p], "ACGT"[("ACGT".index(seq[p]) + 1) % 4]) for p in range(0, 200, 17)]
    for name in ("ecoli536-hybrid-small", "ecoli536-mamba-track"):
        model = GenomambaLM.load(name).eval()
        t = track if model.config.relative_track else None
        fast = _scores(score_variants(model, g, variants, window=64, method="tiled", track=t))
        slow = _scores(score_variants(model, g, variants, window=64, method="tiled-reference", track=t))
        np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-5)
