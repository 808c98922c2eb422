"""GenomambaLM behaviour: shapes, init, training, padding, RC equivariance, streaming."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from genomamba.errors import ConfigError, ModelInputError
from genomamba.models import GenomambaConfig, GenomambaLM, GenomambaState
from genomamba.models.attention import AttnCache
from genomamba.models.mixer import MambaCache, MambaMixer

VARIANTS = {
    "causal": {},
    "bidirectional_add": {"bidirectional": True},
    "bidirectional_concat": {"bidirectional": True, "bidirectional_combine": "concat_proj"},
    "rc": {"rc_equivariant": True},
    "rc_bidirectional": {"rc_equivariant": True, "bidirectional": True},
    "hybrid_window": {"attn_layers": [1], "attn_window": 5, "attn_heads": 2},
    "hybrid_full": {"attn_layers": [0], "attn_heads": 2},
    "hybrid_codon_rope": {"attn_layers": [1], "attn_window": 5, "attn_heads": 2, "rope_periods": [3]},
    "rc_hybrid": {"rc_equivariant": True, "attn_layers": [1], "attn_window": 6, "attn_heads": 2},
    "ssm_periodic": {"ssm_periods": [3, 3, 5]},
    "hybrid_ssm_periodic": {"attn_layers": [1], "attn_window": 5, "attn_heads": 2, "ssm_periods": [3]},
    "rc_ssm_periodic": {"rc_equivariant": True, "ssm_periods": [3]},
    "bidirectional_ssm_periodic": {"bidirectional": True, "ssm_periods": [3]},
}
COMPLEMENT = torch.tensor([3, 2, 1, 0, 4, 5, 6, 7, 8])


def make(seed: int = 0, **kw) -> GenomambaLM:
    torch.manual_seed(seed)
    kw.setdefault("d_model", 16)
    kw.setdefault("n_layer", 2)
    return GenomambaLM(GenomambaConfig(**kw)).eval()


def rand_ids(b: int, L: int, seed: int = 1, high: int = 5) -> torch.Tensor:
    return torch.randint(0, high, (b, L), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_forward_backward_shapes(variant: str) -> None:
    model = make(**VARIANTS[variant]).train()
    ids = rand_ids(2, 19)
    out = model(ids)
    assert out.logits.shape == (2, 19, 9)
    assert out.hidden_states.shape == (2, 19, 16)
    assert out.state is None
    F.cross_entropy(out.logits.flatten(0, 1), ids.flatten()).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f"no gradient reaches {name}"


def test_init_values() -> None:
    cfg = GenomambaConfig(d_model=32, n_layer=2, d_state=8)
    model = GenomambaLM(cfg)
    mixers = [m for m in model.modules() if isinstance(m, MambaMixer)]
    assert len(mixers) == 2
    for m in mixers:
        A = -torch.exp(m.A_log)
        assert_close(A, -torch.arange(1.0, 9.0).expand(64, 8))
        assert_close(m.D, torch.ones(64))
        dt = F.softplus(m.dt_proj.bias)
        assert dt.min() >= cfg.dt_min * (1 - 1e-4) and dt.max() <= cfg.dt_max * (1 + 1e-4)
        # log-uniform: the median of log(dt) sits near the middle of [log dt_min, log dt_max]
        mid = 0.5 * (math.log(cfg.dt_min) + math.log(cfg.dt_max))
        assert abs(dt.log().median().item() - mid) < 1.0
        bound = cfg.dt_rank**-0.5
        assert m.dt_proj.weight.abs().max() <= bound
    emb = model.backbone.embeddings.weight
    assert abs(emb.std().item() - cfg.initializer_range) < 0.01
    assert model.lm_head is None  # tied by default: the head reuses the embedding


def test_untied_head_has_own_weight() -> None:
    model = make(tie_embeddings=False)
    assert model.lm_head is not None
    assert model.num_parameters() == make().num_parameters() + 16 * 16


def test_single_batch_overfit() -> None:
    model = make(d_model=32, n_layer=2).train()
    ids = rand_ids(4, 16, seed=3, high=4)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        logits = model(ids[:, :-1]).logits
        loss = F.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] > 1.8  # ~ln 9 at init: near-uniform over the vocabulary
    assert losses[-1] < 0.2 * losses[0], losses


def padded_batch(lengths: list[int], L: int, seed: int = 5):
    """Right-padded ids whose pads are random junk tokens (so leaking pads would show)."""
    ids = rand_ids(len(lengths), L, seed=seed, high=9)
    mask = torch.arange(L)[None, :] < torch.tensor(lengths)[:, None]
    return ids, mask


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_padding_invariance(variant: str) -> None:
    model = make(**VARIANTS[variant])
    lengths = [23, 9, 30]
    ids, mask = padded_batch(lengths, 30)
    out = model(ids, attention_mask=mask)
    for b, n in enumerate(lengths):
        alone = model(ids[b : b + 1, :n])
        assert_close(out.hidden_states[b, :n], alone.hidden_states[0], atol=1e-5, rtol=1e-5)
        assert_close(out.logits[b, :n], alone.logits[0], atol=1e-5, rtol=1e-5)


def test_padding_changes_nothing_vs_full_length_reverse() -> None:
    """Control: flipping the whole padded row (as Caduceus does) would leak pads into the
    reverse direction; our result for a padded row differs from the all-real row."""
    model = make(bidirectional=True)
    ids, mask = padded_batch([10], 16)
    padded = model(ids, attention_mask=mask).hidden_states[0, :10]
    unmasked = model(ids).hidden_states[0, :10]
    assert (padded - unmasked).abs().max() > 1e-3


def assert_states_equal(s1: GenomambaState, s2: GenomambaState, rows1, rows2) -> None:
    assert torch.equal(s1.seqlen_offset[rows1], s2.seqlen_offset[rows2])
    for c1, c2 in zip(s1.layers, s2.layers, strict=True):
        if isinstance(c1, MambaCache):
            assert_close(c1.conv[rows1], c2.conv[rows2], atol=1e-6, rtol=1e-5)
            assert_close(c1.ssm[rows1], c2.ssm[rows2], atol=1e-6, rtol=1e-5)
        else:
            assert isinstance(c1, AttnCache)
            v1, v2 = c1.valid[rows1], c2.valid[rows2]
            assert torch.equal(v1.sum(-1), v2.sum(-1))
            assert_close(c1.k[rows1][..., v1, :], c2.k[rows2][..., v2, :], atol=1e-6, rtol=1e-5)
            assert_close(c1.v[rows1][..., v1, :], c2.v[rows2][..., v2, :], atol=1e-6, rtol=1e-5)
            assert torch.equal(c1.pos[rows1][v1], c2.pos[rows2][v2])


@pytest.mark.parametrize("variant", ["causal", "hybrid_window", "hybrid_full", "ssm_periodic"])
def test_padded_final_state_equals_unpadded(variant: str) -> None:
    model = make(**VARIANTS[variant])
    lengths = [17, 6]
    ids, mask = padded_batch(lengths, 20)
    padded = model(ids, attention_mask=mask, return_state=True).state
    for b, n in enumerate(lengths):
        alone = model(ids[b : b + 1, :n], return_state=True).state
        assert_states_equal(padded, alone, b, 0)
        # continuing from either state gives the same next-token logits
        nxt = torch.tensor([2])
        l1, _ = model.step(
            nxt, GenomambaState([_row(c, b) for c in padded.layers], padded.seqlen_offset[b : b + 1])
        )
        l2, _ = model.step(nxt, alone)
        assert_close(l1, l2, atol=1e-5, rtol=1e-5)


def _row(cache, b: int):
    return type(cache)(*[t[b : b + 1] for t in vars(cache).values()])


def rc_ids(ids: torch.Tensor) -> torch.Tensor:
    return COMPLEMENT[ids].flip(-1)


@pytest.mark.parametrize("variant", ["rc", "rc_bidirectional", "rc_hybrid", "rc_ssm_periodic"])
def test_rc_equivariance(variant: str) -> None:
    model = make(**VARIANTS[variant])
    ids = rand_ids(3, 27, high=5)
    out, out_rc = model(ids), model(rc_ids(ids))
    # hidden: RC input -> position-reversed, channel-flipped hidden states
    assert_close(out_rc.hidden_states, out.hidden_states.flip(1).flip(-1), atol=1e-5, rtol=1e-5)
    # logits: RC input -> reversed, complement-permuted logits
    assert_close(out_rc.logits, out.logits.flip(1)[..., COMPLEMENT], atol=1e-5, rtol=1e-5)


def test_rc_equivariance_with_padding() -> None:
    model = make(**VARIANTS["rc"])
    lengths = [21, 12]
    ids, mask = padded_batch(lengths, 21)
    ids = ids.clamp(max=4)
    rc = ids.clone()
    for b, n in enumerate(lengths):
        rc[b, :n] = rc_ids(ids[b, :n])
    out, out_rc = model(ids, attention_mask=mask), model(rc, attention_mask=mask)
    for b, n in enumerate(lengths):
        assert_close(
            out_rc.hidden_states[b, :n], out.hidden_states[b, :n].flip(0).flip(-1), atol=1e-5, rtol=1e-5
        )
        assert_close(out_rc.logits[b, :n], out.logits[b, :n].flip(0)[:, COMPLEMENT], atol=1e-5, rtol=1e-5)


def test_plain_model_is_not_rc_equivariant() -> None:
    """Control for the RC test: without RCPS the property does not hold."""
    model = make(bidirectional=True)
    ids = rand_ids(1, 20, high=4)
    diff = model(rc_ids(ids)).logits - model(ids).logits.flip(1)[..., COMPLEMENT]
    assert diff.abs().max() > 1e-3


@pytest.mark.parametrize(
    "variant", ["causal", "hybrid_window", "hybrid_full", "hybrid_codon_rope", "ssm_periodic", "hybrid_ssm_periodic"]
)
@pytest.mark.parametrize("chunk", [7, 13])
def test_streaming_equals_one_shot(variant: str, chunk: int) -> None:
    model = make(**VARIANTS[variant])
    ids = rand_ids(2, 45)
    full = model(ids)
    state = model.allocate_state(2)
    pieces = []
    for s in range(0, 45, chunk):
        out = model(ids[:, s : s + chunk], state=state, return_state=True)
        state = out.state
        pieces.append(out.logits)
    assert_close(torch.cat(pieces, 1), full.logits, atol=1e-5, rtol=1e-5)
    assert torch.equal(state.seqlen_offset, torch.tensor([45, 45]))


def test_streaming_with_padded_last_chunk() -> None:
    model = make(**VARIANTS["hybrid_window"])
    ids = rand_ids(2, 30)
    first = model(ids[:, :12], state=model.allocate_state(2), return_state=True)
    lengths = torch.tensor([18, 7])
    mask = torch.arange(18)[None] < lengths[:, None]
    second = model(ids[:, 12:], attention_mask=mask, state=first.state, return_state=True)
    assert torch.equal(second.state.seqlen_offset, 12 + lengths)
    for b, n in enumerate(lengths.tolist()):
        alone = model(ids[b : b + 1, : 12 + n], return_state=True)
        assert_close(second.logits[b, :n], alone.logits[0, 12:], atol=1e-5, rtol=1e-5)
        assert_states_equal(second.state, alone.state, b, 0)


@pytest.mark.parametrize("variant", ["causal", "hybrid_window", "ssm_periodic"])
@pytest.mark.parametrize("padded", [False, True])
def test_cpu_chunked_forward_equals_one_pass_with_gradients(variant: str, padded: bool) -> None:
    # cpu_chunk_len runs long inputs chunk by chunk with carried state; outputs, the returned
    # state and every parameter gradient must match one pass. With padding, sample 1 ends in
    # the second chunk, so its later chunks hold no real tokens at all.
    kw = dict(VARIANTS[variant], n_layer=3)
    one_pass, chunked = make(**kw, cpu_chunk_len=0).train(), make(**kw, cpu_chunk_len=8).train()
    assert chunked.backbone.chunk_len(rand_ids(2, 4)) == 8 and one_pass.backbone.chunk_len(rand_ids(2, 4)) == 0
    ids = rand_ids(2, 37)
    lengths = torch.tensor([37, 11]) if padded else torch.tensor([37, 37])
    mask = torch.arange(37)[None] < lengths[:, None] if padded else None
    weights = torch.randn(2, 37, 9, generator=torch.Generator().manual_seed(4)) * (torch.arange(37)[None] < lengths[:, None])[..., None]
    results = []
    for model in (one_pass, chunked):
        out = model(ids, attention_mask=mask, return_state=True)
        (out.logits * weights).sum().backward()
        results.append((out, {n: p.grad.clone() for n, p in model.named_parameters()}))
    (ref, ref_grads), (got, got_grads) = results
    real = (torch.arange(37)[None] < lengths[:, None])
    assert_close(got.logits[real], ref.logits[real], atol=1e-5, rtol=1e-5)
    assert torch.equal(got.state.seqlen_offset, ref.state.seqlen_offset)
    for b in range(2):
        assert_states_equal(got.state, ref.state, b, b)
    for name, g in ref_grads.items():
        assert_close(got_grads[name], g, atol=1e-5, rtol=1e-4, msg=lambda m, name=name: f"{name}: {m}")


def test_cpu_chunking_is_off_where_it_would_not_be_exact_or_bounded() -> None:
    ids = rand_ids(1, 4)
    for variant in ("bidirectional_add", "rc", "hybrid_full"):
        assert make(**VARIANTS[variant], cpu_chunk_len=8).backbone.chunk_len(ids) == 0, variant
    assert make(cpu_chunk_len=None).backbone.chunk_len(ids) == 0
    with pytest.raises(ConfigError, match="cpu_chunk_len"):
        GenomambaConfig(cpu_chunk_len=-1)


@pytest.mark.parametrize("variant", ["causal", "hybrid_window", "ssm_periodic"])
def test_step_equals_full_forward(variant: str) -> None:
    model = make(**VARIANTS[variant])
    ids = rand_ids(2, 17)
    full = model(ids).logits
    state = model.allocate_state(2)
    steps = []
    for t in range(17):
        logits, state = model.step(ids[:, t], state)
        steps.append(logits)
    assert_close(torch.stack(steps, 1), full, atol=1e-5, rtol=1e-5)


def test_generate() -> None:
    model = make()
    prompt = rand_ids(2, 5, high=4)
    a = model.generate(prompt, 12, generator=torch.Generator().manual_seed(0))
    b = model.generate(prompt, 12, generator=torch.Generator().manual_seed(0))
    assert a.shape == (2, 17) and torch.equal(a[:, :5], prompt) and torch.equal(a, b)
    assert int(a.max()) <= 3  # only A/C/G/T are sampled
    greedy = model.generate(prompt[0], 6, temperature=0)
    assert greedy.shape == (11,)
    for t in range(5, 11):  # greedy == argmax over nucleotides of the one-shot logits
        assert greedy[t] == model(greedy[None, :t]).logits[0, -1, :4].argmax()
    top1 = model.generate(prompt[0], 6, top_k=1, generator=torch.Generator().manual_seed(1))
    assert torch.equal(top1, greedy)


def test_input_errors() -> None:
    model = make()
    ids = rand_ids(2, 8)
    left = torch.tensor([[False] * 3 + [True] * 5, [True] * 8])
    with pytest.raises(ModelInputError, match="right-padded"):
        model(ids, attention_mask=left)
    with pytest.raises(ModelInputError, match="token ids"):
        model(ids + 9)
    with pytest.raises(ConfigError, match="causal"):
        make(bidirectional=True)(ids, return_state=True)
    with pytest.raises(ConfigError, match="causal"):
        make(rc_equivariant=True).allocate_state(2)


def test_backbone_returns_hidden_states_only() -> None:
    model = make(**VARIANTS["bidirectional_add"])
    ids, mask = padded_batch([12, 7], 12)
    hidden = model.backbone(ids, attention_mask=mask)
    assert torch.equal(hidden, model(ids, attention_mask=mask).hidden_states)


@pytest.mark.parametrize("bias", [True, False])
def test_cpu_depthwise_conv_matches_conv1d(bias: bool) -> None:
    from genomamba.models.mixer import causal_depthwise_conv

    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 6, 3 + 17, dtype=torch.float64, generator=g)
    w = torch.randn(6, 1, 4, dtype=torch.float64, generator=g)
    b = torch.randn(6, dtype=torch.float64, generator=g) if bias else None
    got = causal_depthwise_conv(x.transpose(1, 2), w, b)  # channel-last in and out
    assert_close(got.transpose(1, 2), F.conv1d(x, w, b, groups=6))


def _complex_mixer_reference(mix: MambaMixer, x: torch.Tensor) -> torch.Tensor:
    """The periodic states written as an explicit complex recurrence (float64), step by step:
    h_t = exp(delta_t a) exp(2 pi i / p) h_{t-1} + delta_t B_t u_t, y_t += C_t Re(h_t)."""
    from genomamba.models.mixer import causal_depthwise_conv

    n, k = mix.d_state, mix.n_complex
    xs, z = mix.in_proj(x).chunk(2, -1)
    xcat = torch.cat([xs.new_zeros(x.shape[0], mix.d_conv - 1, mix.d_inner), xs], 1)
    xc = F.silu(causal_depthwise_conv(xcat, mix.conv1d.weight, mix.conv1d.bias))
    delta, B, C = mix._ssm_inputs(xc)
    A = -torch.exp(mix.A_log.float()).double()  # the mixer's A is fp32 whatever the model dtype
    w = torch.exp(2j * math.pi / torch.tensor(mix.periods, dtype=torch.float64))
    h = x.new_zeros(x.shape[0], mix.d_inner, n)
    hc = torch.zeros(x.shape[0], mix.d_inner, k, dtype=torch.complex128)
    ys = []
    for t in range(x.shape[1]):
        dt, u = delta[:, t, :, None], xc[:, t, :, None]
        h = torch.exp(dt * A[:, :n]) * h + dt * B[:, t, None, :n] * u
        hc = torch.exp(dt * A[:, n:]) * w * hc + dt * B[:, t, None, n:] * u
        y = (h * C[:, t, None, :n]).sum(-1) + (hc.real * C[:, t, None, n:]).sum(-1) + mix.D * xc[:, t]
        ys.append(y * F.silu(z[:, t]))
    return mix.out_proj(torch.stack(ys, 1)), hc


def test_periodic_ssm_states_are_a_complex_recurrence() -> None:
    # The rotating-frame scan (real kernels, B and C times cos / -sin of the phase) must equal
    # the complex recurrence it stands for, output and carried state (real, imaginary parts).
    model = make(ssm_periods=[3, 3, 7], d_state=4).double()
    mix = model.backbone.layers[0].mixer
    x = torch.randn(2, 29, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        y, cache = mix(x, return_cache=True)
        y_ref, hc = _complex_mixer_reference(mix, x)
    assert_close(y, y_ref, atol=1e-11, rtol=1e-9)
    assert_close(cache.ssm[..., 4:7], hc.real, atol=1e-11, rtol=1e-9)
    assert_close(cache.ssm[..., 7:], hc.imag, atol=1e-11, rtol=1e-9)
    assert cache.ssm.shape == (2, mix.d_inner, 4 + 2 * 3)
    assert mix.x_proj.out_features == mix.dt_rank + 2 * (4 + 3) and mix.A_log.shape == (mix.d_inner, 7)


def test_periodic_state_oscillates_with_its_period() -> None:
    # One impulse into the complex state of period 3 (B = C = 1 there, 0 for the real states):
    # y_t = Re(delta (rho w)^t) = delta rho^t cos(2 pi t / 3), rho = exp(delta a). A real decay's
    # response, delta rho^t, never changes sign; this one flips every step that is not a multiple of 3.
    from genomamba.kernels import selective_scan

    mix = make(ssm_periods=[3], d_state=2).double().backbone.layers[0].mixer
    with torch.no_grad():
        mix.A_log.fill_(math.log(0.1))
    L, d = 12, mix.d_inner
    u = torch.zeros(1, d, L, dtype=torch.float64)
    u[..., 0] = 1.0
    delta = torch.full((1, d, L), 0.5, dtype=torch.float64)
    B = torch.zeros(1, L, 3, dtype=torch.float64)
    B[..., 2] = 1.0
    Bs, Cs, A = mix._scan_operands(B, B.clone(), L)
    assert Bs.shape == (1, L, 4) and A.shape == (d, 4)
    with torch.no_grad():
        y = selective_scan(u, delta, A.double(), Bs.transpose(1, 2), Cs.transpose(1, 2))
    t = torch.arange(L, dtype=torch.float64)
    expected = 0.5 * torch.exp(-0.1 * 0.5 * t) * torch.cos(2 * math.pi * t / 3)
    assert_close(y[0], expected.expand(d, L), atol=1e-10, rtol=1e-6)  # A is exp of an fp32 A_log


@pytest.mark.parametrize("periods", [[1], [0], [2.5], [True]])
def test_ssm_periods_must_be_integers_of_at_least_2(periods: list) -> None:
    with pytest.raises(ConfigError, match="ssm_periods"):
        GenomambaConfig(d_model=16, ssm_periods=periods)
