"""Window sampling: bounds, split disjointness, determinism, RC augmentation, N handling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from data_helpers import random_dna

from genomamba.data.fasta import GenomeFile
from genomamba.data.intervals import Interval, split_by_contig, split_by_region
from genomamba.data.tokenizer import DNATokenizer
from genomamba.data.windows import (
    EpochKeySampler,
    RandomWindowDataset,
    TilingWindowDataset,
    _Region,
    collate_windows,
)
from genomamba.errors import WindowError

TOK = DNATokenizer()


@pytest.fixture
def genome(make_fasta):
    recs = {"chrA": random_dna(3001, 1), "chrB": random_dna(1200, 2).lower(), "tiny": random_dna(40, 3)}
    return GenomeFile(make_fasta(recs), label=1), recs


def _inside(item, ivs: list[Interval], L: int) -> bool:
    return any(iv.contains(item["contig"], item["start"], item["start"] + L) for iv in ivs)


@pytest.mark.parametrize("mode", ["region", "contig"])
def test_training_windows_stay_in_train_split(genome, mode: str) -> None:
    g, recs = genome
    L = 97
    splits = (
        split_by_region(g.lengths, val_fraction=0.2, test_fraction=0.1)
        if mode == "region"
        else split_by_contig(g.lengths, holdout_contigs={"val": ["chrB"]})
    )
    ds = RandomWindowDataset([g], [splits["train"]], L, samples_per_epoch=300, seed=1, rc_augment=True)
    held = splits["val"] + splits["test"]
    for key in range(300):
        item = ds[key]
        s = item["start"]
        assert item["input_ids"].shape == (L,) and item["input_ids"].dtype == torch.long
        assert item["soft_mask"].dtype == torch.bool and int(item["label"]) == 1
        assert 0 <= s and s + L <= g.lengths[item["contig"]]
        assert _inside(item, splits["train"], L)
        assert not any(Interval(item["contig"], s, s + L).overlaps(h) for h in held)
        fwd = recs[item["contig"]][s : s + L]
        ids = TOK.encode(fwd)
        expect = ids if item["strand"] == "+" else TOK.reverse_complement(ids)
        assert item["input_ids"].tolist() == expect.tolist()
        soft = np.array([c.islower() for c in fwd])
        assert item["soft_mask"].tolist() == (soft if item["strand"] == "+" else soft[::-1]).tolist()
    # every held-out interval is really excluded: the tiling of val also stays in val
    tiles = TilingWindowDataset([g], [splits["val"]], L, stride=50)
    assert len(tiles) > 0 and all(_inside(tiles[i], splits["val"], L) for i in range(len(tiles)))


def test_sampling_is_seeded_and_rc_augmentation_deterministic(genome) -> None:
    g, _ = genome
    ivs = [[Interval("chrA", 0, 3001)]]

    def draw(seed: int, rc: bool) -> list[tuple]:
        ds = RandomWindowDataset([g], ivs, 64, samples_per_epoch=40, seed=seed, rc_augment=rc)
        return [(x["start"], x["strand"], x["input_ids"].tolist()) for x in (ds[k] for k in range(40))]

    a, b = draw(0, True), draw(0, True)
    assert a == b
    assert draw(1, True) != a
    strands = [s for _, s, _ in a]
    assert 5 < strands.count("-") < 35  # about half reverse-complemented
    assert {s for _, s, _ in draw(0, False)} == {"+"}
    # workers don't change the data: keyed per item, not per worker
    ds = RandomWindowDataset([g], ivs, 64, samples_per_epoch=40, seed=0, rc_augment=True)
    loader = torch.utils.data.DataLoader(ds, batch_size=8, num_workers=2, collate_fn=collate_windows)
    starts = torch.cat([batch["start"] for batch in loader]).tolist()
    assert starts == [s for s, _, _ in a]


def test_windows_cover_whole_interval_uniformly(genome) -> None:
    g, _ = genome
    L = 10
    ds = RandomWindowDataset([g], [[Interval("chrA", 100, 130)]], L, samples_per_epoch=2000, seed=0)
    starts = np.array([ds[k]["start"] for k in range(2000)])
    assert starts.min() == 100 and starts.max() == 120  # both ends reachable, never beyond
    counts = np.bincount(starts - 100)
    assert counts.min() > 50  # ~95 each for 21 positions


def test_epoch_sampler_gives_new_windows_each_epoch(genome) -> None:
    g, _ = genome
    ds = RandomWindowDataset([g], [[Interval("chrA", 0, 3001)]], 32, samples_per_epoch=16, seed=0)
    sampler = EpochKeySampler(16)
    e0, e1 = list(sampler), list(sampler)
    assert e0 == list(range(16)) and e1 == list(range(16, 32))
    sampler.set_epoch(0)
    assert list(sampler) == e0
    assert [ds[k]["start"] for k in e0] != [ds[k]["start"] for k in e1]


def test_sharded_epoch_sampler_splits_the_single_stream_and_resumes_per_rank() -> None:
    n, W, B = 26, 2, 3  # 26 keys per epoch, 2 ranks, per-rank batch 3
    ranks = [EpochKeySampler(n, rank=r, num_replicas=W) for r in range(W)]
    shards = [list(s) for s in ranks]
    assert all(len(x) == len(s) == 13 for x, s in zip(shards, ranks, strict=True))
    assert sorted(shards[0] + shards[1]) == list(range(26))  # together: the single-process epoch
    # step t of W ranks = keys t*W*B .. (t+1)*W*B - 1, the batch of one process with batch W*B
    for t in range(4):
        step = [k for x in shards for k in x[t * B : (t + 1) * B]]
        assert sorted(step) == list(range(t * W * B, (t + 1) * W * B))
    assert list(ranks[1]) == [26 + k for k in shards[1]]  # the next pass is epoch 1
    # resume after 2 steps (12 keys of the global stream): each rank continues its own shard
    for r in range(W):
        s = EpochKeySampler(n, rank=r, num_replicas=W)
        s.resume_at(0, 2 * W * B)
        assert list(s) == shards[r][2 * B :]
        assert list(s) == [26 + k for k in shards[r]]  # and the following epoch is whole
    # the same checkpoint resumed by one process, or by 3 ranks (skip rounded up to a multiple of 3)
    single = EpochKeySampler(n)
    single.resume_at(0, 12)
    assert list(single) == list(range(12, 26))
    three = [EpochKeySampler(n, rank=r, num_replicas=3) for r in range(3)]
    for s in three:
        s.resume_at(0, 13)
    assert sorted(k for s in three for k in s) == list(range(15, 24))  # 24 = 26 // 3 * 3
    with pytest.raises(ValueError):
        EpochKeySampler(n, rank=2, num_replicas=2)


def test_tiling_is_deterministic_and_covers_the_end(genome) -> None:
    g, _ = genome
    ivs = [[Interval("chrA", 0, 1000), Interval("chrB", 100, 1200), Interval("tiny", 0, 40)]]
    t = TilingWindowDataset([g], ivs, 300, stride=250)
    wins = [(c, s) for _, c, s in t.windows]
    assert wins[:4] == [("chrA", 0), ("chrA", 250), ("chrA", 500), ("chrA", 700)]  # 700 = tail window
    assert ("chrB", 900) in wins and all(c != "tiny" for c, _ in wins)  # too-short record skipped
    again = TilingWindowDataset([g], ivs, 300, stride=250)
    assert [again[i]["input_ids"].tolist() for i in range(len(again))] == [
        t[i]["input_ids"].tolist() for i in range(len(t))
    ]
    capped = TilingWindowDataset([g], ivs, 300, stride=250, max_windows=3)
    assert len(capped) == 3 and capped.windows[0] == t.windows[0] and capped.windows[-1] == t.windows[-1]


def test_window_longer_than_record_names_contig_and_length(genome) -> None:
    g, _ = genome
    with pytest.raises(WindowError) as err:
        RandomWindowDataset([g], [[Interval("tiny", 0, 40)]], 64)
    msg = str(err.value)
    assert "tiny" in msg and "40 bp" in msg and str(g.path) in msg and "smaller window_length" in msg
    with pytest.raises(WindowError, match="chrA"):
        TilingWindowDataset([g], [[Interval("chrA", 0, 3001)]], 4000)


def test_n_filter_resamples_and_fails_clearly(make_fasta) -> None:
    seq = "N" * 500 + random_dna(100, 7) + "N" * 500
    g = GenomeFile(make_fasta({"gappy": seq, "gap": "N" * 300}))
    L = 50
    ds = RandomWindowDataset(
        [g], [[Interval("gappy", 0, len(seq))]], L, max_n_fraction=0.1, samples_per_epoch=30
    )
    for k in range(30):
        item = ds[k]
        assert (item["input_ids"] == 4).sum() <= 5
    only_n = RandomWindowDataset([g], [[Interval("gap", 0, 300)]], L, max_n_fraction=0.1, max_tries=20)
    with pytest.raises(WindowError, match="max_n_fraction") as err:
        only_n[0]
    assert "gap" in str(err.value)
    tiles = TilingWindowDataset([g], [[Interval("gappy", 0, len(seq))]], L, stride=10, max_n_fraction=0.1)
    assert len(tiles) > 0 and all(int((tiles[i]["input_ids"] == 4).sum()) <= 5 for i in range(len(tiles)))


def test_collate_pads_and_masks() -> None:
    def item(n: int, label: int) -> dict:
        return {
            "input_ids": torch.arange(n) % 4,
            "soft_mask": torch.ones(n, dtype=torch.bool),
            "label": torch.tensor(label),
            "genome": "g",
            "contig": "c",
            "start": 5,
            "strand": "+",
        }

    b = collate_windows([item(3, 0), item(5, 2)])
    assert b["input_ids"].shape == (2, 5) and b["input_ids"][0, 3:].tolist() == [TOK.pad_id] * 2
    assert b["attention_mask"].tolist() == [[True] * 3 + [False] * 2, [True] * 5]
    assert not b["soft_mask"][0, 3:].any() and b["labels"].tolist() == [0, 2]


def test_label_sampling_balanced_or_by_size(make_fasta) -> None:
    big = GenomeFile(make_fasta({"big": random_dna(9010, 1)}, name="big.fa"), label=0)
    small = GenomeFile(make_fasta({"small": random_dna(1010, 2)}, name="small.fa"), label=1)
    ivs = [[Interval("big", 0, 9010)], [Interval("small", 0, 1010)]]
    for balance, expected in ((True, 0.5), (False, 0.1)):  # valid starts: 9000 vs 1000
        ds = RandomWindowDataset([big, small], ivs, 11, samples_per_epoch=2000, balance_labels=balance)
        frac = np.mean([int(ds[k]["label"]) for k in range(2000)])
        assert abs(frac - expected) < 0.04, (balance, frac)


def test_n_filter_chunked_matches_direct_count(make_fasta) -> None:
    rng = np.random.default_rng(0)
    seq = np.array(list(random_dna(5000, 9)))
    for s in rng.integers(0, 4900, size=12):  # scattered N runs of varying length
        seq[s : s + rng.integers(5, 100)] = "N"
    seq = "".join(seq)
    g = GenomeFile(make_fasta({"c": seq}))
    tiles = TilingWindowDataset([g], [[Interval("c", 0, 5000)]], 64, stride=7, max_n_fraction=0.2)
    expected = [st for st in list(range(0, 4937, 7)) + [4936] if seq[st : st + 64].count("N") <= 0.2 * 64]
    starts = [s for _, _, s in tiles.windows]
    assert starts == expected and 0 < len(starts) < 706
    # small chunks (several pieces per region) give the same answer
    assert tiles._filter_n(_Region(0, "c", 0, 5000), list(range(0, 4937, 7)) + [4936], chunk=100).tolist() == expected
