"""Relative-track models (GenomambaConfig.relative_track): the track is read one position ahead,
starts at zero, survives save/load, and the model refuses what it cannot do."""

from __future__ import annotations

import pytest
import torch

from genomamba.errors import ConfigError, ModelInputError
from genomamba.models import GenomambaConfig, GenomambaLM


def _pair(**kw) -> tuple[GenomambaLM, GenomambaLM]:
    torch.manual_seed(0)
    plain = GenomambaLM(GenomambaConfig(d_model=16, n_layer=2, ssm_periods=[3], **kw))
    track = GenomambaLM(GenomambaConfig(d_model=16, n_layer=2, ssm_periods=[3], relative_track=True, **kw))
    missing = track.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert missing == ["backbone.track_embeddings.weight"]
    return plain, track


def test_a_fresh_track_table_is_zero_so_the_model_equals_its_plain_twin() -> None:
    plain, track = _pair()
    x = torch.randint(0, 4, (2, 30))
    t = torch.randint(0, 5, (2, 30))
    assert torch.equal(track.backbone.track_embeddings.weight, torch.zeros(5, 16))
    torch.testing.assert_close(track(x, track_ids=t).logits, plain(x).logits, rtol=0, atol=0)


def test_the_track_at_t_changes_the_prediction_at_t_minus_1_and_none_before() -> None:
    _, model = _pair()
    with torch.no_grad():
        model.backbone.track_embeddings.weight.normal_()
    x = torch.randint(0, 4, (1, 40))
    t = torch.randint(0, 4, (1, 40))
    t2 = t.clone()
    t2[0, 20] = (t2[0, 20] + 1) % 4
    diff = (model(x, track_ids=t).logits - model(x, track_ids=t2).logits).abs().amax(-1)[0]
    assert diff[:19].max() == 0  # positions before 19 never see the track at 20
    assert diff[19] > 1e-4  # the prediction of base 20 reads the track at 20
    # no track = an all-N track
    torch.testing.assert_close(model(x).logits, model(x, track_ids=torch.full_like(x, 4)).logits)


def test_chunked_cpu_forward_with_a_track_equals_one_pass() -> None:
    _, chunked = _pair(cpu_chunk_len=16)
    one = GenomambaLM(GenomambaConfig(d_model=16, n_layer=2, ssm_periods=[3], relative_track=True, cpu_chunk_len=0))
    with torch.no_grad():
        chunked.backbone.track_embeddings.weight.normal_()
    one.load_state_dict(chunked.state_dict())
    x, t = torch.randint(0, 4, (2, 50)), torch.randint(0, 5, (2, 50))
    torch.testing.assert_close(chunked(x, track_ids=t).logits, one(x, track_ids=t).logits, rtol=1e-5, atol=1e-5)


def test_without_a_track_it_streams_and_steps_as_one_all_n_pass() -> None:
    _, model = _pair()
    with torch.no_grad():
        model.backbone.track_embeddings.weight.normal_()
    x = torch.randint(0, 4, (2, 12))
    whole = model(x).logits
    first = model(x[:, :5], return_state=True)
    rest = model(x[:, 5:9], state=first.state, return_state=True)
    torch.testing.assert_close(torch.cat([first.logits, rest.logits], 1), whole[:, :9], rtol=1e-5, atol=1e-5)
    state = rest.state
    for t in range(9, 12):
        logits, state = model.step(x[:, t], state)
        torch.testing.assert_close(logits, whole[:, t], rtol=1e-5, atol=1e-5)
    assert model.generate(x[0, :4], 3).shape == (7,)


def test_save_and_load_keep_the_track_table(tmp_path) -> None:
    _, model = _pair()
    with torch.no_grad():
        model.backbone.track_embeddings.weight.normal_()
    model.save_pretrained(tmp_path / "m")
    back = GenomambaLM.load(tmp_path / "m")
    assert back.config.relative_track
    torch.testing.assert_close(back.backbone.track_embeddings.weight, model.backbone.track_embeddings.weight)


def test_refusals() -> None:
    plain, model = _pair()
    x = torch.randint(0, 4, (1, 8))
    with pytest.raises(ConfigError, match="relative_track needs a causal model"):
        GenomambaConfig(relative_track=True, bidirectional=True)
    with pytest.raises(ConfigError, match="streaming state with track_ids"):
        model(x, track_ids=x, return_state=True)
    with pytest.raises(ModelInputError, match="does not read a relative track"):
        plain(x, track_ids=x)
    with pytest.raises(ModelInputError, match="track codes must lie in"):
        model(x, track_ids=torch.full_like(x, 5))
    with pytest.raises(ModelInputError, match="shaped like input_ids"):
        model(x, track_ids=x[:, :4])
    with pytest.raises(ConfigError, match="pass --track"):
        model.config.check_track_input(None, "m")
    with pytest.raises(ConfigError, match="drop --track"):
        plain.config.check_track_input("t.fa", "m")
