"""``GenomeDataModule``: labelled FASTA genomes -> train/val/test window loaders.

Batches are dicts (see :func:`~genomamba.data.windows.collate_windows`)::

    input_ids       (B, L) long     token ids (DNATokenizer)
    soft_mask       (B, L) bool     lowercase (soft-masked) positions
    attention_mask  (B, L) bool     all True here: every window in a batch has length L
    labels          (B,)   long     genome label index into ``label_names``
    track_ids       (B, L) long     with ``track_fasta`` only: the relative's aligned base codes
                                    (A, C, G, T, N = 0..4), same coordinates and strand as input_ids
    start (B,) long; genome, contig, strand: lists of str

Splits (:mod:`genomamba.data.intervals`): with ``holdout_contigs`` (or ``split_by="contig"``)
whole records are held out; otherwise the last ``val_fraction`` (then ``test_fraction``) of
every record is held out, which is what a one-contig bacterial genome needs. Windows never
cross a split boundary. Training windows are random and seeded per item (see
:class:`~genomamba.data.windows.RandomWindowDataset`); validation/test windows are a fixed
tiling, identical on every call.

``set_window_length(L)`` changes the window length of existing datasets (sequence-length
warm-up). Loaders made before the call keep worker copies of the old datasets, so with
Lightning set ``reload_dataloaders_every_n_epochs=1`` when you change ``L`` mid-training.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import lightning as L
from torch.utils.data import DataLoader

from genomamba.data.batching import EpochKeySampler, collate_windows
from genomamba.data.fasta import FastaSpec, GenomeFile, open_genomes
from genomamba.data.intervals import Interval, read_bed, split_intervals
from genomamba.data.provenance import describe_training_data
from genomamba.data.tokenizer import DNATokenizer
from genomamba.data.tracks import open_track
from genomamba.data.windows import RandomWindowDataset, TilingWindowDataset
from genomamba.errors import ConfigError

__all__ = ["GenomeDataModule"]


class GenomeDataModule(L.LightningDataModule):
    """Window loaders over one or several labelled genomes.

    Args:
        fasta: a path (one genome), a list of paths (one label per file), a mapping
            ``label -> path | [paths]``, or a ``.tsv`` species table (``path``, ``species``).
        window_length: window length ``L`` in bases.
        batch_size: windows per batch.
        num_workers: DataLoader workers (pyfaidx is reopened lazily in each).
        seed: seed of the training windows, RC coin flips and any contig shuffle.
        val_fraction, test_fraction: held-out fraction (of each record, or of the bases when
            holding out whole records).
        holdout_contigs: records to hold out whole, a list (validation) or
            ``{"val": [...], "test": [...]}``; implies ``split_by="contig"``.
        bed: BED file(s) restricting where windows come from (all splits).
        max_n_fraction: training windows with more N are redrawn; eval windows are dropped.
        rc_augment: reverse-complement half of the training windows (seeded).
        train_samples_per_epoch: training windows per epoch.
        val_stride: eval tiling stride (default ``window_length``).
        max_val_windows: cap on eval windows (evenly spaced subset, deterministic).
        split_by: ``"auto"`` (contig if ``holdout_contigs`` else region), ``"region"`` or ``"contig"``.
        balance_labels: draw training labels uniformly (True) or by genome size.
        pin_memory: passed to the DataLoaders.
        track_fasta: relative-track FASTA(s) (``genomamba make-relative-track``) for models with
            ``relative_track``: one path per genome file, in the order of ``fasta`` (a single path
            for a single genome). Every window then carries ``track_ids`` cut with the same
            coordinates and reverse-complemented with it.
    """

    def __init__(
        self,
        fasta: FastaSpec,
        window_length: int = 1024,
        batch_size: int = 8,
        num_workers: int = 0,
        seed: int = 0,
        val_fraction: float = 0.05,
        test_fraction: float = 0.0,
        holdout_contigs: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
        bed: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
        max_n_fraction: float = 0.1,
        rc_augment: bool = False,
        train_samples_per_epoch: int = 10_000,
        val_stride: int | None = None,
        max_val_windows: int | None = None,
        split_by: str = "auto",
        balance_labels: bool = True,
        pin_memory: bool = False,
        track_fasta: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    ):
        super().__init__()
        # Recorded in checkpoints so a run's data can be rebuilt; not sent to the logger.
        self.save_hyperparameters(logger=False)
        if window_length < 1 or batch_size < 1 or num_workers < 0 or train_samples_per_epoch < 1:
            raise ConfigError(
                f"need window_length >= 1, batch_size >= 1, num_workers >= 0, train_samples_per_epoch >= 1; got "
                f"{window_length}, {batch_size}, {num_workers}, {train_samples_per_epoch}"
            )
        if train_samples_per_epoch < batch_size:
            raise ConfigError(
                f"train_samples_per_epoch={train_samples_per_epoch} is smaller than batch_size={batch_size}, "
                "so an epoch would have no full batch; raise it or lower batch_size"
            )
        if split_by not in ("auto", "region", "contig"):
            raise ConfigError(f"split_by must be 'auto', 'region' or 'contig', got {split_by!r}")
        self.fasta = fasta
        self.window_length = int(window_length)
        self.batch_size = int(batch_size)
        self.num_workers = int(num_workers)
        self.seed = int(seed)
        self.val_fraction = float(val_fraction)
        self.test_fraction = float(test_fraction)
        self.holdout_contigs = holdout_contigs
        self.bed = bed
        self.max_n_fraction = float(max_n_fraction)
        self.rc_augment = bool(rc_augment)
        self.train_samples_per_epoch = int(train_samples_per_epoch)
        self.val_stride = val_stride
        self.max_val_windows = max_val_windows
        self.split_by = "contig" if split_by == "auto" and holdout_contigs is not None else split_by
        if self.split_by == "auto":
            self.split_by = "region"
        self.balance_labels = balance_labels
        self.pin_memory = pin_memory
        self.track_fasta = track_fasta
        self.tracks: list[GenomeFile] | None = None
        self.tokenizer = DNATokenizer()
        self.files: list[GenomeFile] = []
        self.label_names: list[str] = []
        self.splits: dict[str, list[list[Interval]]] = {}
        self.datasets: dict[str, RandomWindowDataset | TilingWindowDataset] = {}
        self._train_sampler: EpochKeySampler | None = None
        self._resume: tuple[int, int] | None = None  # (epoch, consumed keys) from a checkpoint
        self._training_record: dict[str, Any] | None = None

    # ----------------------------------------------------------------------------- setup
    def prepare_data(self) -> None:
        """Validate the FASTA files and build missing indexes (once, on rank 0)."""
        open_genomes(self.fasta)

    def setup(self, stage: str | None = None) -> None:
        if self.files:
            return
        self.files, self.label_names = open_genomes(self.fasta)
        self.tracks = self._open_tracks()
        allowed = self._read_beds()
        self.splits = {"train": [], "val": [], "test": []}
        for f in self.files:
            parts = split_intervals(
                f.lengths,
                mode=self.split_by,
                val_fraction=self.val_fraction,
                test_fraction=self.test_fraction,
                holdout_contigs=self._holdout_for(f),
                restrict_to=allowed,
                seed=self.seed,
            )
            for k in self.splits:
                self.splits[k].append(parts[k])
        self._build_datasets()

    def _open_tracks(self) -> list[GenomeFile] | None:
        """One checked track per genome file (``track_fasta``), or None."""
        spec = self.track_fasta
        if spec is None:
            return None
        paths = [spec] if isinstance(spec, str | os.PathLike) else list(spec)
        if len(paths) != len(self.files):
            raise ConfigError(
                f"data.track_fasta gives {len(paths)} track(s) for {len(self.files)} genome file(s) "
                f"({', '.join(f.path.name for f in self.files)}); give one track per genome, in the same order"
            )
        return [open_track(p, f, option="data.track_fasta") for p, f in zip(paths, self.files, strict=True)]

    def _holdout_for(self, f: GenomeFile) -> Any:
        """Hold-out records that exist in ``f`` (names may refer to several files)."""
        h = self.holdout_contigs
        if h is None:
            return None

        def records_of_f(names: Sequence[str]) -> list[str]:
            # accession aliases (NC_008253.1 for gi|...|ref|NC_008253.1|) name their record
            found = (f.contigs.get(c, where="holdout_contigs: ") for c in names)
            return [r for r in found if r is not None]

        if isinstance(h, Mapping):
            return {k: records_of_f(v) for k, v in h.items()}
        names = [h] if isinstance(h, str) else list(h)
        missing = [c for c in names if all(g.contigs.get(c) is None for g in self.files)]
        if missing:
            known = {c for g in self.files for c in g.lengths}
            raise ConfigError(
                f"holdout_contigs {missing} are not records of any FASTA; records: {sorted(known)[:20]}"
            )
        return records_of_f(names)

    def _read_beds(self) -> list[Interval] | None:
        if self.bed is None:
            return None
        beds = [self.bed] if isinstance(self.bed, str | os.PathLike) else list(self.bed)
        lengths: dict[str, int] = {}
        for f in self.files:
            lengths.update(f.lengths)
        out = [iv for b in beds for iv in read_bed(b, lengths)]
        if not any(iv.contig in lengths for iv in out):
            raise ConfigError(
                f"no interval of {beds} is on a record of the FASTA (BED records e.g. {out[0].contig!r}; "
                f"FASTA records e.g. {next(iter(lengths))!r}); check the naming (chr1 vs 1)"
            )
        return out

    def _build_datasets(self) -> None:
        self.datasets = {
            "train": RandomWindowDataset(
                self.files,
                self.splits["train"],
                self.window_length,
                samples_per_epoch=self.train_samples_per_epoch,
                seed=self.seed,
                rc_augment=self.rc_augment,
                max_n_fraction=self.max_n_fraction,
                balance_labels=self.balance_labels,
                tracks=self.tracks,
            )
        }
        for split in ("val", "test"):
            if any(self.splits[split]):
                self.datasets[split] = TilingWindowDataset(
                    self.files,
                    self.splits[split],
                    self.window_length,
                    stride=self.val_stride,
                    max_windows=self.max_val_windows,
                    max_n_fraction=self.max_n_fraction,
                    split=split,
                    tracks=self.tracks,
                )

    def set_window_length(self, window_length: int) -> None:
        """Change ``L`` for all datasets (see the module docstring about reloading loaders)."""
        if window_length < 1:
            raise ConfigError(f"window_length must be >= 1, got {window_length}")
        self.window_length = int(window_length)
        for ds in self.datasets.values():
            ds.set_window_length(self.window_length)

    # ----------------------------------------------------------------------------- loaders
    def _loader(self, split: str, **kwargs: Any) -> DataLoader:
        if not self.datasets:
            self.setup()
        if split not in self.datasets:
            raise ConfigError(
                f"no {split} windows: set {split}_fraction > 0 (or holdout_contigs for {split}) to get a {split} loader"
            )
        return DataLoader(
            self.datasets[split],
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            collate_fn=collate_windows,
            pin_memory=self.pin_memory,
            persistent_workers=False,
            **kwargs,
        )

    def train_dataloader(self) -> DataLoader:
        # Under DDP each rank draws its own share of the key stream (see EpochKeySampler); the
        # sampler is a DistributedSampler, so Lightning leaves it as it is.
        rank, world = (self.trainer.global_rank, self.trainer.world_size) if self.trainer else (0, 1)
        s = self._train_sampler
        if s is None or (s.num_samples, s.rank, s.num_replicas) != (self.train_samples_per_epoch, rank, world):
            s = EpochKeySampler(self.train_samples_per_epoch, epoch=s.epoch if s else 0, rank=rank, num_replicas=world)
            self._train_sampler = s
        if self._resume is not None:
            s.resume_at(*self._resume)
            self._resume = None
        return self._loader("train", sampler=s, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def training_record(self) -> dict[str, Any] | None:
        """What the training windows are cut from (:func:`~genomamba.data.provenance.describe_training_data`
        of the train split), saved with the model and its checkpoints for held-out checks; None
        before :meth:`setup`. Hashed once: checkpoints reuse it."""
        if self._training_record is None and self.files and self.splits.get("train") is not None:
            self._training_record = describe_training_data(self.files, self.splits["train"])
        return self._training_record

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    def state_dict(self) -> dict[str, Any]:
        """Where the training window stream stands: the epoch and the keys of it already trained
        on by all ranks together (so ``ckpt_path=last`` continues mid-epoch exactly, each DDP
        rank with its own share of the stream)."""
        trainer = self.trainer
        if trainer is None:
            return {"train_epoch": self._train_sampler.epoch if self._train_sampler else 0, "train_consumed": 0}
        # batches already through training_step in this epoch (Lightning's own counter), on every rank
        batches = trainer.fit_loop.epoch_loop.batch_progress.current.processed
        consumed = batches * self.batch_size * trainer.world_size
        return {"train_epoch": int(trainer.current_epoch), "train_consumed": int(consumed)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        # Applied when the train loader is built, once the trainer's rank and world size are known.
        # Checkpoints written before train_consumed existed resume at the start of the next epoch.
        epoch = int(state_dict.get("train_epoch", 0))
        self._resume = (epoch, int(state_dict["train_consumed"])) if "train_consumed" in state_dict else None
        if self._resume is None:
            self._train_sampler = EpochKeySampler(self.train_samples_per_epoch, epoch=epoch)
