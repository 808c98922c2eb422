"""Progress of the long commands: a Rich bar with an ETA on a terminal, nothing on a pipe, and a
closing line with counts and time either way (genomamba.progress)."""

from __future__ import annotations

import io
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from genomamba.progress import done_line, format_duration, progress

GENOMAMBA = Path(sys.executable).parent / "genomamba"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_nested_loops_share_one_bar_and_a_pipe_gets_nothing() -> None:
    tty = _Terminal()
    with progress(4, "outer loop", "steps", stream=tty) as outer:
        with progress(10, "inner loop", "windows", stream=tty) as inner:  # Rich allows one live display
            inner(10)
        outer(4)
    shown = ANSI.sub("", tty.getvalue())
    assert "outer loop" in shown and "inner loop" in shown and "ETA" in shown
    pipe = io.StringIO()
    with progress(4, "outer loop", stream=pipe) as advance:
        advance(4)
    with progress(4, "disabled", stream=tty, enabled=False) as advance:
        advance(4)
    assert pipe.getvalue() == "" and "disabled" not in tty.getvalue()
    assert [format_duration(s) for s in (4.24, 75.2, 7380)] == ["4.2s", "1m15s", "2h03m"]
    assert done_line("scored 3 variants", 0.5) == "scored 3 variants in 0.5s"


@pytest.fixture(scope="module")
def score_variants_args(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """A tiny random model, a 3 kb genome and 40 SNVs: `genomamba score-variants` in a few seconds."""
    import torch

    import genomamba

    tmp = tmp_path_factory.mktemp("progress")
    torch.manual_seed(0)
    genomamba.GenomambaLM(genomamba.GenomambaConfig(d_model=16, n_layer=1)).save_pretrained(tmp / "model")
    seq = "".join(np.random.default_rng(0).choice(list("ACGT"), 3000))
    (tmp / "g.fa").write_text(">chr1\n" + "\n".join(seq[i : i + 60] for i in range(0, 3000, 60)) + "\n")
    rows = [f"chr1\t{p}\t.\t{seq[p - 1]}\t{'A' if seq[p - 1] != 'A' else 'C'}\t.\t.\t." for p in range(100, 2900, 70)]
    (tmp / "v.vcf").write_text("##fileformat=VCFv4.2\n##contig=<ID=chr1,length=3000>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n" + "\n".join(rows) + "\n")
    return ["score-variants", "--model", str(tmp / "model"), "--fasta", str(tmp / "g.fa"), "--vcf", str(tmp / "v.vcf"),
            "--out", str(tmp / "scores.tsv"), "--window", "64", "--batch-size", "8", "--device", "cpu"]


def _env() -> dict[str, str]:
    return {**os.environ, "TERM": "xterm", "COLUMNS": "120", "GENOMAMBA_MALLOC_HUGEPAGES": "0"}


def test_score_variants_on_a_terminal_shows_a_bar_with_an_eta(score_variants_args: list[str]) -> None:
    """stderr on a pseudo-terminal, as in an interactive shell: the bar is drawn (and erased at the end)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([str(GENOMAMBA), *score_variants_args], stdout=subprocess.DEVNULL, stderr=slave,
                            stdin=subprocess.DEVNULL, env=_env())
    os.close(slave)
    chunks, deadline = [], time.monotonic() + 300
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(master)
    assert proc.wait(timeout=60) == 0
    screen = ANSI.sub("", b"".join(chunks).decode(errors="replace"))
    assert "scoring variants" in screen and "ETA" in screen, screen[-2000:]
    assert re.search(r"\d+/80 variant strands", screen), screen[-2000:]  # 40 SNVs x 2 strands (tiled method)
    assert re.search(r"wrote 40 rows to .* \(ok: 40; tiled method\) in \d+\.\ds", screen), screen[-2000:]


def test_score_variants_on_a_pipe_prints_no_bar_only_the_closing_line(score_variants_args: list[str]) -> None:
    proc = subprocess.run([str(GENOMAMBA), *score_variants_args], capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "scoring variants" not in proc.stderr and "\x1b[" not in proc.stderr and "\r" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    assert re.fullmatch(r"wrote 40 rows to .*scores\.tsv \(ok: 40; tiled method\) in \d+\.\ds", line), line
