"""Pre-emption on a real SLURM cluster: a requeued training job resumes from last.ckpt and
trains exactly as a job that was never stopped (same per-step losses)."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slurm

REPO_ROOT = Path(__file__).resolve().parents[2]

SBATCH = REPO_ROOT / "workflows" / "profiles" / "slurm" / "train.sbatch"
# ~0.1 s per step on 2 quiet cores: the requeue (sent as soon as the step-5 checkpoint appears)
# lands long before step 60, so the job is always stopped mid-training.
MAX_STEPS = 60


def _overrides() -> list[str]:
    """A tiny causal model on the bundled genome: seconds per run on CPU."""
    return [
        f"paths.data_dir={REPO_ROOT / 'data'}",
        "model=tiny",
        "model.d_model=32",
        f"trainer.max_steps={MAX_STEPS}",
        "trainer.val_check_interval=20",
        "trainer.limit_val_batches=2",
        "trainer.log_every_n_steps=1",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        "data.window_length=256",
        "data.batch_size=4",
        "data.rc_augment=false",
        "module.warmup_steps=5",
        "eval.max_windows=8",
        "eval.orders=[1,2]",
        "callbacks.last_checkpoint.every_n_train_steps=5",
    ]


def _submit(slurm, workdir: Path, run_dir: Path, *extra: str) -> str:
    return slurm.sbatch(
        f"--chdir={workdir}",
        f"--output={workdir}/job-%j.out",
        "--cpus-per-task=2",
        "--time=00:30:00",
        *extra,
        str(SBATCH),
        str(run_dir),
        *_overrides(),
    )


def _losses(run_dir: Path) -> dict[int, list[float]]:
    """step -> train/loss per log version (a resumed job writes a new version)."""
    out: dict[int, list[float]] = {}
    for version in sorted((run_dir / "logs").glob("version_*/metrics.csv")):
        with version.open() as f:
            for row in csv.DictReader(f):
                if row.get("train/loss"):
                    out.setdefault(int(row["step"]), []).append(float(row["train/loss"]))
    return out


def _logged_steps(run_dir: Path) -> list[list[int]]:
    versions = sorted((run_dir / "logs").glob("version_*/metrics.csv"), key=lambda p: int(p.parent.name.split("_")[1]))
    result = []
    for version in versions:
        with version.open() as f:
            result.append(sorted({int(r["step"]) for r in csv.DictReader(f) if r.get("train/loss")}))
    return result


def test_requeued_training_resumes_from_last_ckpt_with_the_same_losses(slurm, tmp_path: Path) -> None:
    # 1. the reference: the same job, never stopped
    ref_dir = tmp_path / "uninterrupted"
    ref_job = _submit(slurm, tmp_path, ref_dir)
    ref = slurm.wait_for(ref_job, {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"}, timeout=900)
    assert ref["JobState"] == "COMPLETED", (tmp_path / f"job-{ref_job}.out").read_text()

    # 2. the same job, pre-empted once its first periodic checkpoint exists
    run_dir = tmp_path / "preempted"
    job = _submit(slurm, tmp_path, run_dir)
    log = tmp_path / f"job-{job}.out"
    last = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 600
    while not last.exists():
        state = slurm.job(job)["JobState"]
        assert state in ("PENDING", "RUNNING", "CONFIGURING"), f"{state}:\n{log.read_text() if log.exists() else ''}"
        assert time.monotonic() < deadline, "no last.ckpt within 600 s"
        time.sleep(0.1)
    slurm.run("scontrol", "requeue", job)

    info = slurm.wait_for(job, {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"}, timeout=900)
    out = log.read_text()
    assert info["JobState"] == "COMPLETED", out
    assert info["Restarts"] == "1", info
    # the first start was fresh, the restart resumed from last.ckpt
    assert "restart 0: ckpt_path=null" in out and "restart 1: ckpt_path=last" in out, out
    assert "interrupted by SIGTERM" in out, out  # it saved on the signal, not just a periodic checkpoint

    # 3. the step continued: the first job logged 0..s-1, the requeued one s..MAX_STEPS-1
    first, second = _logged_steps(run_dir)
    assert first and second, out
    resumed_at = second[0]
    assert 5 <= resumed_at < MAX_STEPS, (first, second)
    assert first == list(range(resumed_at)), first
    assert second == list(range(resumed_at, MAX_STEPS)), second
    assert torch.load(last, map_location="cpu", weights_only=False)["global_step"] == MAX_STEPS

    # 4. and trained exactly like the uninterrupted job
    ref_losses = {step: v[0] for step, v in _losses(ref_dir).items()}
    losses = {step: v[-1] for step, v in _losses(run_dir).items()}
    assert sorted(ref_losses) == sorted(losses) == list(range(MAX_STEPS))
    steps = list(range(MAX_STEPS))
    torch.testing.assert_close(
        torch.tensor([losses[s] for s in steps]), torch.tensor([ref_losses[s] for s in steps]), rtol=1e-5, atol=1e-6
    )
    # the losses move, so equality is not vacuous
    assert len({round(ref_losses[s], 6) for s in steps}) > MAX_STEPS // 2
