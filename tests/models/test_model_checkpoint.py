"""Checkpoints: safetensors round trip, Lightning contract, error reporting, HF Mamba parity."""

from __future__ import annotations

import json

import pytest
import torch

from genomamba.errors import CheckpointError
from genomamba.models import GenomambaConfig, GenomambaLM


def make(seed: int = 0, **kw) -> GenomambaLM:
    torch.manual_seed(seed)
    kw.setdefault("d_model", 16)
    kw.setdefault("n_layer", 2)
    return GenomambaLM(GenomambaConfig(**kw)).eval()


IDS = torch.randint(0, 5, (2, 13), generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize(
    "kw",
    [{}, {"tie_embeddings": False}, {"rc_equivariant": True, "attn_layers": [1], "attn_heads": 2},
     {"ssm_periods": [3, 3]}],
)
def test_save_load_round_trip(tmp_path, kw) -> None:
    model = make(**kw)
    out = tmp_path / "ckpt"
    model.save_pretrained(out)
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]
    loaded = GenomambaLM.from_pretrained(out)
    assert loaded.config == model.config
    assert torch.equal(loaded(IDS).logits, model(IDS).logits)


def test_save_overwrites_atomically(tmp_path) -> None:
    out = tmp_path / "ckpt"
    make(seed=0).save_pretrained(out)
    second = make(seed=1)
    second.save_pretrained(out)
    assert torch.equal(GenomambaLM.from_pretrained(out)(IDS).logits, second(IDS).logits)
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]  # no temp dirs left behind


def lightning_ckpt(model: GenomambaLM) -> dict:
    return {
        "epoch": 1,
        "global_step": 10,
        "pytorch-lightning_version": "2.6.0",
        "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
        "hyper_parameters": {"model_config": model.config.to_dict(), "lr": 1e-3},
    }


def test_lightning_checkpoint(tmp_path) -> None:
    model = make(bidirectional=True)
    path = tmp_path / "last.ckpt"
    torch.save(lightning_ckpt(model), path)
    loaded = GenomambaLM.from_lightning_checkpoint(path)
    assert torch.equal(loaded(IDS).logits, model(IDS).logits)


def test_lightning_checkpoint_errors(tmp_path) -> None:
    model = make()
    ck = lightning_ckpt(model)
    del ck["hyper_parameters"]["model_config"]
    path = tmp_path / "noconf.ckpt"
    torch.save(ck, path)
    with pytest.raises(CheckpointError, match="noconf.ckpt.*model_config"):
        GenomambaLM.from_lightning_checkpoint(path)
    ck = lightning_ckpt(model)
    ck["hyper_parameters"]["model_config"]["d_model"] = 32
    torch.save(ck, tmp_path / "shape.ckpt")
    with pytest.raises(CheckpointError, match="shape.ckpt.*shape mismatch"):
        GenomambaLM.from_lightning_checkpoint(tmp_path / "shape.ckpt")
    (tmp_path / "junk.ckpt").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CheckpointError, match="junk.ckpt"):
        GenomambaLM.from_lightning_checkpoint(tmp_path / "junk.ckpt")


def test_corrupt_checkpoints(tmp_path) -> None:
    good = tmp_path / "good"
    make().save_pretrained(good)
    weights = (good / "model.safetensors").read_bytes()

    def variant(name: str, cfg_text: str | None, wbytes: bytes | None):
        d = tmp_path / name
        d.mkdir()
        if cfg_text is not None:
            (d / "config.json").write_text(cfg_text)
        if wbytes is not None:
            (d / "model.safetensors").write_bytes(wbytes)
        return d

    cfg_text = (good / "config.json").read_text()
    cases = {
        variant("truncated", cfg_text, weights[: len(weights) // 2]): "model.safetensors",
        variant("garbage", cfg_text, b"\xff" * 200): "model.safetensors",
        variant("noconfig", None, weights): "config.json",
        variant("badjson", "{oops", weights): "config.json",
        variant("unknownkey", json.dumps({**json.loads(cfg_text), "wings": 2}), weights): "wings",
        variant("mismatch", json.dumps({**json.loads(cfg_text), "n_layer": 3}), weights): "missing keys",
        variant("noweights", cfg_text, None): "model.safetensors",
    }
    for d, match in cases.items():
        with pytest.raises(CheckpointError, match=match) as err:
            GenomambaLM.from_pretrained(d)
        assert str(d) in str(err.value)
    with pytest.raises(CheckpointError, match="not a checkpoint directory"):
        GenomambaLM.from_pretrained(tmp_path / "absent")


@pytest.mark.parametrize("tie", [True, False])
def test_hf_mamba_parity(tmp_path, tie: bool) -> None:
    import transformers  # in the dev extra: a missing install must fail here, not skip
    hf_cfg = transformers.MambaConfig(
        vocab_size=16,
        hidden_size=32,
        state_size=8,
        num_hidden_layers=2,
        conv_kernel=4,
        expand=2,
        tie_word_embeddings=tie,
        use_mambapy=False,
    )
    torch.manual_seed(0)
    hf = transformers.MambaForCausalLM(hf_cfg).eval()
    with torch.no_grad():  # make every tensor non-trivial (HF init leaves some at 0 / 1)
        for p in hf.parameters():
            p.add_(0.1 * torch.randn_like(p))
    ids = torch.randint(0, 16, (2, 21), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = hf(ids).logits
    ours = GenomambaLM.from_hf_mamba(hf.state_dict(), hf_cfg).eval()
    assert ours.config.tie_embeddings == tie
    got = ours(ids).logits
    assert (got - ref).abs().max() < 1e-4
    # the same from a save_pretrained directory, config read from its config.json
    hf.save_pretrained(tmp_path / "hf")
    from_dir = GenomambaLM.from_hf_mamba(tmp_path / "hf")
    assert (from_dir(ids).logits - ref).abs().max() < 1e-4
    # and with the config inferred from tensor shapes alone
    inferred = GenomambaLM.from_hf_mamba(hf.state_dict())
    assert (inferred(ids).logits - ref).abs().max() < 1e-4


def test_hf_mamba_bad_state_dict() -> None:
    with pytest.raises(CheckpointError, match="embeddings"):
        GenomambaLM.from_hf_mamba({"foo": torch.zeros(2)})


def test_shipped_models_load_by_name_and_paths_win(tmp_path, monkeypatch) -> None:
    import genomamba
    from genomamba.errors import CheckpointError
    from genomamba.models import checkpoint, locate

    shipped = tmp_path / "pretrained"
    torch.manual_seed(0)
    GenomambaLM(GenomambaConfig(d_model=16, n_layer=1)).save_pretrained(shipped / "tiny-test")
    monkeypatch.setattr(locate, "PRETRAINED_DIR", shipped)
    assert checkpoint.pretrained_names() == ["tiny-test"]
    model = genomamba.load("tiny-test", device="cpu")
    assert model.d_model == 16
    assert checkpoint.resolve_model_path("tiny-test") == (shipped / "tiny-test", None)
    # A directory of that name in the working directory is a path, and a path wins over a name.
    monkeypatch.chdir(tmp_path)
    GenomambaLM(GenomambaConfig(d_model=24, n_layer=1)).save_pretrained(tmp_path / "tiny-test")
    assert genomamba.load("tiny-test", device="cpu").d_model == 24
    with pytest.raises(CheckpointError, match="shipped model name: tiny-test"):
        genomamba.load("no-such-model")


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_saved_models_and_checkpoints_follow_the_umask(tmp_path, umask) -> None:
    """tempfile makes 0600/0700 entries; after the atomic rename they must read like plain files."""
    import os
    import stat

    from genomamba.training.callbacks import AtomicCheckpointIO

    old = os.umask(umask)
    try:
        GenomambaLM(GenomambaConfig(d_model=16, n_layer=1)).save_pretrained(tmp_path / "model")
        AtomicCheckpointIO().save_checkpoint({"x": torch.zeros(2)}, tmp_path / "ckpt" / "last.ckpt")
    finally:
        os.umask(old)
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert mode(tmp_path / "model") == 0o777 & ~umask
    assert mode(tmp_path / "model" / "model.safetensors") == 0o666 & ~umask
    assert mode(tmp_path / "model" / "config.json") == 0o666 & ~umask
    assert mode(tmp_path / "ckpt" / "last.ckpt") == 0o666 & ~umask


def test_atomic_text_outputs_follow_the_umask(tmp_path) -> None:
    import os
    import stat

    from genomamba.outputs import atomic_write_text

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "scores.tsv", "a\tb\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "scores.tsv").stat().st_mode) == 0o644


def test_training_data_record_travels_with_the_weights(tmp_path) -> None:
    model = make()
    assert model.training_data is None  # a fresh model knows no training data
    model.save_pretrained(tmp_path / "plain")
    assert not (tmp_path / "plain" / "training_data.json").exists()
    assert GenomambaLM.from_pretrained(tmp_path / "plain").training_data is None

    record = {"format": 1, "records": [{"fasta": "g.fa", "record": "chr", "length": 10, "sha256": "ab", "intervals": [[0, 8]]}]}
    model.training_data = record
    model.save_pretrained(tmp_path / "ckpt")
    assert GenomambaLM.from_pretrained(tmp_path / "ckpt").training_data == record

    bad = tmp_path / "ckpt" / "training_data.json"
    for text, words in (("{", "invalid JSON"), ('{"records": [{"sha256": "ab"}]}', "not a training-data record")):
        bad.write_text(text)
        with pytest.raises(CheckpointError, match=f"training_data.json: .*{words}.*delete the file"):
            GenomambaLM.from_pretrained(tmp_path / "ckpt")


def test_model_config_and_training_record_without_the_weights(tmp_path) -> None:
    """What a workflow reads while parsing its config: the config (and record) of a save_pretrained
    directory, a run directory or a .ckpt, with no weights loaded; and the track pairing it checks."""
    from genomamba.errors import ConfigError
    from genomamba.models.checkpoint import load_model_config, load_training_record

    cfg = GenomambaConfig(d_model=16, n_layer=1, relative_track=True)
    model = GenomambaLM(cfg)
    model.training_data = {"records": [{"sha256": "0" * 64, "length": 10, "intervals": [[0, 10]]}]}
    model.save_pretrained(tmp_path / "run" / "model")
    (tmp_path / "run" / "model" / "model.safetensors").write_bytes(b"not read")
    ckpt = tmp_path / "m.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"model_config": cfg.to_dict()}}, ckpt)
    for where in (tmp_path / "run", tmp_path / "run" / "model", ckpt):
        assert load_model_config(where) == cfg
    assert load_training_record(tmp_path / "run")["records"][0]["length"] == 10 and load_training_record(ckpt) is None
    with pytest.raises(ConfigError, match=r"reads a relative track \(config.relative_track\); set track to <the genome"):
        cfg.check_track_input(None, "the model m", option="track")
    with pytest.raises(ConfigError, match=r"--track t.fa: the model m does not read a relative track; drop --track"):
        GenomambaConfig().check_track_input("t.fa", "the model m")
    with pytest.raises(CheckpointError, match="model not found"):
        load_model_config(tmp_path / "nothing")


def test_device_names_are_checked_without_torch() -> None:
    import subprocess
    import sys

    code = ("import sys; from genomamba.devices import check_device_name as c; "
            "assert [c(d) for d in ('auto', 'cpu', 'cuda', 'cuda:1', 'mps')]; assert 'torch' not in sys.modules\n"
            "try:\n    c('gpu', option='device')\nexcept Exception as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "device='gpu' is not a device name; use 'cpu', 'cuda', 'cuda:N', 'mps' or 'auto'"
