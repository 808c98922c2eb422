"""DDP across two "nodes" on one machine: two ``genomamba train`` processes joined as
``num_nodes=2`` (NODE_RANK 0/1, MASTER_ADDR=127.0.0.1, gloo on CPU), as two SLURM nodes would be.

* Gradients are synchronised: after 8 steps the weights equal those of one process trained on
  the same global batch (2 ranks x 4 windows = 1 process x 8 windows), to float tolerance.
* Mid-epoch resume is exact under DDP: resuming both ranks from the step-4 checkpoint (inside
  the first 6-step epoch) gives the weights and per-step losses of the run that never stopped.
"""

from __future__ import annotations

import csv
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow

STEPS, GLOBAL_BATCH, SAMPLES_PER_EPOCH = 8, 8, 48  # 6 steps per epoch: the run crosses an epoch


def _common(fast_overrides, run_dir: Path) -> list[str]:
    return [
        *fast_overrides(run_dir, max_steps=STEPS),
        f"data.train_samples_per_epoch={SAMPLES_PER_EPOCH}",
        "data.rc_augment=false",
        # Per-rank mean losses average to the global mean only when every window has the same
        # loss weight in total: no soft-mask down-weighting (E. coli 536 has no N).
        "module.soft_mask_weight=1.0",
        "trainer.val_check_interval=4",
        "trainer.limit_val_batches=1",
        "eval.max_windows=2",
        # keep every 4-step checkpoint (epoch=0-step=4.ckpt, ...) besides last.ckpt
        "callbacks.last_checkpoint.every_n_train_steps=4",
        "callbacks.last_checkpoint.save_top_k=-1",
    ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _two_nodes(cli_command, cwd: Path, overrides: list[str]) -> str:
    """Run node 0 and node 1 (one process each) and wait for both; returns their output."""
    port = str(_free_port())
    procs = []
    for node_rank in (0, 1):
        env = {
            **os.environ,
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": port,
            "NODE_RANK": str(node_rank),
            "HYDRA_FULL_ERROR": "0",
            "PYTHONWARNINGS": "ignore",
        }
        for key in [k for k in env if k.startswith("SLURM_") or k in ("LOCAL_RANK", "WORLD_SIZE", "RANK")]:
            env.pop(key)  # a run inside a SLURM job or torchrun must not take that environment
        procs.append(
            subprocess.Popen(
                [*cli_command(), "train", *overrides, "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=1",
                 "trainer.num_nodes=2", "trainer.precision=32-true", f"data.batch_size={GLOBAL_BATCH // 2}"],
                cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )
        )
    outs = []
    try:
        for p in procs:
            outs.append(p.communicate(timeout=600)[0])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    text = "\n".join(f"--- node {i} (exit {p.returncode}) ---\n{o}" for i, (p, o) in enumerate(zip(procs, outs, strict=True)))
    assert all(p.returncode == 0 for p in procs), text
    assert "MEMBER: 2/2" in text, text  # both nodes joined one process group
    return text


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["global_step"] == STEPS
    return ckpt["state_dict"]


def _losses(run_dir: Path) -> dict[int, float]:
    out = {}
    for version in sorted((run_dir / "logs").glob("version_*/metrics.csv")):
        with version.open() as f:
            out.update({int(r["step"]): float(r["train/loss"]) for r in csv.DictReader(f) if r.get("train/loss")})
    return out


def test_two_nodes_equal_one_process_and_resume_exactly(tmp_path: Path, fast_overrides, run_cli, cli_command) -> None:
    single = tmp_path / "single"
    result = run_cli(["train", *_common(fast_overrides, single), f"data.batch_size={GLOBAL_BATCH}"], cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr

    ddp = tmp_path / "ddp"
    _two_nodes(cli_command, tmp_path, _common(fast_overrides, ddp))
    w_single, w_ddp = _weights(single), _weights(ddp)
    assert w_single.keys() == w_ddp.keys()
    for name in w_single:
        torch.testing.assert_close(w_ddp[name], w_single[name], rtol=1e-4, atol=1e-5, msg=lambda m, n=name: f"{n}: {m}")
    moved = torch.load(ddp / "checkpoints" / "epoch=0-step=4.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    assert any(not torch.equal(moved[k], w_ddp[k]) for k in w_ddp)  # training changed the weights

    # Resume both nodes from the mid-epoch step-4 checkpoint (2 of 6 steps of epoch 0 left).
    step4 = tmp_path / "step4.ckpt"  # ('=' in Lightning's file name would need Hydra quoting)
    shutil.copy(ddp / "checkpoints" / "epoch=0-step=4.ckpt", step4)
    saved = torch.load(step4, map_location="cpu", weights_only=False)
    # 4 steps x 2 ranks x 4 windows of the global stream consumed, 16 of epoch 0 left
    assert saved["global_step"] == 4 and saved["GenomeDataModule"] == {"train_epoch": 0, "train_consumed": 32}
    resumed = tmp_path / "resumed"
    _two_nodes(cli_command, tmp_path, [*_common(fast_overrides, resumed), f"ckpt_path={step4}"])
    w_resumed = _weights(resumed)
    for name in w_ddp:
        torch.testing.assert_close(w_resumed[name], w_ddp[name], rtol=1e-6, atol=1e-7, msg=lambda m, n=name: f"{n}: {m}")
    losses, resumed_losses = _losses(ddp), _losses(resumed)
    assert sorted(resumed_losses) == list(range(4, STEPS))
    torch.testing.assert_close(
        torch.tensor([resumed_losses[s] for s in range(4, STEPS)]), torch.tensor([losses[s] for s in range(4, STEPS)]),
        rtol=1e-6, atol=1e-7,
    )
