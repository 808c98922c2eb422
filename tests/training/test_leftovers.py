"""Nothing is left behind (issue 15): temp checkpoints, the files of a failed start, index files
of a FASTA that fails validation."""

from __future__ import annotations

import os
from pathlib import Path

import pysam
import pytest

from genomamba.data import GenomeFile
from genomamba.errors import ConfigError, FastaError
from genomamba.outputs import remove_failed_start
from genomamba.training.train import remove_stale_temp_files


def test_stale_temp_files_are_removed_and_nothing_else(tmp_path: Path) -> None:
    ckpts = tmp_path / "checkpoints"
    ckpts.mkdir()
    keep = [ckpts / "last.ckpt", ckpts / "best-3.ckpt", ckpts / "notes.tmp", tmp_path / "config.yaml"]
    stale = [ckpts / ".last.ckpt.k2j4.tmp", ckpts / ".best-3.ckpt.a1b2.tmp"]
    for p in keep + stale:
        p.write_bytes(b"x")
    (tmp_path / ".model.tmp-abc").mkdir()
    (tmp_path / ".model.tmp-abc" / "model.safetensors").write_bytes(b"x")
    removed = remove_stale_temp_files(tmp_path)
    assert sorted(removed) == sorted([*stale, tmp_path / ".model.tmp-abc"])
    assert all(p.exists() for p in keep) and not any(p.exists() for p in removed)


def _fail_inside(run_dir: Path, make: list[str]) -> None:
    resumable = lambda: (run_dir / "checkpoints" / "last.ckpt").exists()  # noqa: E731 (as train() passes it)
    with pytest.raises(ConfigError), remove_failed_start(run_dir, resumable=resumable):
        for name in make:
            p = run_dir / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text("x")
        raise ConfigError("bad data")


def test_failed_start_removes_a_new_run_dir(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    _fail_inside(run_dir, ["config.yaml", "checkpoints/best-2.ckpt", "logs/version_0/metrics.csv"])
    assert not run_dir.exists()
    # a directory holding only what Hydra writes first is this run's too
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / "train.log").write_text("")
    _fail_inside(run_dir, ["config.yaml"])
    assert not run_dir.exists()


def test_failed_start_keeps_what_was_there_before(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "README.txt").write_text("mine")
    _fail_inside(run_dir, ["config.yaml", "checkpoints/best-2.ckpt"])
    assert sorted(os.listdir(run_dir)) == ["README.txt", "checkpoints"] and os.listdir(run_dir / "checkpoints") == []


def test_failure_after_a_resumable_checkpoint_keeps_the_run(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    _fail_inside(run_dir, ["checkpoints/last.ckpt", "config.yaml"])
    assert (run_dir / "checkpoints" / "last.ckpt").exists() and (run_dir / "config.yaml").exists()


BAD_FASTA = {
    "ragged lines": b">a\nACGTACGT\nACG\nACGTACGT\n",
    "empty record": b">a\nACGT\n>b\n",
    "duplicate names": b">a\nACGT\n>a\nGGCC\n",
    "blank line inside a record": b">a\nACGT\n\nACGT\n",
    "mixed line endings": b">a\nAC\r\nAC\n>b\nGG\n",
    "not text": b">a\nAC\xff\xfeGT\n",
}


@pytest.mark.parametrize("bgzf", [False, True], ids=["plain", "bgzf"])
@pytest.mark.parametrize("content", list(BAD_FASTA), ids=list(BAD_FASTA))
def test_fasta_that_fails_validation_gets_no_index(tmp_path: Path, content: str, bgzf: bool) -> None:
    p = tmp_path / "g.fa"
    p.write_bytes(BAD_FASTA[content])
    if bgzf:
        pysam.tabix_compress(str(p), str(tmp_path / "g.fa.gz"))
        p.unlink()
        p = tmp_path / "g.fa.gz"
    with pytest.raises(FastaError) as err:
        GenomeFile(p)
    assert str(p) in str(err.value)
    assert os.listdir(tmp_path) == [p.name]  # no .fai, no .gzi, no temporary index
