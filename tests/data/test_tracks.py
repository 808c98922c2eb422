"""Track FASTAs: written atomically, checked against their genome, cut and flipped with the windows."""

from __future__ import annotations

import numpy as np
import pytest
from data_helpers import random_dna, write_fasta

from genomamba.data import GenomeDataModule
from genomamba.data.fasta import GenomeFile
from genomamba.data.tokenizer import DNATokenizer
from genomamba.data.tracks import open_track, track_codes
from genomamba.errors import ConfigError


@pytest.fixture()
def genome_and_track(tmp_path):
    seqs = {"chr1": random_dna(3000, seed=1), "chr2": random_dna(2000, seed=2)}
    tracks = {"chr1": random_dna(3000, seed=3, alphabet="ACGTNNN"), "chr2": random_dna(2000, seed=4, alphabet="ACGTN")}
    return write_fasta(tmp_path / "g.fa", seqs), write_fasta(tmp_path / "t.fa", tracks), seqs, tracks


@pytest.mark.parametrize("name", ["track.fa", "track.fa.gz"])
def test_write_track_fasta_round_trips_through_pyfaidx(tmp_path, name) -> None:
    from genomamba.apps.make_relative_track import write_track_fasta

    codes = {"a": np.array([0, 1, 2, 3, 4, 4, 0], dtype=np.int64), "b": np.arange(5, dtype=np.int64)}
    out = write_track_fasta(codes, tmp_path / "sub" / name, "relative_track relative=r.fa")
    track = GenomeFile(out)
    assert track.fetch("a", 0, 7) == "ACGTNNA"
    assert track_codes(track, "b", 0, 5).tolist() == [0, 1, 2, 3, 4]
    assert [p.name for p in (tmp_path / "sub").iterdir() if p.name.endswith(".tmp")] == []


def test_track_codes_read_anything_but_acgt_as_n(tmp_path) -> None:
    track = GenomeFile(write_fasta(tmp_path / "t.fa", {"r": "acgtRYNnA"}))
    assert track_codes(track, "r", 0, 9).tolist() == [0, 1, 2, 3, 4, 4, 4, 4, 0]
    assert DNATokenizer().reverse_complement(np.array([0, 1, 4, 2])).tolist() == [1, 4, 2, 3]


def test_open_track_refuses_tracks_of_another_genome(tmp_path, genome_and_track) -> None:
    g, t, seqs, tracks = genome_and_track
    genome = GenomeFile(g)
    assert open_track(t, genome).lengths == genome.lengths
    short = write_fasta(tmp_path / "short.fa", {"chr1": tracks["chr1"][:-1], "chr2": tracks["chr2"]})
    with pytest.raises(ConfigError, match=r"record 'chr1' is 2,999 bp but g.fa has 3,000 bp.*make-relative-track"):
        open_track(short, genome, option="--track")
    other = write_fasta(tmp_path / "other.fa", {"chrX": tracks["chr1"]})
    with pytest.raises(ConfigError, match="has no record 'chr1'"):
        open_track(other, genome)
    with pytest.raises(ConfigError, match="is the genome FASTA itself"):
        open_track(g, genome)


def test_datamodule_windows_carry_the_track_on_their_strand(genome_and_track) -> None:
    g, t, seqs, tracks = genome_and_track
    dm = GenomeDataModule(fasta=str(g), track_fasta=str(t), window_length=200, batch_size=4, rc_augment=True, val_fraction=0.1,
                          train_samples_per_epoch=64)
    dm.setup()
    strands = set()
    for key in range(40):
        item = dm.datasets["train"][key]
        s, c = item["start"], item["contig"]
        want = np.array(["ACGTN".index(b) for b in tracks[c][s : s + 200]])
        if item["strand"] == "-":
            want = DNATokenizer().reverse_complement(want)
        assert item["track_ids"].tolist() == want.tolist()
        strands.add(item["strand"])
    assert strands == {"+", "-"}
    batch = next(iter(dm.val_dataloader()))
    assert batch["track_ids"].shape == batch["input_ids"].shape
    s, c = int(batch["start"][0]), batch["contig"][0]
    assert batch["track_ids"][0].tolist() == ["ACGTN".index(b) for b in tracks[c][s : s + 200]]


def test_datamodule_wants_one_track_per_genome(tmp_path, genome_and_track) -> None:
    g, t, seqs, _ = genome_and_track
    g2 = write_fasta(tmp_path / "g2.fa", {"x": random_dna(3000, seed=9)})
    dm = GenomeDataModule(fasta=[str(g), str(g2)], track_fasta=str(t), window_length=100)
    with pytest.raises(ConfigError, match=r"data.track_fasta gives 1 track\(s\) for 2 genome file\(s\)"):
        dm.setup()


def test_a_bgzf_track_reads_across_its_block_boundaries(tmp_path) -> None:
    """Every base around the first 64 KiB boundary of the compressed stream fetches (pyfaidx cannot
    seek to the end of a full 65,536-byte block, which is why tracks are written with htslib)."""
    from genomamba.apps.make_relative_track import write_track_fasta

    codes = np.random.default_rng(0).integers(0, 5, 200_000)
    track = GenomeFile(write_track_fasta({"r": codes}, tmp_path / "t.fa.gz", "relative_track"))
    letters = np.array(list("ACGTN"))
    for start in range(60_000, 70_000):
        assert track.fetch("r", start, start + 1) == letters[codes[start]]
