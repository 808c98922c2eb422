"""Species fine-tuning through finetune_main (Hydra compose of configs/finetune.yaml, task=species)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import REPO_ROOT

from genomamba.apps.finetune import main as finetune_main
from genomamba.downstream.finetune import compose_finetune
from genomamba.downstream.species.classifier import SpeciesClassifier
from genomamba.models import GenomambaConfig, GenomambaLM
from genomamba.models.pooling import masked_mean


def test_masked_mean_ignores_padding() -> None:
    h = torch.randn(2, 5, 3)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    h2 = h.clone()
    h2[0, 3:] = 1e6  # garbage at pads must not leak
    torch.testing.assert_close(masked_mean(h2, mask)[0], h[0, :3].mean(0))
    torch.testing.assert_close(masked_mean(h, mask)[1], h[1].mean(0))


def test_finetune_config_composes_with_species_task() -> None:
    cfg = compose_finetune(["model.path=/x", f"paths.data_dir={REPO_ROOT / 'data'}", "task.data.window_length=256"])
    assert cfg.task.name == "species" and cfg.finetune.freeze_backbone is False
    assert cfg.task.data.genomes == str(REPO_ROOT / "data" / "species.tsv")
    assert cfg.trainer.accelerator == "cpu" and cfg.task.data.window_length == 256
    assert cfg.task.data.batch_size == 16 and cfg.finetune.head == "linear"  # from the code signatures


@pytest.fixture(scope="module")
def pretrained_dir(tmp_path_factory):
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("pre") / "model"
    GenomambaLM(GenomambaConfig(d_model=16, n_layer=2)).save_pretrained(d)
    return d


def _overrides(model_dir, run_dir, *extra: str) -> list[str]:
    return [
        f"model.path={model_dir}",
        f"run_dir={run_dir}",
        f"paths.data_dir={REPO_ROOT / 'data'}",
        "task.data.window_length=128",
        "task.data.batch_size=16",
        "task.data.train_samples_per_epoch=512",
        "task.data.n_val_windows=4",
        "task.data.n_test_windows=16",
        "finetune.lr=0.01",
        "finetune.backbone_lr=0.003",
        "finetune.warmup_steps=3",
        "trainer.max_steps=20",
        "trainer.val_check_interval=20",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        *extra,
    ]


def test_finetune_improves_over_chance_and_writes_metrics(pretrained_dir, tmp_path) -> None:
    run = tmp_path / "ft"
    assert finetune_main(_overrides(pretrained_dir, run)) == 0
    m = json.loads((run / "metrics.json").read_text())
    assert m["split"] == "region" and m["chance"] == 0.25 and m["train"]["global_step"] == 20
    cm = np.asarray(m["test"]["confusion_matrix"])
    assert cm.shape == (4, 4) and cm.sum() == 64 and cm.sum(1).tolist() == [16] * 4
    # 4 species: chance 0.25; 64 test windows put 0.4 about 2.8 binomial s.d. above it.
    assert m["test"]["accuracy"] > 0.4, m["test"]["confusion_matrix"]
    lo, hi = m["test"]["accuracy_ci"]
    assert lo < m["test"]["accuracy"] < hi
    # the 4- and 6-mer baselines are scored on the same 64 test windows, and the comparisons are
    # paired; they train on as many windows as the fine-tuning drew (20 x 16 = 80 per species),
    # at least 128 per species
    assert list(m["kmer_baseline"]) == list(m["finetune_vs_kmer"]) == ["k=4", "k=6"]
    for key, k in m["kmer_baseline"].items():
        d = m["finetune_vs_kmer"][key]
        assert k["n"] == 64 and np.asarray(k["confusion_matrix"]).sum(1).tolist() == [16] * 4 and k["n_train"] == 4 * 128
        assert d["n"] == 64 and d["difference"] == pytest.approx(m["test"]["accuracy"] - k["accuracy"])
        assert d["accuracy_a"] == m["test"]["accuracy"] and d["difference_ci"][0] <= d["difference"] <= d["difference_ci"][1]
    assert m["kmer_baseline"]["k=4"]["k"] == 4 and m["kmer_baseline"]["k=6"]["k"] == 6
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["hyper_parameters"]["label_names"] == m["species"]


def test_frozen_backbone_trains_only_the_head(pretrained_dir, tmp_path) -> None:
    run = tmp_path / "frozen"
    assert finetune_main(_overrides(pretrained_dir, run, "finetune.freeze_backbone=true", "task.data.split=strain", "trainer.max_steps=5")) == 0
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)
    before = GenomambaLM.from_pretrained(pretrained_dir).state_dict()
    for k, v in before.items():
        torch.testing.assert_close(ckpt["state_dict"][f"lm.{k}"], v)
    m = json.loads((run / "metrics.json").read_text())
    assert m["split"] == "strain" and m["held_out"]["Staphylococcus aureus"].startswith("strain")


def test_finetune_errors(tmp_path, capsys) -> None:
    assert finetune_main([f"run_dir={tmp_path}"]) == 2
    assert "model.path" in capsys.readouterr().err
    assert finetune_main([f"model.path={tmp_path / 'missing'}", f"run_dir={tmp_path}"]) == 2
    assert "not found" in capsys.readouterr().err
    assert finetune_main(["model.path=x", "finetune.nope=1"]) == 2
    with pytest.raises(Exception, match="head"):
        SpeciesClassifier(GenomambaLM(GenomambaConfig(d_model=8, n_layer=1)), ["a", "b"], head="cnn")


def test_finetune_refuses_test_strains_the_backbone_was_pretrained_on(tmp_path, capsys) -> None:
    """The backbone records S. aureus N315 whole as training data: holding N315 out is refused
    before any run directory exists; JH1 is held out cleanly; allow_seen=true measures N315 and
    says how much was seen."""
    from genomamba.data.fasta import GenomeFile
    from genomamba.data.intervals import Interval
    from genomamba.data.provenance import describe_training_data

    n315 = GenomeFile(REPO_ROOT / "data" / "genomes" / "staphylococcus_aureus_N315.fa.gz")
    torch.manual_seed(0)
    lm = GenomambaLM(GenomambaConfig(d_model=16, n_layer=1))
    lm.training_data = describe_training_data([n315], [[Interval(r, 0, n) for r, n in n315.lengths.items()]])
    lm.save_pretrained(tmp_path / "model")
    n315_bp = sum(n315.lengths.values())

    def strains(sa: str) -> list[str]:
        return ["task.data.split=strain", f'task.data.test_strains=["Staphylococcus aureus={sa}","Klebsiella pneumoniae=MGH 78578"]',
                "trainer.max_steps=3"]

    refused = tmp_path / "refused"
    assert finetune_main(_overrides(tmp_path / "model", refused, *strains("N315"))) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "species finetune: test sequence the model was trained on" in err[0]
    assert f"{n315_bp:,} of {n315_bp:,} bp" in err[0] and "allow_seen" in err[0]
    assert not refused.exists()

    clean = tmp_path / "clean"
    assert finetune_main(_overrides(tmp_path / "model", clean, *strains("JH1"))) == 0
    m = json.loads((clean / "metrics.json").read_text())
    assert m["held_out"]["Staphylococcus aureus"] == "strain JH1" and m["held_out"]["Klebsiella pneumoniae"] == "strain MGH 78578"
    assert m["pretraining_overlap"]["recorded"] is True and m["pretraining_overlap"]["seen_bp"] == {}
    out = capsys.readouterr().out
    assert "pretraining overlap: none" in out and "4-mer baseline on the same windows" in out
    assert "6-mer baseline on the same windows" in out

    seen = tmp_path / "seen"
    with pytest.warns(UserWarning, match="not held out"):
        assert finetune_main(_overrides(tmp_path / "model", seen, *strains("N315"), "allow_seen=true")) == 0
    m = json.loads((seen / "metrics.json").read_text())
    assert list(m["pretraining_overlap"]["seen_bp"].values()) == [n315_bp]
    assert "NOT held out" in capsys.readouterr().out

    assert finetune_main(_overrides(tmp_path / "model", tmp_path / "bad", "task.data.split=strain",
                                    'task.data.test_strains=["Staphylococcus aureus"]')) == 2
    assert "is not 'species=strain'" in capsys.readouterr().err
    assert finetune_main(_overrides(tmp_path / "model", tmp_path / "bad", "task.kmer_k=[4,12]")) == 2
    assert "task.kmer_k must be k values from 1 to 8" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
