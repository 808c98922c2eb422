"""GenomeDataModule on the bundled real genomes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from data_helpers import random_dna

from genomamba.data import GenomeDataModule
from genomamba.data.intervals import Interval
from genomamba.errors import ConfigError, WindowError

ECOLI_CONTIG = "gi|110640213|ref|NC_008253.1|"
ECOLI_LEN = 4_938_920


@pytest.fixture(scope="module")
def ecoli(data_dir: Path) -> Path:
    return data_dir / "genomes" / "escherichia_coli_536.fa.gz"


def test_batches_shapes_dtypes_and_split(ecoli: Path) -> None:
    dm = GenomeDataModule(
        ecoli,
        window_length=256,
        batch_size=4,
        train_samples_per_epoch=32,
        val_fraction=0.05,
        test_fraction=0.02,
        max_val_windows=10,
        rc_augment=True,
    )
    dm.setup("fit")
    assert dm.label_names == ["escherichia_coli_536"] and dm.tokenizer.vocab_size == 9
    train_end = ECOLI_LEN - round(ECOLI_LEN * 0.02) - round(ECOLI_LEN * 0.05)
    assert dm.splits["train"] == [[Interval(ECOLI_CONTIG, 0, train_end)]]
    loader = dm.train_dataloader()
    assert len(loader) == 8
    for batch in loader:
        assert batch["input_ids"].shape == (4, 256) and batch["input_ids"].dtype == torch.long
        assert batch["soft_mask"].shape == (4, 256) and batch["soft_mask"].dtype == torch.bool
        assert batch["labels"].shape == (4,) and batch["labels"].dtype == torch.long
        assert batch["attention_mask"].all() and (batch["labels"] == 0).all()
        assert int(batch["input_ids"].max()) <= 4
        # the single contig's held-out tail never appears in training windows
        assert ((batch["start"] + 256) <= train_end).all()
    val = list(dm.val_dataloader())
    assert sum(len(b["labels"]) for b in val) == 10
    assert all(int(s) >= train_end for b in val for s in b["start"])
    test_starts = [int(s) for b in dm.test_dataloader() for s in b["start"]]
    assert min(test_starts) >= ECOLI_LEN - round(ECOLI_LEN * 0.02) and max(test_starts) == ECOLI_LEN - 256


def test_validation_is_deterministic_and_training_varies_by_epoch(ecoli: Path) -> None:
    def make() -> GenomeDataModule:
        dm = GenomeDataModule(
            ecoli, window_length=128, batch_size=8, train_samples_per_epoch=16, max_val_windows=16, seed=7
        )
        dm.setup()
        return dm

    a, b = make(), make()
    va = [x["input_ids"] for x in a.val_dataloader()]
    assert torch.equal(torch.cat(va), torch.cat([x["input_ids"] for x in a.val_dataloader()]))
    assert torch.equal(torch.cat(va), torch.cat([x["input_ids"] for x in b.val_dataloader()]))
    # same seed -> same training stream; successive epochs differ
    ta = [x["start"] for x in a.train_dataloader()]
    tb = [x["start"] for x in b.train_dataloader()]
    assert torch.equal(torch.cat(ta), torch.cat(tb))
    loader = a.train_dataloader()
    from lightning.fabric.utilities.data import _set_sampler_epoch

    _set_sampler_epoch(loader, 0)
    e0 = torch.cat([x["start"] for x in loader])
    _set_sampler_epoch(loader, 1)
    e1 = torch.cat([x["start"] for x in loader])
    assert torch.equal(e0, torch.cat(ta)) and not torch.equal(e0, e1)


def test_set_window_length(ecoli: Path) -> None:
    dm = GenomeDataModule(ecoli, window_length=64, batch_size=2, train_samples_per_epoch=4, max_val_windows=4)
    dm.setup()
    dm.set_window_length(200)
    assert next(iter(dm.train_dataloader()))["input_ids"].shape == (2, 200)
    assert next(iter(dm.val_dataloader()))["input_ids"].shape == (2, 200)
    with pytest.raises(WindowError, match=ECOLI_CONTIG.replace("|", r"\|")):
        dm.set_window_length(ECOLI_LEN)


def test_multi_species_labels_balanced(data_dir: Path) -> None:
    dm = GenomeDataModule(
        data_dir / "species.tsv",
        window_length=512,
        batch_size=32,
        train_samples_per_epoch=256,
        max_val_windows=8,
    )
    dm.setup()
    assert dm.num_labels == 4 and len(dm.files) == 6
    labels = torch.cat([b["labels"] for b in dm.train_dataloader()])
    counts = torch.bincount(labels, minlength=4)
    assert counts.min() > 35  # balanced: ~64 each
    # every genome file of a label contributes (two strains per species for labels 1 and 2)
    genomes = {g for b in dm.train_dataloader() for g in b["genome"]}
    assert len(genomes) == 6


def test_holdout_contigs_and_bed(make_fasta, tmp_path: Path) -> None:
    fa = make_fasta({"chr1": random_dna(2000, 1), "chr2": random_dna(1500, 2), "chr3": random_dna(900, 3)})
    dm = GenomeDataModule(
        fa,
        window_length=100,
        batch_size=5,
        train_samples_per_epoch=50,
        holdout_contigs={"val": ["chr2"], "test": ["chr3"]},
    )
    dm.setup()
    assert {c for b in dm.train_dataloader() for c in b["contig"]} == {"chr1"}
    assert {c for b in dm.val_dataloader() for c in b["contig"]} == {"chr2"}
    assert {c for b in dm.test_dataloader() for c in b["contig"]} == {"chr3"}
    bed = tmp_path / "keep.bed"
    bed.write_text("chr1\t500\t900\n")
    dm = GenomeDataModule(
        fa, window_length=100, batch_size=5, train_samples_per_epoch=50, val_fraction=0.0, bed=bed
    )
    dm.setup()
    starts = torch.cat([b["start"] for b in dm.train_dataloader()])
    assert starts.min() >= 500 and (starts + 100).max() <= 900
    with pytest.raises(ConfigError, match="val_fraction"):
        dm.val_dataloader()
    with pytest.raises(ConfigError, match="no full batch"):
        GenomeDataModule(fa, batch_size=8, train_samples_per_epoch=4)
    with pytest.raises(ConfigError, match="chr9"):
        GenomeDataModule(fa, holdout_contigs=["chr9"]).setup()
