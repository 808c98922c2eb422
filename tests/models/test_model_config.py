"""GenomambaConfig: defaults, JSON round trip, validation errors."""

from __future__ import annotations

import json

import pytest

from genomamba.errors import ConfigError
from genomamba.models import GenomambaConfig


def test_defaults_match_token_contract() -> None:
    cfg = GenomambaConfig(d_model=32, n_layer=2)
    assert cfg.vocab_size == 9 and cfg.pad_token_id == 5
    assert cfg.complement_map == [3, 2, 1, 0, 4, 5, 6, 7, 8]
    assert cfg.dt_rank == 2  # ceil(32 / 16)
    assert cfg.padded_vocab_size == 16
    assert cfg.is_causal


def test_json_round_trip(tmp_path) -> None:
    cfg = GenomambaConfig(
        d_model=24,
        n_layer=3,
        bidirectional=True,
        bidirectional_combine="concat_proj",
        attn_layers=[1],
        attn_window=8,
        attn_heads=2,
    )
    assert GenomambaConfig.from_json(cfg.to_json()) == cfg
    path = tmp_path / "c.json"
    cfg.to_json(path)
    assert GenomambaConfig.from_json(path) == cfg
    assert GenomambaConfig.from_dict(cfg.to_dict()) == cfg


def test_unknown_key_is_named() -> None:
    d = GenomambaConfig(d_model=16, n_layer=1).to_dict()
    d["d_modle"] = 3
    with pytest.raises(ConfigError, match="d_modle"):
        GenomambaConfig.from_dict(d)
    with pytest.raises(ConfigError, match="d_modle"):
        GenomambaConfig.from_json(json.dumps(d))


def test_bad_json_file_is_named(tmp_path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="broken.json"):
        GenomambaConfig.from_json(path)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"bidirectional_combine": "mul"}, "bidirectional_combine"),
        ({"attn_layers": [5]}, "attn_layers"),
        ({"rc_equivariant": True, "d_model": 15}, "even"),
        ({"complement_map": [0, 1, 2, 3, 4, 5, 6, 7]}, "complement_map"),
        ({"complement_map": [1, 2, 0, 3, 4, 5, 6, 7, 8]}, "involution"),
        ({"attn_layers": [0], "attn_heads": 3}, "attn_heads"),
    ],
)
def test_invalid_values(kwargs, match) -> None:
    base = {"d_model": 16, "n_layer": 2}
    with pytest.raises(ConfigError, match=match):
        GenomambaConfig(**{**base, **kwargs})


def test_model_config_defaults_use_the_tokenizer_vocabulary() -> None:
    from genomamba.data.tokenizer import COMPLEMENT_IDS, PAD_ID, VOCAB_SIZE, DNATokenizer

    cfg = GenomambaConfig()
    assert cfg.vocab_size == VOCAB_SIZE == len(DNATokenizer())
    assert cfg.pad_token_id == PAD_ID
    assert cfg.complement_map == COMPLEMENT_IDS.tolist()
    assert cfg.nucleotide_token_ids == list(DNATokenizer.nucleotide_ids)
