"""The bad-input table (issue 15): every input that once gave a silently wrong result, a
traceback or leftovers, run the way a user runs it, with the exit code and message due.

Each row: an input (built in ``tmp_path``), a command (the CLI in-process, a Python API call
mapped to exit code 2 on a ``GenomambaError`` as the CLI does, or a Snakemake dry run), the
expected exit code, and a fragment of the message that names the input. Any other exception
propagates and fails the row. Rows that must succeed (a stale index is rebuilt) also check
the result.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pysam
import pytest
import torch

import genomamba
from genomamba.apps.cli import main
from genomamba.errors import GenomambaError

REPO_ROOT = Path(__file__).resolve().parents[1]
ECOLI = REPO_ROOT / "data" / "genomes" / "escherichia_coli_536.fa.gz"
SNAKEMAKE = Path(sys.executable).parent / "snakemake"


# ----------------------------------------------------------------------------- inputs
def _dna(n: int, seed: int = 0) -> str:
    return "".join(np.random.default_rng(seed).choice(list("ACGT"), n))


def _fasta(path: Path, records: dict[str, str], width: int = 60) -> Path:
    with open(path, "w") as fh:
        for name, seq in records.items():
            fh.write(f">{name}\n" + "".join(seq[i : i + width] + "\n" for i in range(0, len(seq), width)))
    return path


def _vcf(path: Path, rows: list[tuple[str, int, str, str]]) -> Path:
    body = "".join(f"{c}\t{p}\t.\t{r}\t{a}\t.\t.\t.\n" for c, p, r, a in rows)
    path.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n" + body)
    return path


SEQ = _dna(3000, 1)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "model"
    genomamba.GenomambaLM(genomamba.GenomambaConfig(d_model=16, n_layer=1)).save_pretrained(path)
    return path


@contextlib.contextmanager
def read_only(d: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make ``d`` unwritable for real: mode bits for a normal user, ``chattr +i`` as root (root
    ignores mode bits). Where neither works, the writability probes are told so."""
    d.chmod(stat.S_IRUSR | stat.S_IXUSR)
    chattr = False
    if os.geteuid() == 0:
        try:
            subprocess.run(["chattr", "+i", str(d)], check=True, capture_output=True)
            chattr = True
        except (OSError, subprocess.CalledProcessError):
            import genomamba.data.fasta as fasta_mod
            import genomamba.outputs as outputs_mod

            for mod, name in ((fasta_mod, "writable_dir"), (outputs_mod, "writable_dir")):
                real = getattr(mod, name)
                monkeypatch.setattr(mod, name, lambda p, real=real: Path(p) != d and real(p))
            import genomamba.training.train as train_mod

            monkeypatch.setattr(train_mod, "writable_dir", outputs_mod.writable_dir)
    try:
        yield
    finally:
        if chattr:
            subprocess.run(["chattr", "-i", str(d)], check=True)
        d.chmod(stat.S_IRWXU)


def _stale_fai(tmp: Path) -> Path:
    """A 3000 bp record whose .fai (newer than the FASTA) says 1000 bp."""
    short = _fasta(tmp / "short.fa", {"chr1": SEQ[:1000]})
    pysam.faidx(str(short))
    p = _fasta(tmp / "g.fa", {"chr1": SEQ})
    Path(f"{p}.fai").write_text(Path(f"{short}.fai").read_text())
    os.utime(f"{p}.fai", (p.stat().st_mtime + 10, p.stat().st_mtime + 10))
    return p


def _train_args(tmp: Path, *extra: str) -> list[str]:
    fasta = _fasta(tmp / "train.fa", {"chr1": _dna(6000, 2)}) if not (tmp / "train.fa").exists() else tmp / "train.fa"
    return [
        "train", "data=fasta", f"data.fasta={fasta}", f"run_dir={tmp / 'run'}", "model=tiny", "model.d_model=16",
        "model.n_layer=1", "data.window_length=64", "data.batch_size=2", "trainer.max_steps=3",
        "trainer.val_check_interval=2", "trainer.limit_val_batches=1", "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false", "module.warmup_steps=1", "eval.max_windows=2", "eval.orders=[1,2]",
        "callbacks.last_checkpoint.every_n_train_steps=1", *extra,
    ]


def _lightning_ckpt(path: Path, d_model: int) -> Path:
    from genomamba.data.tokenizer import DNATokenizer
    from genomamba.models import GenomambaConfig
    from genomamba.training.lit_module import GenomambaLitModule

    tok = DNATokenizer()
    cfg = GenomambaConfig(d_model=d_model, n_layer=1, vocab_size=tok.vocab_size, pad_token_id=tok.pad_id)
    module = GenomambaLitModule(model_config=cfg)
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams), "global_step": 0}, path)
    return path


# ----------------------------------------------------------------------------- rows
@dataclass
class Ctx:
    tmp: Path
    model: Path
    monkeypatch: pytest.MonkeyPatch
    capsys: Any
    caplog: pytest.LogCaptureFixture
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass
class Row:
    id: str
    kind: str  # "cli", "api" or "snakemake"
    run: Callable[[Ctx], Any]  # argv (cli / snakemake) or a thunk (api); may set up inputs first
    code: int
    fragment: Callable[[Ctx], str]  # names the input (a path, a key, an option)
    check: Callable[[Ctx, str], None] | None = None  # extra assertions (results, no leftovers)


def _ev(ctx: Ctx, fasta: Path, *extra: str) -> list[str]:
    return ["evaluate", str(ctx.model), "--fasta", str(fasta), "--window-length", "64", "--max-windows", "4", *extra]


def _sv(ctx: Ctx, vcf: Path, fasta: Path | None = None, out: Path | None = None, *extra: str) -> list[str]:
    ctx.notes["out"] = out or ctx.tmp / "scores.tsv"
    fasta = fasta or _fasta(ctx.tmp / "ref.fa", {"chr1": SEQ})
    return ["score-variants", "--model", str(ctx.model), "--fasta", str(fasta), "--vcf", str(vcf),
            "--out", str(ctx.notes["out"]), "--window", "32", "--device", "cpu", *extra]


def _ok_vcf(ctx: Ctx, pos: int = 100) -> Path:
    ref = SEQ[pos - 1]
    return _vcf(ctx.tmp / "v.vcf", [("chr1", pos, ref, "A" if ref != "A" else "C")])


def _all_n(ctx: Ctx) -> Path:
    return _fasta(ctx.tmp / "allN.fa", {"chr1": "N" * 5000})


def _set(ctx: Ctx, key: str, value: Any) -> Any:
    ctx.notes[key] = value
    return value


def _no_cuda_device() -> str:
    return f"cuda:{torch.cuda.device_count()}" if torch.cuda.is_available() else "cuda"


def _plain_gzip(src: Path, dst: Path) -> Path:
    dst.write_bytes(gzip.compress(src.read_bytes()))
    return dst


def _readonly_fasta_and_cache(ctx: Ctx) -> list[str]:
    ro = ctx.tmp / "ro"
    ro.mkdir()
    p = _set(ctx, "fasta", _fasta(ro / "g.fa", {"chr1": SEQ}))
    blocker = ctx.tmp / "cache_is_a_file"
    blocker.write_text("")
    ctx.monkeypatch.setenv("GENOMAMBA_CACHE", str(blocker / "cache"))
    ctx.notes["ro"] = read_only(ro, ctx.monkeypatch)
    ctx.notes["ro"].__enter__()
    return _ev(ctx, p)


def _empty_record_fasta(ctx: Ctx) -> Path:
    p = _fasta(ctx.tmp / "e.fa", {"chr1": SEQ})
    with open(p, "a") as fh:
        fh.write(">empty\n")
    return p


def _no_run_dir(ctx: Ctx, err: str) -> None:
    assert not (ctx.tmp / "run").exists(), sorted(p.name for p in (ctx.tmp / "run").rglob("*"))


def _full_disk_save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
    f.write(b"PK\x03\x04" + bytes(64))  # the zip writer had started when the disk filled
    raise RuntimeError("[enforce fail at inline_container.cc:664] . PytorchStreamWriter failed writing file data/3: file write failed")


def _disk_full(ctx: Ctx) -> list[str]:
    import genomamba.training.callbacks as cb

    ctx.monkeypatch.setattr(cb.torch, "save", _full_disk_save)
    return _train_args(ctx.tmp)


def _status_ok(ctx: Ctx, err: str) -> None:
    rows = ctx.notes["out"].read_text().splitlines()
    header = rows[0].split("\t")
    assert len(rows) == 2 and rows[1].split("\t")[header.index("status")] == "ok", rows


def _eval_used_whole_record(ctx: Ctx, err: str) -> None:
    from genomamba.data import GenomeFile

    assert GenomeFile(ctx.notes["fasta"]).lengths == {"chr1": 3000}


ROWS: list[Row] = [
    # -- silently wrong results
    Row("all-N FASTA, --window-length 64", "cli", lambda c: _ev(c, _all_n(c)), 2, lambda c: str(c.tmp / "allN.fa")),
    Row("all-N FASTA, default window", "cli", lambda c: ["evaluate", str(c.model), "--fasta", str(_all_n(c))], 2,
        lambda c: "all N"),
    Row("stale .fai (shorter) with evaluate", "cli", lambda c: _ev(c, _set(c, "fasta", _stale_fai(c.tmp))), 0,
        lambda c: f"{c.notes['fasta']}.fai", _eval_used_whole_record),
    Row("stale .fai (shorter) with score-variants", "cli", lambda c: _sv(c, _ok_vcf(c, 2500), _set(c, "fasta", _stale_fai(c.tmp))),
        0, lambda c: f"{c.notes['fasta']}.fai", _status_ok),
    Row("embed('') lone empty string", "api", lambda c: lambda: genomamba.load(c.model).embed("", progress=False), 2,
        lambda c: "sequence 0"),
    Row("evaluate --max-windows 0", "cli", lambda c: [*_ev(c, _fasta(c.tmp / "g.fa", {"chr1": SEQ}))[:-1], "0"], 2,
        lambda c: "--max-windows"),
    # -- tracebacks / raw exceptions
    Row("stale .fai with other contig names", "cli",
        lambda c: (_set(c, "fasta", _fasta(c.tmp / "g.fa", {"chr1": SEQ})), Path(f"{c.tmp / 'g.fa'}.fai").write_text("chrX\t3000\t6\t60\t61\n"),
                   _ev(c, c.tmp / "g.fa"))[-1], 0, lambda c: f"{c.notes['fasta']}.fai", _eval_used_whole_record),
    Row("junk .fai", "cli",
        lambda c: (_set(c, "fasta", _fasta(c.tmp / "g.fa", {"chr1": SEQ})), Path(f"{c.tmp / 'g.fa'}.fai").write_text("junk\n"),
                   _ev(c, c.tmp / "g.fa"))[-1], 0, lambda c: f"{c.notes['fasta']}.fai", _eval_used_whole_record),
    Row("read-only FASTA dir and unwritable GENOMAMBA_CACHE", "cli", _readonly_fasta_and_cache, 2,
        lambda c: str(c.notes["fasta"])),
    Row("plain-gzip VCF", "cli", lambda c: _sv(c, _plain_gzip(_ok_vcf(c), c.tmp / "v.vcf.gz")), 2,
        lambda c: str(c.tmp / "v.vcf.gz")),
    Row("score-variants --out is a directory", "cli", lambda c: _sv(c, _ok_vcf(c), None, c.tmp), 2, lambda c: "--out"),
    Row("score-variants --out in a read-only directory", "cli",
        lambda c: ((c.tmp / "ro").mkdir(), _set(c, "ro", read_only(c.tmp / "ro", c.monkeypatch)).__enter__(),
                   _sv(c, _ok_vcf(c), None, c.tmp / "ro" / "s.tsv"))[-1], 2, lambda c: str(c.tmp / "ro" / "s.tsv")),
    Row("score-variants --out on a full disk", "cli", lambda c: _sv(c, _ok_vcf(c), None, Path("/dev/full")), 2,
        lambda c: "/dev/full"),
    Row("score-variants --batch-size 0", "cli", lambda c: _sv(c, _ok_vcf(c), None, None, "--batch-size", "0"), 2,
        lambda c: "--batch-size"),
    Row("score-variants --device cuda without CUDA", "cli",
        lambda c: [*_sv(c, _ok_vcf(c))[:-2], "--device", _no_cuda_device()], 2, lambda c: "--device"),
    Row("score-variants --device bogus", "cli", lambda c: [*_sv(c, _ok_vcf(c))[:-2], "--device", "bogus"], 2,
        lambda c: "--device='bogus'"),
    Row("evaluate --output under a file", "cli",
        lambda c: ((c.tmp / "afile").write_text(""), _ev(c, _fasta(c.tmp / "g.fa", {"chr1": SEQ}), "--output", str(c.tmp / "afile" / "x" / "e.json")))[-1],
        2, lambda c: "--output"),
    Row("evaluate --output in missing directories", "cli",
        lambda c: _ev(c, _fasta(c.tmp / "g.fa", {"chr1": SEQ}), "--output", str(c.tmp / "nodir" / "x" / "e.json")), 0,
        lambda c: "", lambda c, err: (c.tmp / "nodir" / "x" / "e.json").is_file() or pytest.fail("no JSON")),
    Row("trainer.max_steps=abc", "cli", lambda c: _train_args(c.tmp, "trainer.max_steps=abc"), 2,
        lambda c: "trainer.max_steps", _no_run_dir),
    Row("module.lr=abc", "cli", lambda c: _train_args(c.tmp, "module.lr=abc"), 2, lambda c: "module.lr", _no_run_dir),
    Row("model.rope_periods=[1]", "cli", lambda c: _train_args(c.tmp, "model.attn_layers=[0]", "model.attn_heads=2",
                                                               "model.rope_periods=[1]"), 2, lambda c: "rope_periods", _no_run_dir),
    Row("model.ssm_periods=[1]", "cli", lambda c: _train_args(c.tmp, "model.ssm_periods=[1]"), 2,
        lambda c: "ssm_periods", _no_run_dir),
    Row("model.attn_layers out of range", "cli", lambda c: _train_args(c.tmp, "model.attn_layers=[5]"), 2,
        lambda c: "attn_layers [5]", _no_run_dir),
    Row("run_dir in a read-only directory", "cli",
        lambda c: ((c.tmp / "ro").mkdir(), _set(c, "ro", read_only(c.tmp / "ro", c.monkeypatch)).__enter__(),
                   [*_train_args(c.tmp), f"run_dir={c.tmp / 'ro' / 'run'}"])[-1], 2, lambda c: f"run_dir={c.tmp / 'ro' / 'run'}"),
    Row("ckpt_path of another model width", "cli",
        lambda c: _train_args(c.tmp, f"ckpt_path={_lightning_ckpt(c.tmp / 'wide.ckpt', 24)}"), 2,
        lambda c: str(c.tmp / "wide.ckpt"), lambda c, err: ("d_model=24" in err or pytest.fail(err)) and _no_run_dir(c, err)),
    Row("ckpt_path of a truncated .ckpt", "cli",
        lambda c: (_lightning_ckpt(c.tmp / "t.ckpt", 16),
                   (c.tmp / "t.ckpt").write_bytes((c.tmp / "t.ckpt").read_bytes()[:2000]),
                   _train_args(c.tmp, f"ckpt_path={c.tmp / 't.ckpt'}"))[-1], 2, lambda c: str(c.tmp / "t.ckpt"), _no_run_dir),
    Row("ckpt_path of a text file", "cli",
        lambda c: ((c.tmp / "n.ckpt").write_text("notes\n"), _train_args(c.tmp, f"ckpt_path={c.tmp / 'n.ckpt'}"))[-1], 2,
        lambda c: str(c.tmp / "n.ckpt"), _no_run_dir),
    Row("disk full during training", "cli", _disk_full, 2, lambda c: str(c.tmp / "run" / "checkpoints"), _no_run_dir),
    Row("embed(batch_size=2.5)", "api", lambda c: lambda: genomamba.load(c.model).embed(["ACGT"], batch_size=2.5), 2,
        lambda c: "batch_size"),
    Row("load(device='cuda') without CUDA", "api", lambda c: lambda: genomamba.load(c.model, device=_no_cuda_device()), 2,
        lambda c: "device="),
    Row("load(device='bogus')", "api", lambda c: lambda: genomamba.load(c.model, device="bogus"), 2, lambda c: "'bogus'"),
    Row("load(None)", "api", lambda c: lambda: genomamba.load(None), 2, lambda c: "None"),
    # -- leftovers
    Row("FASTA that fails validation gets no .fai", "cli", lambda c: _ev(c, _set(c, "fasta", _empty_record_fasta(c))),
        2, lambda c: str(c.notes["fasta"]), lambda c, err: sorted(os.listdir(c.tmp)) == ["e.fa"] or pytest.fail(str(os.listdir(c.tmp)))),
    Row("training that fails at the data stage leaves no run dir", "cli",
        lambda c: [*_train_args(c.tmp), "data.window_length=100000"], 2, lambda c: str(c.tmp / "train.fa"), _no_run_dir),
    # -- not caught by a dry run
    Row("species workflow -n with a plain-gzip FASTA", "snakemake",
        lambda c: ["species_classification", f"genomes={_species_table_with_plain_gzip(c)}", f"model={c.model}"], 1,
        lambda c: str(c.tmp / "plain.fa.gz")),
    # -- also
    Row("text file as a checkpoint", "cli",
        lambda c: ((c.tmp / "notes.ckpt").write_text("not a checkpoint\n"), _ev(c, ECOLI)[:1] + [str(c.tmp / "notes.ckpt")] + _ev(c, ECOLI)[2:])[-1],
        2, lambda c: str(c.tmp / "notes.ckpt"), lambda c, err: "weights_only=False" not in err.splitlines()[-1] or pytest.fail(err)),
    Row("VCF error prefix", "cli",
        lambda c: ((c.tmp / "bad.vcf").write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\nchr1\tx\t.\tA\n"),
                   _sv(c, c.tmp / "bad.vcf"))[-1], 2, lambda c: str(c.tmp / "bad.vcf")),
    Row("ambiguous accession alias", "api",
        lambda c: lambda: genomamba.load(c.model).embed(
            [(str(_fasta(c.tmp / "two.fa", {"gi|1|ref|NC_1.1|": SEQ[:500], "gi|2|ref|NC_1.2|": SEQ[500:1000]})), "NC_1", 0, 10)],
            progress=False), 2, lambda c: "'NC_1'"),
]


def _species_table_with_plain_gzip(ctx: Ctx) -> Path:
    _plain_gzip(_fasta(ctx.tmp / "plain.fa", {"chr1": SEQ}), ctx.tmp / "plain.fa.gz")
    table = ctx.tmp / "species.tsv"
    table.write_text(f"path\tspecies\n{ECOLI}\tEscherichia coli\n{ctx.tmp / 'plain.fa.gz'}\tOther\n")
    return table


# ----------------------------------------------------------------------------- runner
def run_row(row: Row, ctx: Ctx) -> tuple[int, str]:
    """(exit code, everything the user saw on stderr incl. log records) of one row."""
    spec = row.run(ctx)
    ctx.capsys.readouterr()
    if row.kind == "snakemake":
        workflow, *config = spec
        proc = subprocess.run(
            [str(SNAKEMAKE), "-s", str(REPO_ROOT / "workflows" / workflow / "Snakefile"), "-n",
             "--directory", str(ctx.tmp / "work"), "--config", *config],
            capture_output=True, text=True, timeout=300, cwd=ctx.tmp,
        )
        return proc.returncode, proc.stdout + proc.stderr
    if row.kind == "api":
        try:
            spec()
            code, err = 0, ""
        except GenomambaError as e:  # what the CLI prints for it
            code, err = 2, f"genomamba: error: {e}\n"
    else:
        try:
            code = main(spec)
        except SystemExit as e:  # Hydra's app exits
            code = int(e.code or 0)
        err = ctx.capsys.readouterr().err
    return code, err + ctx.caplog.text


def _check(row: Row, ctx: Ctx, code: int, err: str) -> list[str]:
    """Why the row is not clear ([] when it is)."""
    problems = []
    if code != row.code:
        problems.append(f"exit code {code}, expected {row.code}")
    if "Traceback" in err:
        problems.append("traceback")
    fragment = row.fragment(ctx)
    if row.code == 2:
        errors = [ln for ln in err.splitlines() if ln.startswith("genomamba: error:")]
        if len(errors) != 1:
            problems.append(f"{len(errors)} 'genomamba: error:' lines")
        elif fragment not in errors[0]:
            problems.append(f"message does not name {fragment!r}")
    elif fragment not in err:
        problems.append(f"output does not name {fragment!r}")
    if not problems and row.check is not None:
        row.check(ctx, err)
    return problems


@pytest.fixture
def ctx(tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys, caplog) -> Iterator[Ctx]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GENOMAMBA_CACHE", str(tmp_path.parent / f"{tmp_path.name}_cache"))
    caplog.set_level(logging.WARNING)
    c = Ctx(tmp_path, model_dir, monkeypatch, capsys, caplog)
    handlers = {name: logging.getLogger(name).handlers[:] for name in (None, "lightning", "lightning.pytorch")}
    yield c
    if "ro" in c.notes:
        c.notes["ro"].__exit__(None, None, None)
    # Hydra's app (run in-process here) points logging at this test's captured streams and
    # run directory; a real `genomamba train` is one process per run.
    for name, before in handlers.items():
        logger = logging.getLogger(name)
        for h in logger.handlers[:]:
            if h not in before:
                logger.removeHandler(h)
                h.close()


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_bad_input(row: Row, ctx: Ctx) -> None:
    code, err = run_row(row, ctx)
    problems = _check(row, ctx, code, err)
    assert not problems, f"{row.id}: {problems}\n{err[-3000:]}"
