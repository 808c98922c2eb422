"""Two ``genomamba train`` runs started at once into one name (issue 36): exactly one runs, the
other stops with one line before writing anything, and the run directory holds one run's files."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from genomamba.outputs import LOCK_NAME


def test_two_trainings_into_one_name_at_once(tmp_path: Path, cli_command) -> None:
    rng = np.random.default_rng(0)
    seq = "".join(rng.choice(list("ACGT"), 6000))
    (tmp_path / "g.fa").write_text(">chr1\n" + "\n".join(seq[i : i + 60] for i in range(0, len(seq), 60)) + "\n")
    common = [
        "data=fasta", f"data.fasta={tmp_path / 'g.fa'}", "model=tiny", "model.d_model=16", "model.n_layer=1",
        "data.window_length=64", "data.batch_size=2", "trainer.max_steps=10", "trainer.val_check_interval=5",
        "trainer.limit_val_batches=1", "trainer.enable_progress_bar=false", "module.warmup_steps=1",
        "eval.max_windows=2", "eval.orders=[1,2]",
    ]
    env = {**os.environ, "HYDRA_FULL_ERROR": "0", "PYTHONWARNINGS": "ignore"}
    procs = {
        seed: subprocess.Popen([*cli_command(), "train", *common, "name=conc", f"seed={seed}"], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for seed in (1, 2)
    }
    try:
        outs = {seed: p.communicate(timeout=600) for seed, p in procs.items()}
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
    codes = {seed: p.returncode for seed, p in procs.items()}
    report = "\n".join(f"--- seed={s} exit {codes[s]}\n{o[0]}\n{o[1]}" for s, o in outs.items())
    assert sorted(codes.values()) == [0, 2], report
    winner = next(s for s, c in codes.items() if c == 0)
    loser = 3 - winner
    err = outs[loser][1].strip().splitlines()
    assert len(err) == 1 and err[0].startswith("genomamba: error:"), report
    assert f"is in use by another genomamba run (pid {procs[winner].pid} on host" in err[0], report

    run = tmp_path / "runs" / "conc"
    assert OmegaConf.load(run / "config.yaml").seed == winner  # one run's settings ...
    assert f"seed={winner}" in (run / ".hydra" / "overrides.yaml").read_text()
    assert f"seed={loser}" not in (run / ".hydra" / "overrides.yaml").read_text()
    assert sorted(p.name for p in (run / "logs").iterdir()) == ["version_0"]  # ... one log ...
    ckpts = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert "last.ckpt" in ckpts and not any("-v1" in n for n in ckpts), ckpts  # ... no checkpoint twins
    assert (run / "metrics.json").is_file() and (run / "model").is_dir()
    assert not (run / LOCK_NAME).exists()  # released with the run
