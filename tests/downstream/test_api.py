"""genomamba.api: load, embed (inputs, pooling, padding, streaming, RC) and log_likelihood."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from Bio.Seq import Seq
from Bio.SeqRecord import SeqRecord
from conftest import random_dna, tiny_model

from genomamba.api import GenomambaModel, load
from genomamba.data import reverse_complement_str
from genomamba.errors import CheckpointError, ConfigError, FastaError, SequenceError, WindowError

SEQS = [random_dna(n, seed=n) for n in (37, 5, 217, 64, 1)]


def _write_fasta(path, records: dict[str, str]) -> None:
    path.write_text("".join(f">{k}\n" + "\n".join(v[i : i + 60] for i in range(0, len(v), 60)) + "\n" for k, v in records.items()))


@pytest.mark.parametrize("pooling", ["mean", "last", "none"])
@pytest.mark.parametrize("rc_average", [False, True])
def test_embedding_shape_and_batch_independence(causal_model: GenomambaModel, pooling: str, rc_average: bool) -> None:
    batched = causal_model.embed(SEQS, pooling=pooling, rc_average=rc_average, batch_size=8, progress=False)
    alone = [causal_model.embed([s], pooling=pooling, rc_average=rc_average, progress=False)[0] for s in SEQS]
    if pooling == "none":
        assert [x.shape for x in batched] == [(len(s), 16) for s in SEQS]
    else:
        assert batched.shape == (len(SEQS), 16) and batched.dtype == np.float32
    for got, ref in zip(batched, alone, strict=True):
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    # Different sequences really give different embeddings (the comparison above is not vacuous).
    if pooling != "none":
        assert not np.allclose(batched[0], batched[3])


def test_mean_pooling_ignores_padding_and_matches_manual(causal_model: GenomambaModel) -> None:
    ids = torch.from_numpy(causal_model.tokenizer.encode(SEQS[0]))[None]
    h = causal_model.model(ids).hidden_states[0].detach().numpy()
    got = causal_model.embed([SEQS[0], SEQS[2]], rc_average=False, progress=False)[0]
    np.testing.assert_allclose(got, h.mean(0), rtol=1e-5, atol=1e-6)
    last = causal_model.embed([SEQS[0], SEQS[2]], pooling="last", rc_average=False, progress=False)[0]
    np.testing.assert_allclose(last, h[-1], rtol=1e-5, atol=1e-6)


def test_rc_average_is_mean_of_both_strands(causal_model: GenomambaModel) -> None:
    s = SEQS[2]
    fwd = causal_model.embed([s], rc_average=False, progress=False)[0]
    rev = causal_model.embed([reverse_complement_str(s)], rc_average=False, progress=False)[0]
    both = causal_model.embed([s], progress=False)[0]
    np.testing.assert_allclose(both, 0.5 * (fwd + rev), rtol=1e-5, atol=1e-6)
    assert not np.allclose(fwd, rev, atol=1e-4)  # a causal model alone is not strand-invariant


@pytest.mark.parametrize("pooling", ["mean", "last", "none"])
def test_rc_equivariant_model_is_strand_invariant(rc_model: GenomambaModel, pooling: str) -> None:
    seqs = SEQS[:4]
    fwd = rc_model.embed(seqs, pooling=pooling, progress=False)
    rev = rc_model.embed([reverse_complement_str(s) for s in seqs], pooling=pooling, progress=False)
    for a, b in zip(fwd, rev, strict=True):
        np.testing.assert_allclose(a, b[::-1] if pooling == "none" else b, rtol=1e-5, atol=1e-6)
    if pooling == "mean":
        # The one-pass shortcut equals averaging two explicit passes.
        one = rc_model.embed(seqs, rc_average=False, progress=False)
        other = rc_model.embed([reverse_complement_str(s) for s in seqs], rc_average=False, progress=False)
        np.testing.assert_allclose(fwd, 0.5 * (one + other), rtol=1e-5, atol=1e-6)
        assert not np.allclose(one, other, atol=1e-4)


def test_streaming_200kb_equals_large_chunk_reference() -> None:
    model = tiny_model(d_model=8, n_layer=1)
    s = random_dna(200_000, seed=7)
    ids = torch.from_numpy(model.tokenizer.encode(s))[None]
    # Reference: the model's own state-carrying forward over the sequence in two large pieces.
    out1 = model.model(ids[:, :120_000], return_state=True)
    out2 = model.model(ids[:, 120_000:], state=out1.state, return_state=True)
    h = torch.cat([out1.hidden_states, out2.hidden_states], 1)[0].detach().double()
    got = model.embed([s, s[:5000]], chunk_length=16384, rc_average=False, progress=False)
    np.testing.assert_allclose(got[0], h.mean(0).numpy(), rtol=1e-4, atol=1e-5)
    last = model.embed([s], pooling="last", chunk_length=50_000, rc_average=False, progress=False)[0]
    np.testing.assert_allclose(last, h[-1].numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got[1], h[:5000].mean(0).numpy(), rtol=1e-4, atol=1e-5)


def test_input_kinds_agree(causal_model: GenomambaModel, tmp_path) -> None:
    s1, s2 = random_dna(150, 1), random_dna(90, 2)
    fa = tmp_path / "toy.fa"
    _write_fasta(fa, {"chrA": s1, "chrB": s2})
    ref = causal_model.embed([s1, s2], progress=False)
    variants = [
        [SeqRecord(Seq(s1), id="a"), SeqRecord(Seq(s2), id="b")],
        [Seq(s1), s2.lower()],
        fa,
        str(fa),
        [(fa, "chrA", 0, 150), (str(fa), "chrB", 0, 90)],
    ]
    for v in variants:
        np.testing.assert_allclose(causal_model.embed(v, progress=False), ref, rtol=1e-5, atol=1e-6)
    sub = causal_model.embed([(fa, "chrA", 10, 70)], progress=False)
    np.testing.assert_allclose(sub, causal_model.embed([s1[10:70]], progress=False), rtol=1e-5, atol=1e-6)
    # A single string is one sequence.
    np.testing.assert_allclose(causal_model.embed(s1, progress=False), ref[:1], rtol=1e-5, atol=1e-6)


def test_bad_inputs_raise_project_errors(causal_model: GenomambaModel, tmp_path) -> None:
    with pytest.raises(SequenceError, match=r"'X'.*position 3.*sequence 1"):
        causal_model.embed(["ACGT", "ACGX"], progress=False)
    with pytest.raises(FastaError, match="not found"):
        causal_model.embed(tmp_path / "missing.fa", progress=False)
    with pytest.raises(FastaError, match="not found"):
        causal_model.embed([(str(tmp_path / "missing.fa"), "chr1", 0, 10)], progress=False)
    fa = tmp_path / "toy.fa"
    _write_fasta(fa, {"chrA": "ACGT" * 10})
    with pytest.raises(WindowError, match="chrA:30-50"):
        causal_model.embed([(fa, "chrA", 30, 50)], progress=False)
    with pytest.raises(WindowError, match="no such record"):
        causal_model.embed([(fa, "chrZ", 0, 5)], progress=False)
    with pytest.raises(SequenceError, match="empty"):
        causal_model.embed(["ACGT", ""], progress=False)
    with pytest.raises(SequenceError, match="type int"):
        causal_model.embed([3], progress=False)
    with pytest.raises(ConfigError, match="pooling"):
        causal_model.embed(["ACGT"], pooling="max", progress=False)


def test_log_likelihood_matches_logits_and_streams(causal_model: GenomambaModel) -> None:
    s = SEQS[2][:100] + "N" + SEQS[2][101:]
    ll = causal_model.log_likelihood([s, SEQS[0]], progress=False)
    assert [x.shape for x in ll] == [(len(s),), (len(SEQS[0]),)]
    ids = torch.from_numpy(causal_model.tokenizer.encode(s))[None]
    logp = torch.log_softmax(causal_model.model(ids).logits[0].detach(), -1)
    expected = logp[:-1].gather(1, ids[0, 1:, None])[:, 0].numpy()
    assert ll[0][0] == pytest.approx(np.log(0.25))
    assert np.isnan(ll[0][100]) and np.isnan(ll[0]).sum() == 1
    np.testing.assert_allclose(np.delete(ll[0][1:], 99), np.delete(expected, 99), rtol=1e-5, atol=1e-5)
    streamed = causal_model.log_likelihood([s], chunk_length=16, progress=False)[0]
    np.testing.assert_allclose(streamed, ll[0], rtol=1e-4, atol=1e-5)
    with pytest.raises(ConfigError, match="causal"):
        tiny_model(bidirectional=True).log_likelihood(["ACGT"], progress=False)


def test_load_paths_and_errors(causal_model: GenomambaModel, tmp_path) -> None:
    causal_model.model.save_pretrained(tmp_path / "run" / "model")
    ref = causal_model.embed(SEQS[:2], progress=False)
    for p in (tmp_path / "run" / "model", tmp_path / "run"):
        m = load(p, device="cpu")
        assert not m.model.training and m.device.type == "cpu"
        np.testing.assert_allclose(m.embed(SEQS[:2], progress=False), ref, rtol=1e-6, atol=1e-6)
    assert load(tmp_path / "run").device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(CheckpointError, match="not found"):
        load(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError):
        load(tmp_path / "empty")


@pytest.mark.parametrize(
    "kw", [{"attn_layers": [1], "attn_heads": 2}, {"attn_layers": [1], "attn_heads": 2, "attn_window": 64}, {"bidirectional": True}]
)
def test_chunking_does_not_change_hybrid_or_bidirectional_embeddings(kw: dict) -> None:
    # Hybrid models stream through their attention KV caches; bidirectional ones ignore
    # chunk_length and run one exact pass.
    model = tiny_model(**kw)
    seqs = [random_dna(1500, 1), random_dna(700, 2)]
    streamed = model.embed(seqs, chunk_length=256, progress=False)
    whole = model.embed(seqs, chunk_length=10**6, progress=False)
    np.testing.assert_allclose(streamed, whole, rtol=1e-5, atol=1e-5)


def test_downstream_takes_either_model_type() -> None:
    """as_lm gives the same torch module for a GenomambaModel and its GenomambaLM, without moving it."""
    from genomamba.api import GenomambaModel, as_lm
    from genomamba.models import GenomambaConfig, GenomambaLM

    lm = GenomambaLM(GenomambaConfig(d_model=16, n_layer=1)).train()
    assert as_lm(lm) is lm and as_lm(GenomambaModel(lm, device="cpu")) is lm
    with pytest.raises(TypeError, match="GenomambaModel or a GenomambaLM"):
        as_lm("runs/demo")
