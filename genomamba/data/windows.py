"""Fixed-length window datasets over labelled genomes.

* :class:`RandomWindowDataset` (training): each item is drawn from its own
  ``numpy.random.Generator`` seeded with ``(seed, key)``. The same key always gives the same
  window, whatever the number of workers, and no global RNG is touched. Pair it with
  :class:`EpochKeySampler`, which hands out keys ``epoch * n + i`` so each epoch sees new
  windows (Lightning calls its ``set_epoch``; without Lightning it advances on every pass).
  Sampling: genome label (uniformly, so classes are balanced; or by size) -> record region
  of that label, weighted by the number of valid window starts -> uniform start. Windows
  with more than ``max_n_fraction`` N are redrawn. Optional reverse-complement augmentation
  flips a seeded coin per item.
* :class:`TilingWindowDataset` (evaluation): fixed stride, the same windows every time; a
  final window aligned to each region's end covers the tail (``cover_end``).

A window is only ever cut inside one split interval, so windows of different splits never
overlap. Regions shorter than the window are skipped; if a genome (label) has none long
enough, :class:`~genomamba.errors.WindowError` names its longest record and the fix.

Items are dicts::

    input_ids  LongTensor (L,)   token ids (see DNATokenizer)
    soft_mask  BoolTensor (L,)   lowercase (soft-masked) positions, in window orientation
    label      LongTensor ()     genome label index
    track_ids  LongTensor (L,)   only with tracks: the relative's aligned base codes (A, C, G, T,
                                 N = 0..4; :mod:`genomamba.data.tracks`), in window orientation
    genome, contig, strand: str; start: int (0-based, forward-strand coordinate)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

# The sampler and collate function live in batching.py; re-exported here, their old home.
from genomamba.data.batching import EpochKeySampler, collate_windows
from genomamba.data.fasta import GenomeFile
from genomamba.data.intervals import Interval
from genomamba.data.tokenizer import COMPLEMENT_IDS, N_ID, DNATokenizer
from genomamba.data.tracks import track_codes
from genomamba.errors import ConfigError, WindowError

__all__ = ["EpochKeySampler", "RandomWindowDataset", "TilingWindowDataset", "collate_windows", "fetch_window"]

log = logging.getLogger(__name__)
_TOKENIZER = DNATokenizer()


def fetch_window(
    genome: GenomeFile, contig: str, start: int, end: int, *, strand: str = "+", allow_all_n: bool = False,
    track: GenomeFile | None = None,
) -> dict[str, Any]:
    """Fetch and tokenize one window ``contig[start:end]``.

    Args:
        strand: ``"+"`` or ``"-"`` (reverse complement; ``soft_mask`` is flipped with it).
        allow_all_n: if False, a window made only of N raises :class:`WindowError`.
        track: the genome's relative track (adds ``track_ids``, flipped with the window).

    Returns:
        An item dict (see module docstring) with ``input_ids`` ``(end - start,)``.
    """
    seq = genome.fetch(contig, start, end)
    ids, soft = _TOKENIZER.encode(seq, return_soft_mask=True, source=f"{genome.path}:{contig}:{start}-{end}")
    if not allow_all_n and (ids == N_ID).all():
        raise WindowError(
            f"{genome.path}:{contig}:{start}-{end} contains only N (unsequenced gap); choose another region "
            "or restrict windows with a BED file"
        )
    return _item(genome, contig, start, strand, ids, soft, track)


def _item(
    genome: GenomeFile, contig: str, start: int, strand: str, ids: np.ndarray, soft: np.ndarray,
    track: GenomeFile | None = None,
) -> dict[str, Any]:
    codes = track_codes(track, contig, start, start + len(ids)) if track is not None else None
    if strand == "-":
        ids = COMPLEMENT_IDS[ids][::-1].copy()
        soft = soft[::-1].copy()
        codes = _TOKENIZER.reverse_complement(codes) if codes is not None else None  # track codes are token ids
    elif strand != "+":
        raise ValueError(f"strand must be '+' or '-', got {strand!r}")
    item = {
        "input_ids": torch.from_numpy(ids),
        "soft_mask": torch.from_numpy(np.ascontiguousarray(soft)),
        "label": torch.tensor(genome.label, dtype=torch.long),
        "genome": genome.name,
        "contig": contig,
        "start": int(start),
        "strand": strand,
    }
    if codes is not None:
        item["track_ids"] = torch.from_numpy(codes)
    return item


@dataclass(frozen=True)
class _Region:
    file: int
    contig: str
    start: int
    end: int


def _regions(
    files: Sequence[GenomeFile], intervals: Sequence[Sequence[Interval]], window_length: int, split: str
) -> list[_Region]:
    """Regions (per file) long enough for one window; WindowError if a label has none."""
    if window_length < 1:
        raise ConfigError(f"window_length must be >= 1, got {window_length}")
    if len(files) != len(intervals):
        raise ValueError("need one interval list per genome file")
    out: list[_Region] = []
    for label in sorted({f.label for f in files}):
        members = [i for i, f in enumerate(files) if f.label == label]
        cands = [(i, iv) for i in members for iv in intervals[i]]
        fits = [_Region(i, iv.contig, iv.start, iv.end) for i, iv in cands if iv.length >= window_length]
        if cands and not fits:
            i, iv = max(cands, key=lambda x: x[1].length)
            rec = files[i].lengths[iv.contig]
            if _all_n(files[i], iv):
                raise WindowError(
                    f"the {split} regions of {files[i].path} hold no sequence: the longest, {iv.contig}:{iv.start}-{iv.end}, "
                    "is all N (unsequenced). Give a FASTA with sequence (A/C/G/T), or restrict windows to sequenced "
                    "regions with a BED file."
                )
            raise WindowError(
                f"window_length={window_length} does not fit in any {split} region of {files[i].path}: the longest is "
                f"{iv.contig}:{iv.start}-{iv.end} ({iv.length} bp; record {iv.contig!r} is {rec} bp). "
                f"Use a smaller window_length, or a larger {split} fraction / BED interval."
            )
        skipped = len(cands) - len(fits)
        if skipped:
            log.info(
                "%s split: %d region(s) shorter than %d bp skipped for label %d",
                split,
                skipped,
                window_length,
                label,
            )
        out.extend(fits)
    return out


def _check_tracks(tracks: Sequence[GenomeFile] | None, files: Sequence[GenomeFile]) -> list[GenomeFile] | None:
    if tracks is None:
        return None
    if len(tracks) != len(files):
        raise ValueError(f"need one track per genome file, got {len(tracks)} for {len(files)}")
    return list(tracks)


def _all_n(genome: GenomeFile, iv: Interval) -> bool:
    """True when ``iv`` (shorter than a window here, so cheap to read) is only N."""
    ids = _TOKENIZER.encode(genome.fetch(iv.contig, iv.start, iv.end), source=f"{genome.path}:{iv.contig}")
    return bool((ids == N_ID).all())


class RandomWindowDataset(Dataset):
    """Seeded random windows from split intervals (see module docstring).

    Args:
        files: opened genomes; ``files[i].label`` is the item label.
        intervals: ``intervals[i]`` are the regions of ``files[i]`` windows may come from.
        window_length: ``L``.
        samples_per_epoch: ``len(self)``; keys beyond it (from :class:`EpochKeySampler`) are fine.
        seed: base seed.
        rc_augment: reverse-complement half of the windows (seeded per item).
        max_n_fraction: redraw windows with a larger fraction of N.
        balance_labels: draw labels uniformly (True) or in proportion to their size.
        max_tries: draws per item before giving up with :class:`WindowError`.
        tracks: ``tracks[i]`` is the relative track of ``files[i]`` (items get ``track_ids``).
    """

    def __init__(
        self,
        files: Sequence[GenomeFile],
        intervals: Sequence[Sequence[Interval]],
        window_length: int,
        *,
        samples_per_epoch: int = 10_000,
        seed: int = 0,
        rc_augment: bool = False,
        max_n_fraction: float = 0.1,
        balance_labels: bool = True,
        max_tries: int = 100,
        split: str = "train",
        tracks: Sequence[GenomeFile] | None = None,
    ):
        if not 0 <= max_n_fraction <= 1:
            raise ConfigError(f"max_n_fraction must be in [0, 1], got {max_n_fraction}")
        self.files = list(files)
        self.intervals = [list(x) for x in intervals]
        self.samples_per_epoch = int(samples_per_epoch)
        self.seed = int(seed)
        self.rc_augment = rc_augment
        self.max_n_fraction = float(max_n_fraction)
        self.balance_labels = balance_labels
        self.max_tries = int(max_tries)
        self.split = split
        self.tracks = _check_tracks(tracks, self.files)
        self.set_window_length(window_length)

    def set_window_length(self, window_length: int) -> None:
        """Change ``L`` (sequence-length warm-up); recomputes which regions can host a window."""
        self.window_length = int(window_length)
        regions = _regions(self.files, self.intervals, self.window_length, self.split)
        if not regions:
            raise WindowError(
                f"no {self.split} regions to sample windows from (check the split fractions / BED)"
            )
        self._regions = regions
        labels = sorted({self.files[r.file].label for r in regions})
        self._labels = np.array(labels)
        # Per label: cumulative count of valid window starts over its regions.
        self._cum: list[np.ndarray] = []
        self._members: list[list[_Region]] = []
        for label in labels:
            mem = [r for r in regions if self.files[r.file].label == label]
            self._members.append(mem)
            self._cum.append(np.cumsum([r.end - r.start - self.window_length + 1 for r in mem]))
        sizes = np.array([c[-1] for c in self._cum], dtype=np.float64)
        self._label_p = None if self.balance_labels else sizes / sizes.sum()
        self._label_cum = None if self._label_p is None else np.cumsum(self._label_p)

    def __len__(self) -> int:
        return self.samples_per_epoch

    def sample(self, rng: np.random.Generator) -> tuple[_Region, int, str]:
        """Draw ``(region, start, strand)`` with ``rng``."""
        if self._label_p is None:
            li = int(rng.integers(len(self._labels)))
        else:
            li = min(int(np.searchsorted(self._label_cum, rng.random(), side="right")), len(self._labels) - 1)
        cum = self._cum[li]
        k = int(rng.integers(cum[-1]))
        ri = int(np.searchsorted(cum, k, side="right"))
        region = self._members[li][ri]
        offset = k - (int(cum[ri - 1]) if ri else 0)
        strand = "-" if self.rc_augment and rng.random() < 0.5 else "+"
        return region, region.start + offset, strand

    def __getitem__(self, key: int) -> dict[str, Any]:
        rng = np.random.default_rng((self.seed, int(key)))
        L = self.window_length
        for _ in range(self.max_tries):
            region, start, strand = self.sample(rng)
            f = self.files[region.file]
            seq = f.fetch(region.contig, start, start + L)
            ids, soft = _TOKENIZER.encode(
                seq, return_soft_mask=True, source=f"{f.path}:{region.contig}:{start}-{start + L}"
            )
            if np.count_nonzero(ids == N_ID) <= self.max_n_fraction * L:
                track = self.tracks[region.file] if self.tracks else None
                return _item(f, region.contig, start, strand, ids, soft, track)
        raise WindowError(
            f"could not draw a {self.split} window of {L} bp with at most {self.max_n_fraction:.0%} N in "
            f"{self.max_tries} tries (last: {f.path}:{region.contig}:{start}-{start + L}); the regions are mostly N. "
            "Raise max_n_fraction or restrict the regions with a BED file."
        )


class TilingWindowDataset(Dataset):
    """Deterministic tiling of split intervals with a fixed stride (evaluation).

    Args:
        files, intervals: as for :class:`RandomWindowDataset`.
        window_length: ``L``.
        stride: step between window starts (default ``L``, non-overlapping).
        max_windows: keep this many windows, evenly spaced over the tiling (deterministic).
        max_n_fraction: drop windows with a larger fraction of N (reads the regions once).
        cover_end: add a window ending exactly at each region's end if the stride misses it.
        tracks: as for :class:`RandomWindowDataset`.
    """

    def __init__(
        self,
        files: Sequence[GenomeFile],
        intervals: Sequence[Sequence[Interval]],
        window_length: int,
        *,
        stride: int | None = None,
        max_windows: int | None = None,
        max_n_fraction: float = 1.0,
        cover_end: bool = True,
        split: str = "val",
        tracks: Sequence[GenomeFile] | None = None,
    ):
        self.files = list(files)
        self.intervals = [list(x) for x in intervals]
        self.stride_arg = stride
        self.max_windows = max_windows
        self.max_n_fraction = float(max_n_fraction)
        self.cover_end = cover_end
        self.split = split
        self.tracks = _check_tracks(tracks, self.files)
        self.set_window_length(window_length)

    def set_window_length(self, window_length: int) -> None:
        self.window_length = L = int(window_length)
        stride = self.stride_arg or L
        if stride < 1:
            raise ConfigError(f"stride must be >= 1, got {stride}")
        self.stride = stride
        if self.max_windows is not None and self.max_windows < 1:
            raise ConfigError(f"max_windows must be >= 1 (or None for all), got {self.max_windows}")
        # Compact columns (file, region, start) rather than a list of tuples: a human genome's
        # held-out tiling has ~10^5-10^6 windows, which as Python tuples would cost ~100 bytes each.
        self._contigs: list[str] = []
        files, regions, starts = [], [], []
        all_regions = _regions(self.files, self.intervals, L, self.split)
        for r in all_regions:
            s = np.arange(r.start, r.end - L + 1, stride, dtype=np.int64)
            if self.cover_end and s[-1] != r.end - L:
                s = np.append(s, r.end - L)
            if self.max_n_fraction < 1.0:
                s = self._filter_n(r, s)
            files.append(np.full(len(s), r.file, dtype=np.int32))
            regions.append(np.full(len(s), len(self._contigs), dtype=np.int32))
            starts.append(s)
            self._contigs.append(r.contig)
        self._file = np.concatenate(files) if files else np.zeros(0, np.int32)
        self._region = np.concatenate(regions) if regions else np.zeros(0, np.int32)
        self._start = np.concatenate(starts) if starts else np.zeros(0, np.int64)
        if all_regions and len(self._start) == 0:
            paths = sorted({str(self.files[r.file].path) for r in all_regions})
            raise WindowError(
                f"no {self.split} window of {L} bp in {', '.join(paths)} has at most {self.max_n_fraction:.0%} N: "
                f"the {self.split} regions are (almost) all N (unsequenced). Give a FASTA with sequence, restrict "
                "windows to sequenced regions with a BED file, or raise data.max_n_fraction."
            )
        if self.max_windows is not None and len(self._start) > self.max_windows:
            keep = np.unique(np.linspace(0, len(self._start) - 1, self.max_windows).round().astype(np.int64))
            self._file, self._region, self._start = self._file[keep], self._region[keep], self._start[keep]

    @property
    def windows(self) -> list[tuple[int, str, int]]:
        """``(file index, contig, start)`` of every window (a new list on each access)."""
        return [self._window(i) for i in range(len(self))]

    def _window(self, i: int) -> tuple[int, str, int]:
        return int(self._file[i]), self._contigs[self._region[i]], int(self._start[i])

    def _filter_n(self, r: _Region, starts: np.ndarray, chunk: int = 1 << 23) -> np.ndarray:
        """Keep starts whose window has at most ``max_n_fraction`` N.

        Reads the region in ~8 Mb pieces (plus one window of overlap) so a whole human
        chromosome is never held as int64 ids at once.
        """
        f, L = self.files[r.file], self.window_length
        arr = np.asarray(starts, dtype=np.int64)
        keep = np.zeros(len(arr), dtype=bool)
        for c0 in range(r.start, r.end - L + 1, chunk):
            sel = (arr >= c0) & (arr < c0 + chunk)
            if not sel.any():
                continue
            lo, hi = int(arr[sel].min()), int(arr[sel].max()) + L
            ids = _TOKENIZER.encode(f.fetch(r.contig, lo, hi), source=f"{f.path}:{r.contig}:{lo}-{hi}")
            cum = np.concatenate([[0], np.cumsum(ids == N_ID, dtype=np.int64)])
            s = arr[sel] - lo
            keep[sel] = (cum[s + L] - cum[s]) <= self.max_n_fraction * L
        return arr[keep]

    def __len__(self) -> int:
        return len(self._start)

    def __getitem__(self, i: int) -> dict[str, Any]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"window {i} out of range ({len(self)} windows)")
        fi, contig, start = self._window(i % len(self))
        track = self.tracks[fi] if self.tracks else None
        return fetch_window(self.files[fi], contig, start, start + self.window_length, allow_all_n=True, track=track)
