"""Fault test (issue 15): SIGKILL a training process in the middle of checkpoint saves, three
times, resuming after each kill. ``last.ckpt`` must always load, the temporary files a kill
leaves are removed when the next run starts, and the step count carries on. (Running a resumed
run to completion after a SIGTERM is tested in test_resume.py.)

The child process is real training (a tiny model on a small FASTA) whose ``torch.save`` is
slowed down (the serialised bytes are written in 8 pieces, 50 ms apart) and announces each
save, so a kill lands inside the save at a (seeded) random point rather than by luck.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

DRIVER = r'''
import io, sys, time
import torch

_real_save = torch.save

def _slow_save(obj, f, *args, **kwargs):
    buf = io.BytesIO()
    _real_save(obj, buf, *args, **kwargs)
    data = buf.getvalue()
    print("SAVING", flush=True)
    step = max(1, len(data) // 8)
    for i in range(0, len(data), step):
        f.write(data[i : i + step])
        f.flush()
        time.sleep(0.05)

import genomamba.training.callbacks as callbacks
callbacks.torch.save = _slow_save

from genomamba.training.compose import compose_config
from genomamba.training.train import train

train(compose_config(sys.argv[1:]))
print("DONE", flush=True)
'''


def _overrides(tmp: Path, run_dir: Path, max_steps: int = 1000) -> list[str]:
    fasta = tmp / "g.fa"
    if not fasta.exists():
        seq = "".join(np.random.default_rng(0).choice(list("ACGT"), 6000))
        fasta.write_text(">chr1\n" + "".join(seq[i : i + 60] + "\n" for i in range(0, len(seq), 60)))
    return [
        "data=fasta", f"data.fasta={fasta}", f"run_dir={run_dir}", "model=tiny", "model.d_model=16", "model.n_layer=1",
        "data.window_length=64", "data.batch_size=2", f"trainer.max_steps={max_steps}", "trainer.val_check_interval=4",
        "trainer.limit_val_batches=1", "trainer.log_every_n_steps=1", "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false", "module.warmup_steps=1", "eval.max_windows=2", "eval.orders=[1,2]",
        "callbacks.last_checkpoint.every_n_train_steps=1", "data.rc_augment=false",
    ]


def _temp_files(run_dir: Path) -> list[Path]:
    return sorted((run_dir / "checkpoints").glob(".*.tmp")) if (run_dir / "checkpoints").is_dir() else []


def _saved_step(last: Path) -> int:
    return int(torch.load(last, map_location="cpu", weights_only=False)["global_step"])


def test_sigkill_during_checkpoint_saves_then_resume(tmp_path: Path) -> None:
    """Three runs, each SIGKILLed inside a save; runs 2 and 3 resume with ckpt_path=last."""
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    run_dir = tmp_path / "run"
    last = run_dir / "checkpoints" / "last.ckpt"
    rng = random.Random(15)
    steps: list[int] = []
    left: list[Path] = []  # temporary files the previous kill left behind
    n_left = 0
    for attempt in range(3):
        args = _overrides(tmp_path, run_dir) + (["ckpt_path=last"] if attempt else [])
        proc = subprocess.Popen([sys.executable, str(driver), *args], cwd=tmp_path, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        try:
            wanted, seen, deadline = rng.randint(2, 4), 0, time.monotonic() + 180
            while seen < wanted:
                line = proc.stdout.readline()
                assert line, f"training ended before its save #{wanted}: exit {proc.wait()}"
                if line.startswith("SAVING"):
                    seen += 1
                    # by its first save the resumed run has started: the old temp files are gone
                    assert not [p for p in left if p.exists()], f"temp files survived the resume: {left}"
                assert time.monotonic() < deadline, "no checkpoint saves within 180 s"
            time.sleep(rng.uniform(0.0, 0.35))  # a random point of this ~0.4 s save
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == -signal.SIGKILL
        left = _temp_files(run_dir)
        n_left += len(left)
        assert last.is_file(), "no last.ckpt after the kill"
        steps.append(_saved_step(last))  # loads: never half-written
    assert n_left > 0, "no kill landed inside a save; the test did not exercise what it claims"
    # each resumed run went on from the previous one's last.ckpt and saved later steps
    assert steps == sorted(set(steps)) and steps[0] >= 1, steps
