"""The models shipped in genomamba/pretrained/: they load by name everywhere and know more than
an order-2 Markov chain about a region of their genome that training never saw."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import genomamba
from genomamba.models import GenomambaLM
from genomamba.models.checkpoint import CONFIG_NAME, PRETRAINED_DIR, WEIGHTS_NAME, pretrained_names

SHIPPED = "ecoli536-hybrid-small"
ALL_SHIPPED = ["ecoli536-hybrid-small", "ecoli536-hybrid-codon", "ecoli536-hybrid-d256", "bacteria4-hybrid-d256",
               "ecoli536-mamba-periodic", "ecoli536-mamba-track"]
ECOLI = Path(__file__).resolve().parents[2] / "data" / "genomes" / "escherichia_coli_536.fa.gz"
# the relative track ecoli536-mamba-track reads (K. pneumoniae MGH 78578 aligned to E. coli 536)
ECOLI_TRACK = ECOLI.parents[1] / "tracks" / "escherichia_coli_536.relative_klebsiella_pneumoniae_MGH78578.fa.gz"
MAX_BYTES = 20 * 1024 * 1024


@pytest.mark.parametrize("name", ALL_SHIPPED)
def test_the_shipped_model_is_listed_small_and_documented(name: str) -> None:
    assert name in pretrained_names()
    folder = PRETRAINED_DIR / name
    assert (folder / WEIGHTS_NAME).stat().st_size <= MAX_BYTES
    card = (folder / "MODEL_CARD.md").read_text()
    for section in ("## Data", "## Reproduce", "## Held-out results", "## Limits"):
        assert section in card, section
    config = json.loads((folder / CONFIG_NAME).read_text())
    # the name says the architecture: "hybrid" models have attention layers, "mamba" ones none
    assert bool(config["attn_layers"]) == ("-hybrid-" in name), name


@pytest.mark.parametrize("name", ALL_SHIPPED)
def test_loads_by_name_from_python(name: str) -> None:
    wrapped = genomamba.load(name, device="cpu")
    emb = wrapped.embed(["ACGT" * 32])
    assert emb.shape == (1, wrapped.model.config.d_model)
    assert isinstance(GenomambaLM.load(name), GenomambaLM)


def test_the_codon_models_have_their_period_3_rotary_pair() -> None:
    for name in ("ecoli536-hybrid-codon", "ecoli536-hybrid-d256", "bacteria4-hybrid-d256"):
        assert GenomambaLM.load(name).config.rope_periods == [3], name
    assert not GenomambaLM.load(SHIPPED).config.rope_periods


def test_the_periodic_mamba_model_has_two_period_3_states_per_channel() -> None:
    config = GenomambaLM.load("ecoli536-mamba-periodic").config
    assert config.ssm_periods == [3, 3] and not config.attn_layers and not config.rope_periods


HELDOUT = {"window_length": 1024, "val_fraction": 0.05, "max_windows": 12}


@pytest.fixture(scope="module")
def order2_markov_on_held_out_ecoli() -> dict:
    """Order-2 Markov bits/base on the held-out windows, fitted once for all shipped models."""
    from genomamba.training.evaluate import evaluate_model

    return evaluate_model(ALL_SHIPPED[0], ECOLI, orders=[2], **HELDOUT)


@pytest.mark.parametrize("name", ALL_SHIPPED)
def test_beats_order2_markov_on_held_out_ecoli(name: str, order2_markov_on_held_out_ecoli: dict) -> None:
    """The last 5% of E. coli 536 was held out by every shipped model's training run (the E. coli
    models held out the last 5%, bacteria4 the last 20% of each genome)."""
    # Imported here: tests/models is collected by `make gpu-check` on GPU images that may lack the
    # data stack (pyfaidx, Hydra) which the evaluation needs.
    from genomamba.training.evaluate import evaluate_model

    track = ECOLI_TRACK if GenomambaLM.load(name).config.relative_track else None
    result = evaluate_model(name, ECOLI, orders=[], track=track, **HELDOUT)
    markov = order2_markov_on_held_out_ecoli
    assert result["heldout"] == markov["heldout"], "the same windows for every model"
    model_bpb, markov2_bpb = result["model"]["bits_per_base"], markov["markov"]["2"]
    assert model_bpb < markov2_bpb - 0.02, (model_bpb, markov2_bpb)


def test_the_track_model_reads_its_track_and_started_from_the_periodic_model() -> None:
    """ecoli536-mamba-track is ecoli536-mamba-periodic plus a relative-track table, fine-tuned: the
    same architecture, a trained (non-zero) table, and the base model's training record carried."""
    track, base = GenomambaLM.load("ecoli536-mamba-track"), GenomambaLM.load("ecoli536-mamba-periodic")
    assert track.config.relative_track and not base.config.relative_track
    assert {k: v for k, v in track.config.to_dict().items() if k != "relative_track"} == {
        k: v for k, v in base.config.to_dict().items() if k != "relative_track"}
    assert track.backbone.track_embeddings.weight.abs().sum() > 0
    assert all(r in track.training_data["records"] for r in base.training_data["records"])


def test_loads_by_name_in_the_cli(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("genomamba")
    proc = subprocess.run(
        [str(script), "evaluate", SHIPPED, "--fasta", str(ECOLI), "--window-length", "512", "--max-windows", "2",
         "--orders", "2"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["model_path"] == SHIPPED


@pytest.mark.parametrize("name", ["ecoli536-hybrid-smal", "../ecoli536-hybrid-small"])
def test_a_wrong_name_lists_the_shipped_ones(name: str) -> None:
    with pytest.raises(genomamba.GenomambaError, match=SHIPPED):
        GenomambaLM.load(name)


def test_loads_by_name_in_a_workflow(tmp_path: Path) -> None:
    """The species workflow takes the name as its `model` (a dry run resolves it at parse time)."""
    repo = Path(__file__).resolve().parents[2]
    snakemake = Path(sys.executable).with_name("snakemake")
    proc = subprocess.run(
        [str(snakemake), "-s", str(repo / "workflows" / "species_classification" / "Snakefile"), "-n",
         "--directory", str(tmp_path), "--config", f"genomes={repo / 'data' / 'species.tsv'}", f"model={SHIPPED}"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert str(PRETRAINED_DIR / SHIPPED) in proc.stdout + proc.stderr


@pytest.mark.parametrize("name", ALL_SHIPPED)
def test_records_the_training_sequence_its_card_states(name: str) -> None:
    """training_data.json matches the bundled genomes by content: what the card says was held out
    passes the held-out check, what it says was trained on is refused."""
    from genomamba.data.fasta import GenomeFile
    from genomamba.data.intervals import Interval, split_by_region
    from genomamba.data.provenance import check_held_out

    model = GenomambaLM.load(name)
    genomes = ECOLI.parent
    trained_fraction = 0.8 if name.startswith("bacteria4") else 0.95
    held = {"escherichia_coli_536.fa.gz": 1 - trained_fraction}
    if name.startswith("bacteria4"):  # the probe's unseen strains, and HS11286 / JH1's held-out 20%
        held |= {"klebsiella_pneumoniae_MGH78578.fa.gz": 1.0, "staphylococcus_aureus_N315.fa.gz": 1.0,
                 "klebsiella_pneumoniae_HS11286.fa.gz": 0.2, "staphylococcus_aureus_JH1.fa.gz": 0.2}
    else:
        held |= {"klebsiella_pneumoniae_HS11286.fa.gz": 1.0}
    for fasta, fraction in held.items():
        g = GenomeFile(genomes / fasta)
        tail = split_by_region(g.lengths, val_fraction=0.0, test_fraction=fraction)["test"] if fraction < 1 else [
            Interval(c, 0, n) for c, n in g.lengths.items()]
        assert check_held_out(model, [(g, tail)], name, "fix")["seen_bp"] == {}, fasta
        if fraction < 1:  # the whole genome includes its trained part
            whole = [Interval(c, 0, n) for c, n in g.lengths.items()]
            with pytest.raises(genomamba.GenomambaError, match="trained on"):
                check_held_out(model, [(g, whole)], name, "fix")
