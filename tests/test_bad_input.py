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


# ----------------------------------------------------------------------------- part B helpers
TRACK = REPO_ROOT / "data" / "tracks" / "escherichia_coli_536.relative_klebsiella_pneumoniae_MGH78578.fa.gz"
BENCHMARK = REPO_ROOT / "data" / "variants" / "ecoli536_genes_last5pct"
TRUNCATED = "truncated or incomplete download; download it again or re-compress with bgzip"


def _bgzf_block_starts(data: bytes) -> list[int]:
    """Offsets of the BGZF blocks of ``data`` (each block's size is in its BC extra subfield)."""
    starts, i = [], 0
    while i < len(data):
        starts.append(i)
        i += int.from_bytes(data[i + 16 : i + 18], "little") + 1  # BSIZE: bgzip writes BC as the only subfield
    return starts


def _cut(ctx: Ctx, src: Path, where: str, name: str) -> Path:
    """A copy of the BGZF file ``src`` cut as an interrupted download leaves it: inside its third
    block, or just after its second."""
    data = src.read_bytes()
    third = _bgzf_block_starts(data)[2]
    return _set(ctx, "cut", _write(ctx.tmp / name, data[: third + 1000 if where == "mid-block" else third]))


def _cut_plain_gzip(ctx: Ctx, dst: Path) -> Path:
    data = gzip.compress(f">chr1\n{_dna(20000, 7)}\n".encode())
    return _write(dst, data[: len(data) // 2])


def _cut_vcf(ctx: Ctx, bgzf: bool) -> Path:
    text = _vcf(ctx.tmp / "big.vcf", [("chr1", p, SEQ[p - 1], "A" if SEQ[p - 1] != "A" else "C") for p in range(2, 3000)]).read_bytes()
    if not bgzf:
        return _write(ctx.tmp / "v.vcf.gz", gzip.compress(text)[:3000])
    pysam.tabix_compress(str(ctx.tmp / "big.vcf"), str(ctx.tmp / "v.vcf.gz"), force=True)
    return _write(ctx.tmp / "v.vcf.gz", (ctx.tmp / "v.vcf.gz").read_bytes()[:-28])  # the end-of-file block lost


def _sv_truncated_track(ctx: Ctx) -> list[str]:
    argv = _sv(ctx, _ok_vcf(ctx), ECOLI, None, "--track", str(_cut(ctx, TRACK, "mid-block", "track.fa.gz")))
    argv[argv.index("--model") + 1] = str(_track_model(ctx))
    return argv


def _track_model(ctx: Ctx) -> Path:
    path = ctx.tmp / "track_model"
    if not path.exists():
        torch.manual_seed(0)
        genomamba.GenomambaLM(genomamba.GenomambaConfig(d_model=16, n_layer=1, relative_track=True)).save_pretrained(path)
    return path


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _text(ctx: Ctx, name: str, text: str) -> Path:
    return _write(ctx.tmp / name, text.encode())


def _copy(src: Path, dst: Path) -> Path:
    return _write(dst, src.read_bytes())


def _bom(path: Path) -> Path:
    return _write(path, b"\xef\xbb\xbf" + path.read_bytes())


def _link(ctx: Ctx, target: Path) -> Path:
    (ctx.tmp / "link.fa.gz").symlink_to(target)
    return ctx.tmp / "link.fa.gz"


def _table(ctx: Ctx, rows: str, folder: str = "") -> Path:
    (ctx.tmp / folder).mkdir(exist_ok=True)
    return _set(ctx, "table", _text(ctx, f"{folder}/species.tsv" if folder else "species.tsv", "path\tspecies\tstrain\n" + rows))


def _finetune(ctx: Ctx, table: Path, *extra: str) -> list[str]:
    return ["finetune", "task=species", f"model.path={ctx.model}", f"task.data.genomes={table}", "trainer.max_steps=1",
            "task.data.window_length=64", *extra]


def _labels(ctx: Ctx, text: str, expect: list[int] | None = None) -> Callable[[], None]:
    from genomamba.downstream.variants.labels import read_labelled_variants

    path = _text(ctx, "l.tsv", text)

    def read() -> None:
        rows = read_labelled_variants(path, option="--labels")
        assert expect is None or [r["label"] for r in rows] == expect, rows

    return read


def _ve(ctx: Ctx, **config: str) -> list[str]:
    """``--config`` of the variant_effect workflow on the bundled genome with the table's model."""
    base = {"vcf": str(_ok_vcf(ctx)), "fasta": str(ECOLI), "model": str(ctx.model), "benchmark": "", "labels": "",
            "device": "cpu"}
    return [f"{k}={v}" for k, v in {**base, **config}.items()]


def _reads_fasta(where: str) -> list[tuple[str, str, Callable[[Ctx], Any], int]]:
    """(name, kind, run, exit code) of every command that reads a FASTA, given a genome cut ``where``."""
    def cut(c: Ctx) -> Path:
        return _cut(c, ECOLI, where, "genome.fa.gz")

    def table(c: Ctx) -> Path:
        return _table(c, f"{ECOLI}\tEscherichia coli\t536\n{cut(c)}\tOther\tx\n")

    return [
        ("train", "cli", lambda c: [*_train_args(c.tmp), f"data.fasta={cut(c)}"], 2),
        ("evaluate", "cli", lambda c: _ev(c, cut(c)), 2),
        ("score-variants", "cli", lambda c: _sv(c, _ok_vcf(c), cut(c)), 2),
        ("variant-benchmark", "cli", lambda c: ["variant-benchmark", "--fasta", str(cut(c)), "--vcf", f"{BENCHMARK}.vcf",
                                                "--labels", f"{BENCHMARK}.labels.tsv", "--out-dir", str(c.tmp / "vb"),
                                                "--no-supervised"], 2),
        ("make-variant-benchmark", "cli", lambda c: ["make-variant-benchmark", "--fasta", str(cut(c)), "--out-prefix",
                                                     str(c.tmp / "bench")], 2),
        ("make-relative-track --fasta", "cli", lambda c: ["make-relative-track", "--fasta", str(cut(c)), "--relative",
                                                          str(TRACK), "--out", str(c.tmp / "t.fa")], 2),
        ("make-relative-track --relative", "cli", lambda c: ["make-relative-track", "--fasta", str(ECOLI), "--relative",
                                                             str(cut(c)), "--out", str(c.tmp / "t.fa")], 2),
        ("finetune task=species", "cli", lambda c: _finetune(c, table(c)), 2),
        ("embed(path)", "api", lambda c: lambda: genomamba.load(c.model).embed(str(cut(c)), progress=False), 2),
        *([("species_classification -n", "snakemake", lambda c: ["species_classification", f"genomes={table(c)}",
                                                                 f"model={c.model}"], 1),
           ("pretrain -n", "snakemake", lambda c: ["pretrain", f"fasta={cut(c)}"], 1)] if where == "mid-block" else
          [("variant_effect -n", "snakemake", lambda c: ["variant_effect", *_ve(c, fasta=str(cut(c)))], 1)]),
    ]


def _truncated(ctx: Ctx, err: str) -> None:
    """The fix is named, and nothing was left: no index of the cut file, no index cache folder, no outputs."""
    assert TRUNCATED in err, err
    cut = ctx.notes["cut"]
    left = [p.name for p in ctx.tmp.rglob("*") if p.name.endswith(".tmp") or (p.name.startswith(cut.name) and p != cut)]
    left += [name for name in ("run", "runs", "vb", "bench.vcf", "t.fa", "scores.tsv") if (ctx.tmp / name).exists()]
    assert not left and not Path(os.environ["GENOMAMBA_CACHE"]).exists(), left


def _says(*parts: str, no_runs: bool = False) -> Callable[[Ctx, str], None]:
    """A check that the error names each of ``parts`` (and, with ``no_runs``, that no run folder was made)."""
    def check(ctx: Ctx, err: str) -> None:
        line = next((ln for ln in err.splitlines() if ln.startswith(("genomamba: error:", "config key"))), err)
        missing = [p for p in parts if p not in line]
        assert not missing, f"{missing} not in {line!r}"
        assert not (no_runs and (ctx.tmp / "runs").exists()), sorted(os.listdir(ctx.tmp / "runs"))

    return check


def _bgzipped_benchmark_regions(ctx: Ctx) -> None:
    from genomamba.downstream.genes.benchmark import read_benchmark_regions

    pysam.tabix_compress(f"{BENCHMARK}.vcf", str(ctx.tmp / "b.vcf.gz"))
    assert read_benchmark_regions(ctx.tmp / "b.vcf.gz") == read_benchmark_regions(f"{BENCHMARK}.vcf") != []


# ----------------------------------------------------------------------------- issue 36, part A: outputs, run dirs, training
def _keep(ctx: Ctx, path: Path) -> Path:
    """Remember ``path``'s bytes; :func:`_intact` checks the command left them alone."""
    ctx.notes.setdefault("kept", {})[path] = path.read_bytes()
    return path


def _intact(ctx: Ctx, err: str) -> None:
    for path, data in ctx.notes.get("kept", {}).items():
        assert path.read_bytes() == data, f"{path} was overwritten"
    from genomamba.outputs import same_file

    out = ctx.notes.get("out")  # written only if it is one of the kept inputs (and then unchanged)
    assert out is None or any(same_file(out, k) for k in ctx.notes.get("kept", {})) or not Path(out).exists(), f"{out} was written"


def _only(*names: str) -> Callable[[Ctx, str], None]:
    """The row's check: ``tmp`` holds nothing but ``names`` (FASTA indexes aside), and no ``runs/``."""
    def check(ctx: Ctx, err: str) -> None:
        left = {n for n in os.listdir(ctx.tmp) if not n.endswith((".fai", ".gzi"))}
        assert left <= set(names), sorted(left - set(names))
        assert not (ctx.tmp.parent / "escape").exists()
    return check


def _labels_tsv(path: Path, rows: list[tuple[str, int, str, str, Any]]) -> Path:
    path.write_text("chrom\tpos\tref\talt\tlabel\n" + "".join(f"{c}\t{p}\t{r}\t{a}\t{lab}\n" for c, p, r, a, lab in rows))
    return path


def _ok_labels(ctx: Ctx, chrom: str = "chr1", label: Any = 1) -> Path:
    ref = SEQ[99]
    return _labels_tsv(ctx.tmp / "labels.tsv", [(chrom, 100, ref, "A" if ref != "A" else "C", label)])


def _model_copy(ctx: Ctx) -> Path:
    import shutil

    return Path(shutil.copytree(ctx.model, ctx.tmp / "m"))


def _held_by_another_run(ctx: Ctx, run_dir: Path) -> Path:
    """``run_dir`` locked as a running ``genomamba train`` holds it (a lock on another open file
    description conflicts even within one process)."""
    import fcntl

    from genomamba.outputs import LOCK_NAME

    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, b"pid=4242 host=node7 started=2025-01-01T10:00:00\n")
    ctx.notes["lock_fd"] = fd
    return run_dir


def _nothing_written_into_held(ctx: Ctx, err: str) -> None:
    from genomamba.outputs import LOCK_NAME

    assert os.listdir(ctx.tmp / "run") == [LOCK_NAME], os.listdir(ctx.tmp / "run")


def _named(*extra: str) -> Callable[[Ctx], list[str]]:
    """Training arguments with the run directory made from ``name=`` (runs/<name>), plus ``extra``."""
    return lambda c: [a for a in _train_args(c.tmp) if not a.startswith("run_dir=")] + list(extra)


def _no_model_run(ctx: Ctx) -> None:
    """Loading the model or scoring fails the row: the input checks come first."""
    from genomamba.models import GenomambaLM

    def boom(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the model ran before the inputs were checked")

    ctx.monkeypatch.setattr(GenomambaLM, "load", boom)
    ctx.monkeypatch.setattr("genomamba.downstream.variants.scoring.score_variants", boom)


def _sv_labels(ctx: Ctx, labels: Path) -> list[str]:
    _no_model_run(ctx)
    return _sv(ctx, _ok_vcf(ctx), None, None, "--labels", str(labels))


def _ve_finetune(ctx: Ctx, head_fasta: Path) -> list[str]:
    snvs = [(p, SEQ[p - 1], "A" if SEQ[p - 1] != "A" else "C") for p in (100, 110, 120, 130)]
    labels = _labels_tsv(ctx.tmp / "vl.tsv", [("chr1", p, r, a, i % 2) for i, (p, r, a) in enumerate(snvs)])
    return ["finetune", "task=variant_effect", f"model.path={ctx.model}", f"task.labels={labels}",
            f"task.head.fasta={head_fasta}", f"run_dir={ctx.tmp / 'run'}"]


def _benchmark(ctx: Ctx, regions: list[str], positions: list[int]) -> Path:
    """A hand-made gene benchmark on ``ref.fa`` (chr1 = SEQ): PREFIX.vcf with its region headers and
    PREFIX.labels.tsv with intergenic SNVs at ``positions``."""
    from genomamba.downstream.genes.benchmark import REGION_HEADER, TSV_COLUMNS

    _fasta(ctx.tmp / "ref.fa", {"chr1": SEQ})
    rows = [(p, SEQ[p - 1], "A" if SEQ[p - 1] != "A" else "C") for p in positions]
    (ctx.tmp / "b.vcf").write_text("##fileformat=VCFv4.2\n" + "".join(f"{REGION_HEADER}{r}\n" for r in regions)
                                   + "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                                   + "".join(f"chr1\t{p}\tv{i}\t{r}\t{a}\t.\t.\t.\n" for i, (p, r, a) in enumerate(rows)))
    lines = ["\t".join(TSV_COLUMNS)]
    for i, (p, r, a) in enumerate(rows):
        row = dict.fromkeys(TSV_COLUMNS, ".") | {"id": f"v{i}", "chrom": "chr1", "pos": str(p), "ref": r, "alt": a,
                                                 "consequence": "intergenic", "sample": "stratified"}
        lines.append("\t".join(row[c] for c in TSV_COLUMNS))
    (ctx.tmp / "b.labels.tsv").write_text("\n".join(lines) + "\n")
    return ctx.tmp / "b"


def _vb(ctx: Ctx, prefix: Path, *extra: str) -> list[str]:
    return ["variant-benchmark", "--fasta", str(ctx.tmp / "ref.fa"), "--benchmark", str(prefix),
            "--out-dir", str(ctx.tmp / "vb"), "--no-supervised", "--orders", "2", "--window", "32", *extra]


def _scores_of_another_vcf(ctx: Ctx) -> list[str]:
    prefix = _benchmark(ctx, ["chr1:2001-3000"], [2100, 2200])
    other = ctx.tmp / "other.tsv"
    other.write_text("chrom\tpos\tid\tref\talt\tscore\tstatus\nchr1\t100\t.\tT\tA\t0.1\tok\nchr1\t200\t.\tG\tA\t0.2\tok\n")
    return _vb(ctx, prefix, "--scores", str(other))


def _relative_protein(ctx: Ctx) -> Path:
    return _fasta(ctx.tmp / "prot.fa", {"p1": "MKVLAAGIVGLLLAWQPSRAEKLIDEVAKRHGFTAPRSMETPQWLLGHVAIFKRGFSD" * 20})


def _raise_in_scoring(ctx: Ctx, exc: BaseException) -> list[str]:
    def boom(*args: Any, **kwargs: Any) -> None:
        raise exc

    ctx.monkeypatch.setattr("genomamba.downstream.variants.scoring.score_variants", boom)
    ctx.monkeypatch.delenv("GENOMAMBA_DEBUG", raising=False)
    ctx.monkeypatch.setenv("TMPDIR", str(ctx.tmp / "crash"))
    (ctx.tmp / "crash").mkdir()
    import tempfile

    ctx.monkeypatch.setattr(tempfile, "tempdir", None)  # TMPDIR is read afresh
    return _sv(ctx, _ok_vcf(ctx))


def _traceback_in_a_file(ctx: Ctx, err: str) -> None:
    (report,) = list((ctx.tmp / "crash").glob("genomamba-crash-*.txt"))
    assert str(report) in err and "Traceback" in report.read_text() and "boom" in report.read_text()
    assert not ctx.notes["out"].exists()


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
    # --- part B rows ---
    # input files (issue 36 part B): truncated downloads, every command that reads a FASTA, both cuts
    *(Row(f"BGZF genome cut {where}: {name}", kind, run, code, lambda c: str(c.notes["cut"]), _truncated)
      for where in ("mid-block", "at a block boundary") for name, kind, run, code in _reads_fasta(where)),
    Row("truncated plain-gzip FASTA", "cli", lambda c: _ev(c, _set(c, "cut", _cut_plain_gzip(c, c.tmp / "g.fa.gz"))), 2,
        lambda c: str(c.notes["cut"]), _truncated),
    Row("truncated BGZF VCF", "cli", lambda c: _sv(c, _set(c, "cut", _cut_vcf(c, bgzf=True))), 2,
        lambda c: str(c.notes["cut"]), _truncated),
    Row("truncated plain-gzip VCF", "cli", lambda c: _sv(c, _set(c, "cut", _cut_vcf(c, bgzf=False))), 2,
        lambda c: str(c.notes["cut"]), _truncated),
    Row("truncated track .fa.gz", "cli", _sv_truncated_track, 2, lambda c: str(c.notes["cut"]), _truncated),
    # FASTA messages that named the wrong fault
    Row("FASTA record with an empty name", "cli", lambda c: _ev(c, _text(c, "e.fa", f">chr1\n{SEQ[:60]}\n>\n{SEQ[:60]}\n")), 2,
        lambda c: str(c.tmp / "e.fa"), _says("empty record name at line 3")),
    Row("FASTA with a space inside a sequence line", "cli",
        lambda c: _ev(c, _text(c, "s.fa", f">chr1\n{SEQ[:60]}\n{SEQ[60:90]} {SEQ[91:120]}\n{SEQ[120:150]}\n")), 2,
        lambda c: str(c.tmp / "s.fa"), _says("invalid character ' ' at line 3", "sed")),
    Row("FASTA with GenBank ORIGIN position numbers", "cli",
        lambda c: _ev(c, _text(c, "o.fa", ">chr1\n" + "".join(f"{i * 60 + 1:>9} " + " ".join(SEQ[i * 60 + j: i * 60 + j + 10] for j in range(0, 60, 10)) + "\n" for i in range(3)))),
        2, lambda c: str(c.tmp / "o.fa"), _says("invalid character ' ' at line 2", "GenBank ORIGIN")),
    Row("FASTA with old Mac (CR-only) line endings", "cli",
        lambda c: _ev(c, _text(c, "cr.fa", ">chr1\r" + "\r".join(SEQ[i:i + 60] for i in range(0, 600, 60)) + "\r")), 2,
        lambda c: str(c.tmp / "cr.fa"), _says("old Mac (CR-only) line endings", "tr '\\r' '\\n'")),
    Row("BGZF genome named .fa", "cli", lambda c: _ev(c, _set(c, "fa", _copy(ECOLI, c.tmp / "g.fa"))), 2,
        lambda c: str(c.notes["fa"]), _says("is BGZF-compressed", "mv ")),
    # VCF
    Row("VCF with a UTF-8 byte-order mark is read", "cli",
        lambda c: _sv(c, _bom(_ok_vcf(c))), 0, lambda c: "wrote 1 rows", _status_ok),
    # species tables (finetune)
    Row("species table listing one genome twice", "cli",
        lambda c: _finetune(c, _table(c, f"{ECOLI}\tEscherichia coli\t536\n{REPO_ROOT / 'data' / 'genomes' / 'staphylococcus_aureus_N315.fa.gz'}\tStaphylococcus aureus\tN315\n{ECOLI}\tEscherichia coli\t536b\n")),
        2, lambda c: str(c.notes["table"]), _says("lines 2 and 4 name the same genome", "remove one", no_runs=True)),
    Row("species table listing one file under two names", "cli",
        lambda c: _finetune(c, _table(c, f"{ECOLI}\tEscherichia coli\t536\n{REPO_ROOT / 'data' / 'genomes' / 'staphylococcus_aureus_N315.fa.gz'}\tStaphylococcus aureus\tN315\n{_link(c, ECOLI)}\tEscherichia coli\tcopy\n")),
        2, lambda c: str(c.notes["table"]), _says("lines 2 and 4 name the same genome", "link.fa.gz", no_runs=True)),
    Row("species table naming a missing FASTA", "cli",
        lambda c: _finetune(c, _table(c, f"{ECOLI}\tEscherichia coli\t536\ngenomes/nothere.fa.gz\tStaphylococcus aureus\tN315\n", folder="tables")),
        2, lambda c: str(c.notes["table"]),
        lambda c, err: _says("line 3 of the species table", str(c.tmp / "tables" / "genomes" / "nothere.fa.gz"),
                             "taken from the table's folder", no_runs=True)(c, err)),
    Row("test_strains naming a species' only strain", "cli",
        lambda c: _finetune(c, REPO_ROOT / "data" / "species.tsv", "task.data.split=strain",
                            'task.data.test_strains=["Escherichia coli=536"]'), 2, lambda c: "test_strains",
        _says("'Escherichia coli' has a single strain ('536')", no_runs=True)),
    # the labelled-variants TSV reader
    Row("labels TSV: a label 'yes'", "api", lambda c: _labels(c, "chrom\tpos\tref\talt\tlabel\nchr1\t5\tA\tG\tyes\n"), 2,
        lambda c: f"--labels {c.tmp / 'l.tsv'}, line 2: label 'yes' is not 0 or 1"),
    Row("labels TSV: no label column", "api", lambda c: _labels(c, "chrom\tpos\tref\talt\nchr1\t5\tA\tG\n"), 2,
        lambda c: f"--labels {c.tmp / 'l.tsv'}: header lacks column(s) ['label']"),
    Row("labels TSV: comma-separated", "api", lambda c: _labels(c, "chrom,pos,ref,alt,label\nchr1,5,A,G,1\n"), 2,
        lambda c: "the header is comma-separated, use tabs"),
    Row("labels TSV: a VCF given as labels", "api", lambda c: _labels(c, _ok_vcf(c).read_text()), 2,
        lambda c: "is a VCF, not a labels TSV"),
    Row("labels TSV: one variant labelled twice", "api",
        lambda c: _labels(c, "chrom\tpos\tref\talt\tlabel\nchr1\t5\tA\tG\t1\nchr1\t6\tA\tG\t0\nchr1\t5\ta\tg\t0\n"), 2,
        lambda c: "lines 2 and 4 both label chr1:5 A>G"),
    Row("labels TSV with a BOM, CRLF and '#CHROM' header is read", "api",
        lambda c: _labels(c, "\ufeff#CHROM\tPOS\tREF\tALT\tLABEL\r\nchr1\t5\tA\tG\t1\r\nchr1\t6\tA\tC\t0.0\r\n", expect=[1, 0]),
        0, lambda c: ""),
    # workflows: what a job would refuse fails the dry run
    Row("variant_effect -n: a track model with track=''", "snakemake",
        lambda c: ["variant_effect", *_ve(c, model=_track_model(c), track="")], 1, lambda c: "config key 'track'",
        _says("reads a relative track", "set track to")),
    Row("variant_effect -n: a plain model with track set", "snakemake",
        lambda c: ["variant_effect", *_ve(c, track=str(TRACK))], 1, lambda c: "config key 'track'",
        _says("does not read a relative track", "set track to ''")),
    Row("variant_effect -n: a plain-gzip VCF", "snakemake",
        lambda c: ["variant_effect", *_ve(c, vcf=str(_plain_gzip(_ok_vcf(c), c.tmp / "v.vcf.gz")))], 1,
        lambda c: "config key 'vcf'", _says("is plain gzip", "bgzip")),
    Row("pretrain -n: overrides=[trainer.max_stepz=3]", "snakemake",
        lambda c: ["pretrain", f"fasta={_text(c, 'g.fa', '>chr1' + chr(10) + SEQ + chr(10))}", "overrides=[model=tiny,trainer.max_stepz=3]"], 1,
        lambda c: "config key 'overrides'", _says("trainer.max_stepz")),
    # more careless inputs (issue 36 part B, item 8)
    Row("FASTQ given as FASTA", "cli", lambda c: _ev(c, _text(c, "r.fa", "@r1\nACGT\n+\nIIII\n@r2\nACGT\n+\nIIII\n")), 2,
        lambda c: str(c.tmp / "r.fa"), _says("FASTQ")),
    Row("GenBank file given as FASTA", "cli", lambda c: _ev(c, _text(c, "g.gb", "LOCUS  X 10 bp DNA\nORIGIN\n        1 acgtacgtac\n//\n")), 2,
        lambda c: str(c.tmp / "g.gb"), _says("GenBank", "SeqIO.convert")),
    Row("UTF-16 FASTA", "cli", lambda c: _ev(c, _write(c.tmp / "u.fa", f">chr1\n{SEQ}\n".encode("utf-16"))), 2,
        lambda c: str(c.tmp / "u.fa"), _says("UTF-16", "iconv")),
    Row("FASTA with a UTF-8 byte-order mark", "cli", lambda c: _ev(c, _write(c.tmp / "b.fa", f"\ufeff>chr1\n{SEQ}\n".encode())), 2,
        lambda c: str(c.tmp / "b.fa"), _says("byte-order mark")),
    Row("protein FASTA given as a genome", "cli", lambda c: _ev(c, _text(c, "p.fa", ">p1\nMKVLAAGIVGLLLAQEEFW\n")), 2,
        lambda c: str(c.tmp / "p.fa"), _says("invalid character 'L' at line 2", "protein")),
    Row("plain-text FASTA named .fa.gz", "cli", lambda c: _ev(c, _text(c, "t.fa.gz", f">chr1\n{SEQ}\n")), 2,
        lambda c: str(c.tmp / "t.fa.gz"), _says("is not compressed", "mv ")),
    Row("aligned FASTA with gaps", "cli", lambda c: _ev(c, _text(c, "a.fa", f">chr1\n{SEQ[:30]}--{SEQ[32:60]}\n{SEQ[60:120]}\n")), 2,
        lambda c: str(c.tmp / "a.fa"), _says("invalid character '-' at line 2", "seqkit seq -g")),
    Row("VCF contigs with a 'chr' prefix the FASTA lacks", "cli",
        lambda c: _sv(c, _vcf(c.tmp / "v.vcf", [("chr1", 100, SEQ[99], "A" if SEQ[99] != "A" else "C")]),
                      _fasta(c.tmp / "ref.fa", {"1": SEQ})), 2, lambda c: str(c.tmp / "ref.fa"), _says("differ by a 'chr' prefix")),
    Row("VCF saved as UTF-16", "cli", lambda c: _sv(c, _write(c.tmp / "u.vcf", _ok_vcf(c).read_text().encode("utf-16"))), 2,
        lambda c: str(c.tmp / "u.vcf"), _says("UTF-16", "iconv")),
    Row("VCF with Windows (CRLF) line endings is read", "cli",
        lambda c: _sv(c, _write(c.tmp / "w.vcf", _ok_vcf(c).read_bytes().replace(b"\n", b"\r\n"))), 0,
        lambda c: "wrote 1 rows", _status_ok),
    Row("species table that is comma-separated", "cli",
        lambda c: _finetune(c, _write(c.tmp / "c.tsv", f"path,species\n{ECOLI},Escherichia coli\n".encode())), 2,
        lambda c: str(c.tmp / "c.tsv"), _says("comma-separated: use tabs", no_runs=True)),
    Row("bgzipped gene-benchmark VCF", "api", lambda c: lambda: _bgzipped_benchmark_regions(c), 0, lambda c: ""),
    # -- issue 36, part A: an output never overwrites an input of the same command
    Row("score-variants --out is --vcf", "cli", lambda c: _sv(c, _keep(c, _ok_vcf(c)), None, c.tmp / "v.vcf"), 2,
        lambda c: f"--vcf {c.tmp / 'v.vcf'}", _intact),
    Row("score-variants --out is a symlink to --fasta", "cli",
        lambda c: (_keep(c, _fasta(c.tmp / "ref.fa", {"chr1": SEQ})), (c.tmp / "link.fa").symlink_to(c.tmp / "ref.fa"),
                   _sv(c, _ok_vcf(c), c.tmp / "ref.fa", c.tmp / "link.fa"))[-1], 2, lambda c: "--fasta", _intact),
    Row("score-variants --out is a hard link of --vcf", "cli",
        lambda c: (os.link(_keep(c, _ok_vcf(c)), c.tmp / "hard.vcf"), _sv(c, c.tmp / "v.vcf", None, c.tmp / "hard.vcf"))[-1],
        2, lambda c: "--vcf", _intact),
    Row("score-variants --out is --labels", "cli",
        lambda c: _sv(c, _ok_vcf(c), None, _keep(c, _ok_labels(c)), "--labels", str(c.tmp / "labels.tsv")), 2,
        lambda c: "--labels", _intact),
    Row("score-variants --out is the model's config.json", "cli",
        lambda c: [*_sv(c, _ok_vcf(c), None, _keep(c, _model_copy(c) / "config.json")), "--model", str(c.tmp / "m")], 2,
        lambda c: f"--model {c.tmp / 'm'}", _intact),
    Row("evaluate --output is --fasta", "cli",
        lambda c: _ev(c, _keep(c, _fasta(c.tmp / "g.fa", {"chr1": SEQ})), "--output", str(c.tmp / "g.fa")), 2,
        lambda c: "--fasta", _intact),
    Row("make-relative-track --out is --relative", "cli",
        lambda c: ["make-relative-track", "--fasta", str(_fasta(c.tmp / "g.fa", {"chr1": SEQ})), "--relative",
                   str(_keep(c, _fasta(c.tmp / "r.fa", {"chr1": _dna(3000, 5)}))), "--out", str(c.tmp / "r.fa")], 2,
        lambda c: "--relative", _intact),
    Row("make-variant-benchmark PREFIX.vcf is --fasta", "cli",
        lambda c: ((c.tmp / "b.vcf").symlink_to(_keep(c, _fasta(c.tmp / "g.fa", {"chr1": SEQ}))),
                   ["make-variant-benchmark", "--fasta", str(c.tmp / "b.vcf"), "--out-prefix", str(c.tmp / "b")])[-1], 2,
        lambda c: "--fasta", _intact),
    Row("variant-benchmark --out-dir holds --scores as scores.tsv", "cli",
        lambda c: ((c.tmp / "vb").mkdir(), _keep(c, c.tmp / "vb" / "scores.tsv") if (c.tmp / "vb" / "scores.tsv").write_text("x\n") else None,
                   _vb(c, _benchmark(c, ["chr1:2001-3000"], [2100]), "--scores", str(c.tmp / "vb" / "scores.tsv")))[-1], 2,
        lambda c: "--scores", _intact),
    Row("train module.init_from is the run's own model/", "cli",
        lambda c: (genomamba.load(c.model).model.save_pretrained(c.tmp / "run" / "model"),
                   _train_args(c.tmp, f"module.init_from={c.tmp / 'run' / 'model'}"))[-1], 2, lambda c: "module.init_from"),
    Row("finetune into the training run's own directory", "cli",
        lambda c: ((c.tmp / "run").mkdir(), genomamba.load(c.model).model.save_pretrained(c.tmp / "run" / "model"),
                   ["finetune", f"model.path={c.tmp / 'run'}", f"run_dir={c.tmp / 'run'}", f"paths.data_dir={REPO_ROOT / 'data'}"])[-1],
        2, lambda c: "model.path", lambda c, err: os.listdir(c.tmp / "run") == ["model"] or pytest.fail(str(os.listdir(c.tmp / "run")))),
    # -- an output never goes into a run directory another run holds; a second run into it stops before writing
    Row("score-variants --out inside a run directory another run holds", "cli",
        lambda c: _sv(c, _ok_vcf(c), None, _held_by_another_run(c, c.tmp / "r") / "s.tsv"), 2,
        lambda c: "pid 4242 on host node7", _intact),
    Row("train into a run directory another run holds", "cli",
        lambda c: (_held_by_another_run(c, c.tmp / "run"), _train_args(c.tmp))[-1], 2,
        lambda c: "in use by another genomamba run (pid 4242 on host node7", _nothing_written_into_held),
    Row("train ckpt_path=last while the run is still running", "cli",
        lambda c: (_held_by_another_run(c, c.tmp / "run"), _train_args(c.tmp, "ckpt_path=last"))[-1], 2,
        lambda c: "in use by another genomamba run", _nothing_written_into_held),
    Row("train run_dir inside a held run directory", "cli",
        lambda c: (_held_by_another_run(c, c.tmp / "run"), [*_train_args(c.tmp), f"run_dir={c.tmp / 'run' / 'sub'}"])[-1], 2,
        lambda c: f"inside run directory {c.tmp / 'run'}", _nothing_written_into_held),
    # -- a run name is one folder name
    Row("train name= (empty)", "cli", _named("name="), 2, lambda c: "name= is empty", _only("train.fa")),
    Row("train name=../escape", "cli", _named("name=../escape"), 2, lambda c: "name='../escape'", _only("train.fa")),
    Row("train name=a/b", "cli", _named("name=a/b"), 2, lambda c: "name='a/b'", _only("train.fa")),
    Row("train name=.", "cli", _named("name=."), 2, lambda c: "name='.'", _only("train.fa")),
    Row("finetune name=..", "cli", lambda c: ["finetune", f"model.path={c.model}", "name=.."], 2, lambda c: "name='..'",
        _only()),
    # -- optimiser and trainer settings: one line naming the key, before anything is written
    Row("module.lr=-0.01", "cli", lambda c: _train_args(c.tmp, "module.lr=-0.01"), 2, lambda c: "module.lr", _no_run_dir),
    Row("module.lr=nan", "cli", lambda c: _train_args(c.tmp, "module.lr=nan"), 2, lambda c: "module.lr", _no_run_dir),
    Row("module.lr=inf", "cli", lambda c: _train_args(c.tmp, "module.lr=inf"), 2, lambda c: "module.lr", _no_run_dir),
    Row("module.betas=[1.5,0.9]", "cli", lambda c: _train_args(c.tmp, "module.betas=[1.5,0.9]"), 2,
        lambda c: "module.betas", _no_run_dir),
    Row("module.weight_decay=-1", "cli", lambda c: _train_args(c.tmp, "module.weight_decay=-1"), 2,
        lambda c: "module.weight_decay", _no_run_dir),
    Row("module.eps=0", "cli", lambda c: _train_args(c.tmp, "module.eps=0"), 2, lambda c: "module.eps", _no_run_dir),
    Row("module.warmup_steps=-1", "cli", lambda c: _train_args(c.tmp, "module.warmup_steps=-1"), 2,
        lambda c: "module.warmup_steps", _no_run_dir),
    Row("finetune finetune.lr=0", "cli",
        lambda c: ["finetune", f"model.path={c.model}", "finetune.lr=0", f"run_dir={c.tmp / 'run'}",
                   f"paths.data_dir={REPO_ROOT / 'data'}"], 2, lambda c: "finetune.lr", _no_run_dir),
    Row("trainer.max_steps=0", "cli", lambda c: _train_args(c.tmp, "trainer.max_steps=0"), 2,
        lambda c: "trainer.max_steps=0", _no_run_dir),
    Row("trainer.max_epochs=0", "cli", lambda c: _train_args(c.tmp, "trainer.max_steps=-1", "trainer.max_epochs=0"), 2,
        lambda c: "trainer.max_epochs=0", _no_run_dir),
    Row("train run_dir under a file", "cli",
        lambda c: ((c.tmp / "afile").write_text(""), [*_train_args(c.tmp), f"run_dir={c.tmp / 'afile' / 'run'}"])[-1], 2,
        lambda c: f"{c.tmp / 'afile'} is a file"),
    # -- every Hydra app: one preflight, one error path
    Row("demo trainer.max_stepz=3", "cli", lambda c: ["demo", "--run-dir", str(c.tmp / "run"), "trainer.max_stepz=3"], 2,
        lambda c: "Could not override 'trainer.max_stepz'", _no_run_dir),
    Row("finetune trainer.max_stepz=3", "cli",
        lambda c: ["finetune", f"model.path={c.model}", f"run_dir={c.tmp / 'run'}", "trainer.max_stepz=3"], 2,
        lambda c: "Could not override 'trainer.max_stepz'", _no_run_dir),
    # -- labels and the fine-tune FASTA are read before the model runs; nothing left behind
    Row("score-variants --labels missing.tsv", "cli", lambda c: _sv_labels(c, c.tmp / "missing.tsv"), 2,
        lambda c: f"--labels {c.tmp / 'missing.tsv'}", _intact),
    Row("score-variants --labels with label yes", "cli", lambda c: _sv_labels(c, _ok_labels(c, label="yes")), 2,
        lambda c: f"--labels {c.tmp / 'labels.tsv'}, line 2", _intact),
    Row("score-variants --labels with a chrom not in --fasta", "cli", lambda c: _sv_labels(c, _ok_labels(c, chrom="chrX")), 2,
        lambda c: "--labels", lambda c, err: ("'chrX'" in err or pytest.fail(err)) and _intact(c, err)),
    Row("score-variants --labels is a directory", "cli", lambda c: ((c.tmp / "ldir").mkdir(), _sv_labels(c, c.tmp / "ldir"))[-1],
        2, lambda c: "is a directory", _intact),
    Row("finetune variant_effect, task.head.fasta missing", "cli", lambda c: _ve_finetune(c, c.tmp / "missing.fa"), 2,
        lambda c: f"task.head.fasta={c.tmp / 'missing.fa'}", _no_run_dir),
    Row("finetune variant_effect, task.head.fasta of another genome", "cli",
        lambda c: _ve_finetune(c, _fasta(c.tmp / "other.fa", {"other": _dna(3000, 9)})), 2,
        lambda c: f"task.head.fasta={c.tmp / 'other.fa'}", _no_run_dir),
    # -- messages that name the right thing
    Row("config.json with n_layer \"four\"", "cli",
        lambda c: (_model_copy(c), (c.tmp / "m" / "config.json").write_text(
            (c.tmp / "m" / "config.json").read_text().replace('"n_layer": 1', '"n_layer": "four"')),
            ["evaluate", str(c.tmp / "m"), "--fasta", str(_fasta(c.tmp / "g.fa", {"chr1": SEQ}))])[-1], 2,
        lambda c: "n_layer must be an integer, got 'four'", lambda c, err: str(c.tmp / "m" / "config.json") in err or pytest.fail(err)),
    Row("config.json with tie_embeddings \"yes\"", "api",
        lambda c: lambda: genomamba.GenomambaConfig.from_json('{"tie_embeddings": "yes"}'), 2, lambda c: "tie_embeddings"),
    Row("embed(['genome.fa']): a path inside a list", "api",
        lambda c: lambda: genomamba.load(c.model).embed([str(_fasta(c.tmp / "g.fa", {"chr1": SEQ}))], progress=False), 2,
        lambda c: "pass a FASTA path alone"),
    Row("embed([Path('genome.fa')])", "api",
        lambda c: lambda: genomamba.load(c.model).embed([_fasta(c.tmp / "g.fa", {"chr1": SEQ})], progress=False), 2,
        lambda c: "(fasta, contig, start, end)"),
    Row("score-variants --vcf is a directory", "cli", lambda c: ((c.tmp / "vdir").mkdir(), _sv(c, c.tmp / "vdir"))[-1], 2,
        lambda c: f"{c.tmp / 'vdir'} is a directory", _intact),
    Row("variant-benchmark on a whole-genome benchmark", "cli",
        lambda c: _vb(c, _benchmark(c, ["chr1"], [2100])), 2, lambda c: "--last-fraction", _only("ref.fa", "b.vcf", "b.labels.tsv")),
    Row("variant-benchmark --scores from another VCF", "cli", _scores_of_another_vcf, 2,
        lambda c: f"--scores {c.tmp / 'other.tsv'} does not match the benchmark {c.tmp / 'b.vcf'}",
        _only("ref.fa", "b.vcf", "b.labels.tsv", "other.tsv")),
    Row("variant-benchmark --relative is a protein FASTA", "cli",
        lambda c: _vb(c, _benchmark(c, ["chr1:2001-3000"], [2100]), "--relative", str(_relative_protein(c))), 2,
        lambda c: "--relative", _only("ref.fa", "b.vcf", "b.labels.tsv", "prot.fa")),
    Row("variant-benchmark --out-dir is a file", "cli",
        lambda c: ((c.tmp / "vb").write_text("mine\n"), _keep(c, c.tmp / "vb"), _vb(c, _benchmark(c, ["chr1:2001-3000"], [2100])))[-1],
        2, lambda c: "--out-dir", _intact),
    Row("make-relative-track --relative is a protein FASTA", "cli",
        lambda c: ["make-relative-track", "--fasta", str(_fasta(c.tmp / "g.fa", {"chr1": SEQ})), "--relative",
                   str(_relative_protein(c)), "--out", str(c.tmp / "t.fa")], 2, lambda c: "a protein FASTA?",
        _only("g.fa", "prot.fa")),
    Row("make-relative-track with nothing aligned", "cli",
        lambda c: ["make-relative-track", "--fasta", str(_fasta(c.tmp / "g.fa", {"chr1": SEQ})), "--relative",
                   str(_fasta(c.tmp / "r.fa", {"chr1": _dna(3000, 5)})), "--out", str(c.tmp / "t.fa")], 2,
        lambda c: "--relative", _only("g.fa", "r.fa")),
    Row("make-variant-benchmark on a 100 bp genome", "cli",
        lambda c: ["make-variant-benchmark", "--fasta", str(_fasta(c.tmp / "tiny.fa", {"c": SEQ[:100]})), "--out-prefix",
                   str(c.tmp / "b")], 2, lambda c: "no complete gene", _only("tiny.fa")),
    Row("make-variant-benchmark --out-prefix is a directory", "cli",
        lambda c: ((c.tmp / "bench").mkdir(), ["make-variant-benchmark", "--fasta", str(ECOLI), "--out-prefix", f"{c.tmp / 'bench'}/"])[-1],
        2, lambda c: "--out-prefix", lambda c, err: os.listdir(c.tmp / "bench") == [] or pytest.fail(str(os.listdir(c.tmp / "bench")))),
    Row("score-variants header-only VCF", "cli", lambda c: _sv(c, _vcf(c.tmp / "v.vcf", [])), 2,
        lambda c: "no variant records", _intact),
    # -- Python API outputs
    Row("save_pretrained into a folder of other files", "api",
        lambda c: ((c.tmp / "results").mkdir(), _keep(c, c.tmp / "results" / "keep.txt") if (c.tmp / "results" / "keep.txt").write_text("x") else None,
                   lambda: genomamba.load(c.model).model.save_pretrained(c.tmp / "results"))[-1], 2, lambda c: "keep.txt", _intact),
    Row("save_pretrained onto an existing file", "api",
        lambda c: (_keep(c, _fasta(c.tmp / "g.fa", {"chr1": SEQ})), lambda: genomamba.load(c.model).model.save_pretrained(c.tmp / "g.fa"))[-1],
        2, lambda c: "is a file", _intact),
    # -- no traceback: Ctrl-C and bugs are one line too
    Row("Ctrl-C during score-variants", "cli", lambda c: _raise_in_scoring(c, KeyboardInterrupt()), 130,
        lambda c: "genomamba: interrupted (Ctrl-C)", lambda c, err: not c.notes["out"].exists() or pytest.fail("scores written")),
    Row("a bug inside a command: one line, traceback in a file", "cli", lambda c: _raise_in_scoring(c, RuntimeError("boom")), 1,
        lambda c: "genomamba: internal error: RuntimeError: boom", _traceback_in_a_file),
    Row("finetune model.path is a FASTA", "cli",
        lambda c: ["finetune", f"model.path={_fasta(c.tmp / 'g.fa', {'chr1': SEQ})}", f"run_dir={c.tmp / 'run'}",
                   f"paths.data_dir={REPO_ROOT / 'data'}"], 2, lambda c: "not a torch checkpoint (a text file)", _no_run_dir),
    # --- part B rows ---
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
    if "lock_fd" in c.notes:
        os.close(c.notes["lock_fd"])
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
