"""Checkpoint I/O: safetensors directories, Lightning ``.ckpt`` files, HuggingFace Mamba import.

Also where a model is loaded from a path or a shipped name (:func:`load_model`; the path itself is
found by :func:`genomamba.models.locate.resolve_model_path`, re-exported here). Loaders take
the model class ``cls`` to build (``GenomambaLM`` or a subclass): this module never imports
``genomamba.models.model``, which calls into it, so the two do not import each other.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from genomamba.errors import CheckpointError, ConfigError
from genomamba.models.config import GenomambaConfig
from genomamba.models.locate import (  # noqa: F401 (re-exported: the torch-free home of model paths)
    CONFIG_NAME,
    PRETRAINED_DIR,
    pretrained_names,
    resolve_model_path,
)
from genomamba.outputs import OutputError, json_text, match_umask

if TYPE_CHECKING:
    from genomamba.models.model import GenomambaLM

ModelT = TypeVar("ModelT", bound="GenomambaLM")

WEIGHTS_NAME = "model.safetensors"
# What the weights were trained on (genomamba.data.provenance); optional.
TRAINING_DATA_NAME = "training_data.json"
# The same record inside Lightning checkpoints written by genomamba train (.ckpt files).
CKPT_TRAINING_DATA_KEY = "genomamba_training_data"


# Keys of a run's ``data`` config that define its held-out split.
SPLIT_KEYS = ("window_length", "val_fraction", "test_fraction", "holdout_contigs", "seed", "max_n_fraction", "bed")


def run_config(run_dir: Path | None) -> dict[str, Any]:
    """A run directory's resolved ``config.yaml`` (written by ``train()``) as a dict, or {}."""
    path = run_dir / "config.yaml" if run_dir is not None else None
    if path is None or not path.is_file():
        return {}
    from omegaconf import OmegaConf

    return OmegaConf.to_container(OmegaConf.load(path), resolve=False)  # type: ignore[return-value]


def load_model(cls: type[ModelT], path_or_name: str | os.PathLike[str]) -> tuple[ModelT, dict[str, Any]]:
    """Load ``cls`` from a save_pretrained dir, a run dir, a ``.ckpt`` or a shipped model's name.

    Returns ``(model, split)``: ``split`` holds the run's data split settings (``SPLIT_KEYS``)
    when the model came from a training run, else {}.
    """
    target, run_dir = resolve_model_path(path_or_name)
    model = load_lightning_checkpoint(cls, target) if target.is_file() else load_pretrained(cls, target)
    data = run_config(run_dir).get("data") or {}
    return model, {k: data[k] for k in SPLIT_KEYS if k in data}


def save_pretrained(model: GenomambaLM, directory: str | Path) -> Path:
    """Write config.json + model.safetensors into ``directory`` atomically.

    Files go to a temporary sibling directory that then replaces ``directory`` with
    ``os.replace``, so readers never see a half-written checkpoint. Tied LM-head weights are
    not stored separately (the head reuses the embedding).
    """
    directory = Path(directory)
    if directory.exists():  # replaced whole below: only a file-less directory or an earlier saved model may go
        if not directory.is_dir():
            raise OutputError(f"{directory} is a file, not a model directory; save the model to another path")
        other = sorted(set(os.listdir(directory)) - {CONFIG_NAME, WEIGHTS_NAME, TRAINING_DATA_NAME})
        if other:
            raise OutputError(
                f"{directory} holds {', '.join(other[:3])}{' ...' if len(other) > 3 else ''}, which is not a saved model; "
                "saving there would replace the directory and everything in it: save the model to a new or empty directory"
            )
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp-", dir=directory.parent))
    try:
        model.config.to_json(tmp / CONFIG_NAME)
        tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(tensors, str(tmp / WEIGHTS_NAME), metadata={"format": "pt"})
        if getattr(model, "training_data", None) is not None:
            (tmp / TRAINING_DATA_NAME).write_text(json_text(model.training_data, indent=1) + "\n")
        match_umask(tmp)
        old = None
        if directory.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{directory.name}.old-", dir=directory.parent))
            os.replace(directory, old / "ckpt")
        os.replace(tmp, directory)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def _load_state_dict(model: GenomambaLM, sd: dict[str, Tensor], source: str, fix: str) -> None:
    """Strict load with a message listing missing / unexpected / mis-shaped keys."""
    own = model.state_dict()
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    shapes = [
        f"{k}: checkpoint {tuple(sd[k].shape)} vs model {tuple(own[k].shape)}"
        for k in sorted(set(own) & set(sd))
        if sd[k].shape != own[k].shape
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing keys {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected keys {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}")
        if shapes:
            parts.append(f"shape mismatches {shapes[:5]}")
        raise CheckpointError(f"{source}: weights do not match the model config ({'; '.join(parts)}). {fix}")
    model.load_state_dict(sd, strict=True)


def _config_from_dict(d: Any, source: str) -> GenomambaConfig:
    try:
        return GenomambaConfig.from_dict(dict(d), source=source)
    except (ConfigError, TypeError, ValueError) as e:
        raise CheckpointError(f"{source}: invalid model config ({e}); re-save the checkpoint") from e


def _pretrained_config(directory: Path) -> GenomambaConfig:
    """The model config of a :func:`save_pretrained` directory (its ``config.json``)."""
    cfg_path = directory / CONFIG_NAME
    fix = "re-export it with GenomambaLM.save_pretrained"
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: not a checkpoint directory; {fix}")
    if not cfg_path.is_file():
        raise CheckpointError(f"{cfg_path}: missing; a checkpoint directory needs {CONFIG_NAME}; {fix}")
    try:
        cfg_dict = json.loads(cfg_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{cfg_path}: unreadable or invalid JSON ({e}); {fix}") from e
    if not isinstance(cfg_dict, dict):
        raise CheckpointError(f"{cfg_path}: expected a JSON object; {fix}")
    return _config_from_dict(cfg_dict, str(cfg_path))


def load_model_config(path_or_name: str | os.PathLike[str]) -> GenomambaConfig:
    """The :class:`GenomambaConfig` of a model (any form :func:`resolve_model_path` accepts)
    without building it: what a workflow reads while parsing its config, to check that the
    model and its inputs fit together (a relative track exactly for a relative-track model).

    Raises:
        CheckpointError: the model is missing or its config unreadable.
    """
    target, _ = resolve_model_path(path_or_name)
    if target.is_dir():
        return _pretrained_config(target)
    ckpt = _read_lightning_checkpoint(target, map_location="cpu", weights_only=True, mmap=True)
    return _config_from_dict(ckpt["hyper_parameters"]["model_config"], f"{target} [hyper_parameters.model_config]")


def load_training_record(path_or_name: str | os.PathLike[str]) -> dict[str, Any] | None:
    """What a model was trained on (its training-data record, :mod:`genomamba.data.provenance`)
    without building it, or None when it records nothing; for checks made before a model loads.

    Raises:
        CheckpointError: the model is missing or its record unreadable.
    """
    target, _ = resolve_model_path(path_or_name)
    if target.is_dir():
        return _read_training_data(target / TRAINING_DATA_NAME)
    record = _read_lightning_checkpoint(target, map_location="cpu", weights_only=True, mmap=True).get(CKPT_TRAINING_DATA_KEY)
    return None if record is None else _check_training_record(record, f"{target} [{CKPT_TRAINING_DATA_KEY}]", "load the run's model/ directory instead")


def load_pretrained(
    cls: type[ModelT], directory: str | Path, map_location: str | torch.device = "cpu"
) -> ModelT:
    """Load a directory written by :func:`save_pretrained`."""
    directory = Path(directory)
    cfg_path, w_path = directory / CONFIG_NAME, directory / WEIGHTS_NAME
    fix = "re-export it with GenomambaLM.save_pretrained"
    cfg = _pretrained_config(directory)
    if not w_path.is_file():
        raise CheckpointError(f"{w_path}: missing; {fix}")
    try:
        sd = load_file(str(w_path), device=str(map_location))
    except Exception as e:  # safetensors raises SafetensorError / OSError / ValueError on corruption
        raise CheckpointError(f"{w_path}: corrupt or truncated safetensors file ({e}); {fix}") from e
    model = cls(cfg)
    _load_state_dict(model, sd, str(w_path), f"Check that {cfg_path} belongs to these weights.")
    model.training_data = _read_training_data(directory / TRAINING_DATA_NAME)
    return model.to(map_location)


def _read_training_data(path: Path) -> dict[str, Any] | None:
    """The training-data record saved beside the weights, or None when there is none."""
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: unreadable or invalid JSON ({e}); delete the file (the weights load "
                              "without it, but held-out checks are then skipped)") from None
    return _check_training_record(record, str(path), "delete the file or rewrite it with genomamba.data.provenance")


def _check_training_record(record: Any, where: str, fix: str) -> dict[str, Any]:
    if not isinstance(record, dict) or not isinstance(record.get("records"), list) or not all(
        isinstance(r, dict) and {"sha256", "length", "intervals"} <= set(r) for r in record["records"]
    ):
        raise CheckpointError(f"{where}: not a training-data record (needs 'records' with sha256, length and "
                              f"intervals each); {fix}")
    return record


def _read_lightning_checkpoint(
    path: Path, map_location: str | torch.device = "cpu", weights_only: bool = True, mmap: bool = False
) -> dict[str, Any]:
    """The dict of a Lightning checkpoint with a ``state_dict`` and ``hyper_parameters.model_config``."""
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic != b"PK\x03\x04":  # torch.save writes a zip archive; a FASTA, a VCF or a text note does not
        kind = "a text file" if magic[:1] in (b">", b"#") or magic.isascii() else "not a zip archive"
        raise CheckpointError(f"{path}: not a torch checkpoint ({kind}); pass a .ckpt written by genomamba train, a "
                              "save_pretrained directory, a run directory or a shipped model's name")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=weights_only, mmap=mmap)
    except Exception as e:  # zip / pickle / EOF errors on corrupt files
        lines = [ln.strip() for ln in str(e).strip().splitlines() if ln.strip()] or [type(e).__name__]
        first = next((ln for ln in lines if "WeightsUnpickler error" in ln), lines[0])[:200]
        if "Unsupported global" in str(e):  # a real checkpoint holding objects the safe loader refuses
            raise CheckpointError(
                f"{path}: holds Python objects that the safe checkpoint loader refuses ({first}). If you trust "
                "the file, convert it once in Python with GenomambaLM.from_lightning_checkpoint("
                "path, weights_only=False).save_pretrained('model_dir') and use model_dir"
            ) from e
        raise CheckpointError(
            f"{path}: not a readable torch checkpoint ({type(e).__name__}: {first}); it is truncated, corrupt or "
            "another kind of file. Pass a .ckpt written by genomamba train or a save_pretrained directory"
        ) from e
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise CheckpointError(f"{path}: no 'state_dict' entry; not a Lightning checkpoint")
    hp = ckpt.get("hyper_parameters") or {}
    if "model_config" not in hp:
        raise CheckpointError(
            f"{path}: hyper_parameters has no 'model_config'; save the LightningModule with "
            "save_hyperparameters(model_config=config.to_dict())"
        )
    return ckpt


def load_lightning_checkpoint(
    cls: type[ModelT], path: str | Path, map_location: str | torch.device = "cpu", weights_only: bool = True
) -> ModelT:
    """Load a Lightning checkpoint saved by genomamba's training module.

    Contract: ``ckpt["state_dict"]`` holds the LM's weights under the prefix ``model.`` and
    ``ckpt["hyper_parameters"]["model_config"]`` is the GenomambaConfig dict. Loads with
    ``weights_only=True`` (no arbitrary code); pass False only for trusted files whose
    hyper-parameters hold non-primitive objects.
    """
    path = Path(path)
    ckpt = _read_lightning_checkpoint(path, map_location, weights_only)
    hp = ckpt["hyper_parameters"]
    cfg = _config_from_dict(hp["model_config"], f"{path} [hyper_parameters.model_config]")
    prefix = "model."
    sd = {k[len(prefix) :]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
    if not sd:
        raise CheckpointError(
            f"{path}: no state_dict keys start with {prefix!r}; not a genomamba LM checkpoint"
        )
    model = cls(cfg)
    _load_state_dict(model, sd, str(path), "The checkpoint does not belong to its model_config.")
    record = ckpt.get(CKPT_TRAINING_DATA_KEY)
    if record is not None:  # written by GenomambaLitModule.on_save_checkpoint
        model.training_data = _check_training_record(
            record, f"{path} [{CKPT_TRAINING_DATA_KEY}]",
            "load the run's model/ directory instead, or convert the weights with save_pretrained")
    return model.to(map_location)


# -- HuggingFace transformers MambaForCausalLM ---------------------------------------------
def _hf_config_to_ours(hf: Any, sd: dict[str, Tensor]) -> GenomambaConfig:
    """Translate a transformers MambaConfig (object or config.json dict) to GenomambaConfig."""
    g = hf.get if isinstance(hf, dict) else lambda k, default=None: getattr(hf, k, default)
    if g("hidden_act", "silu") != "silu":
        raise CheckpointError(f"HF Mamba config: hidden_act={g('hidden_act')!r} unsupported (only 'silu')")
    d_model = int(g("hidden_size"))
    rank = g("time_step_rank", "auto")
    rank = math.ceil(d_model / 16) if rank == "auto" else int(rank)
    vocab = int(sd["backbone.embeddings.weight"].shape[0])
    kw: dict[str, Any] = dict(
        d_model=d_model,
        n_layer=int(g("num_hidden_layers")),
        d_state=int(g("state_size", 16)),
        d_conv=int(g("conv_kernel", 4)),
        expand=int(g("expand", 2)),
        dt_rank=rank,
        vocab_size=vocab,
        pad_vocab_size_multiple=1,  # HF stores the (already padded) vocab as-is
        tie_embeddings=bool(g("tie_word_embeddings", True)),
        rms_norm_eps=float(g("layer_norm_epsilon", 1e-5)),
        residual_in_fp32=bool(g("residual_in_fp32", True)),
        conv_bias=bool(g("use_conv_bias", True)),
        proj_bias=bool(g("use_bias", False)),
        dt_min=float(g("time_step_min", 1e-3)),
        dt_max=float(g("time_step_max", 1e-1)),
        dt_init_floor=float(g("time_step_floor", 1e-4)),
    )
    if vocab != len(GenomambaConfig().complement_map):
        kw["complement_map"] = list(range(vocab))  # unknown vocabulary: no complement pairing
        kw["nucleotide_token_ids"] = list(range(vocab))
        pad = g("pad_token_id", 0)
        kw["pad_token_id"] = int(pad) if pad is not None else 0
    return GenomambaConfig(**kw)


def _infer_hf_config(sd: dict[str, Tensor]) -> dict[str, Any]:
    """Recover a MambaConfig-style dict from tensor shapes when no config is given."""
    n_layer = 1 + max(int(k.split(".")[2]) for k in sd if k.startswith("backbone.layers."))
    emb = sd["backbone.embeddings.weight"]
    p = "backbone.layers.0.mixer."
    d_inner, n = sd[p + "A_log"].shape
    tie = "lm_head.weight" not in sd or torch.equal(sd["lm_head.weight"], emb)
    return {
        "hidden_size": emb.shape[1],
        "num_hidden_layers": n_layer,
        "state_size": n,
        "conv_kernel": sd[p + "conv1d.weight"].shape[-1],
        "expand": d_inner // emb.shape[1],
        "time_step_rank": sd[p + "dt_proj.weight"].shape[1],
        "use_conv_bias": p + "conv1d.bias" in sd,
        "use_bias": p + "in_proj.bias" in sd,
        "tie_word_embeddings": tie,
    }


def load_hf_mamba(
    cls: type[ModelT], state_dict_or_dir: dict[str, Tensor] | str | Path, config: Any = None
) -> ModelT:
    """Build a GenomambaLM from a ``MambaForCausalLM`` state dict or ``save_pretrained`` directory.

    ``config``: a transformers ``MambaConfig``, its dict, or None (read ``config.json`` from
    the directory, else infer sizes from tensor shapes with HF defaults for the rest).
    Parameter names match 1:1 (embeddings, layers.i.{norm, mixer.*}, norm_f, lm_head).
    """
    source = "HF state dict"
    if isinstance(state_dict_or_dir, (str, Path)):
        d = Path(state_dict_or_dir)
        source = str(d)
        if config is None and (d / "config.json").is_file():
            try:
                config = json.loads((d / "config.json").read_text())
            except (OSError, json.JSONDecodeError) as e:
                raise CheckpointError(f"{d / 'config.json'}: invalid JSON ({e})") from e
        if (d / "model.safetensors").is_file():
            try:
                sd = load_file(str(d / "model.safetensors"))
            except Exception as e:
                raise CheckpointError(f"{d / 'model.safetensors'}: corrupt safetensors file ({e})") from e
        elif (d / "pytorch_model.bin").is_file():
            sd = torch.load(d / "pytorch_model.bin", map_location="cpu", weights_only=True)
        else:
            raise CheckpointError(
                f"{d}: no model.safetensors or pytorch_model.bin; not a HF checkpoint directory"
            )
    else:
        sd = dict(state_dict_or_dir)
    if "backbone.embeddings.weight" not in sd:
        raise CheckpointError(
            f"{source}: no 'backbone.embeddings.weight'; not a HF MambaForCausalLM checkpoint"
        )
    cfg = _hf_config_to_ours(config if config is not None else _infer_hf_config(sd), sd)
    if cfg.tie_embeddings:
        sd.pop("lm_head.weight", None)
    model = cls(cfg)
    _load_state_dict(model, sd, source, "Pass the matching transformers MambaConfig as `config`.")
    return model
