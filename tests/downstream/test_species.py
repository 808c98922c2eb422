"""Species data: tables, split protocols, deterministic balanced windows, k-mer features."""

from __future__ import annotations

import numpy as np
import pytest

from genomamba.downstream.kmer import canonical_index, kmer_baseline, kmer_frequencies
from genomamba.downstream.species.genomes import as_genomes, draw_windows, read_species_table, split_genomes
from genomamba.errors import ConfigError, FastaError


@pytest.fixture(scope="session")
def region_split(species_tsv):
    return split_genomes(species_tsv, split="region", test_fraction=0.2, seed=0)


@pytest.fixture(scope="session")
def strain_split(species_tsv):
    return split_genomes(species_tsv, split="strain", seed=0)


def test_species_table(species_tsv) -> None:
    genomes = read_species_table(species_tsv)
    assert len(genomes) == 6 and all(g.path.is_file() for g in genomes)
    assert {g.species for g in genomes} == {"Escherichia coli", "Klebsiella pneumoniae", "Staphylococcus aureus", "Helicobacter pylori"}
    assert as_genomes(None) == genomes


def test_region_split_is_disjoint_and_covers_every_genome(region_split) -> None:
    for f, train, test in zip(region_split.files, region_split.intervals["train"], region_split.intervals["test"], strict=True):
        assert train and test
        for iv in test:
            assert not any(iv.overlaps(jv) for jv in train)
        main = max(f.lengths, key=f.lengths.get)
        n = f.lengths[main]
        assert [iv for iv in test if iv.contig == main] == [type(test[0])(main, n - round(0.2 * n), n)]


def test_strain_split_holds_out_one_strain_per_multi_strain_species(strain_split) -> None:
    assert strain_split.held_out["Klebsiella pneumoniae"].startswith("strain ")
    assert strain_split.held_out["Staphylococcus aureus"].startswith("strain ")
    assert "record" in strain_split.held_out["Escherichia coli"]  # single strain: region fallback
    for sp in ("Klebsiella pneumoniae", "Staphylococcus aureus"):
        idx = [i for i, g in enumerate(strain_split.genomes) if g.species == sp]
        tested = [i for i in idx if strain_split.intervals["test"][i]]
        trained = [i for i in idx if strain_split.intervals["train"][i]]
        assert len(tested) == 1 and trained == [i for i in idx if i not in tested]
        assert not strain_split.intervals["train"][tested[0]]
    test = draw_windows(strain_split, "test", 256, 8, seed=0)
    held = {f"{sp} {strain_split.held_out[sp].removeprefix('strain ')}" for sp in ("Klebsiella pneumoniae", "Staphylococcus aureus")}
    kp_sa = {g for g, y in zip(test.genome, test.labels, strict=True) if strain_split.species[y] in ("Klebsiella pneumoniae", "Staphylococcus aureus")}
    assert kp_sa == held


# The strains bacteria4-hybrid-d256 never saw in pretraining; a seed alone picks others for some seeds.
UNSEEN = {"Klebsiella pneumoniae": "MGH 78578", "Staphylococcus aureus": "N315"}


def test_named_test_strains_are_held_out_whatever_the_seed(species_tsv) -> None:
    seeded = {split_genomes(species_tsv, split="strain", seed=seed).held_out["Klebsiella pneumoniae"] for seed in range(6)}
    assert len(seeded) == 2  # the seed alone holds out either Klebsiella strain
    for seed in range(6):
        sp = split_genomes(species_tsv, split="strain", seed=seed, test_strains=UNSEEN)
        assert sp.held_out["Klebsiella pneumoniae"] == "strain MGH 78578"
        assert sp.held_out["Staphylococcus aureus"] == "strain N315"
        names = [g.strain for g in sp.genomes]
        assert not sp.intervals["train"][names.index("MGH 78578")] and sp.intervals["train"][names.index("HS11286")]
        assert not sp.intervals["test"][names.index("HS11286")]


@pytest.mark.parametrize(
    ("split", "test_strains", "message"),
    [
        ("strain", {"Klebsiella pneumoniae": "K-12"}, "has no strain 'K-12' to hold out"),
        ("strain", {"Escherichia coli": "536"}, "'Escherichia coli' has a single strain ('536') in the genome table"),
        ("strain", {"Bacillus subtilis": "168"}, "species 'Bacillus subtilis' is not in the genome table"),
        ("region", UNSEEN, "test_strains applies to split='strain' only"),
    ],
)
def test_bad_test_strains_name_the_key_and_the_choices(species_tsv, split, test_strains, message) -> None:
    with pytest.raises(ConfigError, match="test_strains") as err:
        split_genomes(species_tsv, split=split, seed=0, test_strains=test_strains)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_windows_balanced_deterministic_and_inside_split(region_split) -> None:
    a = draw_windows(region_split, "train", 300, 6, seed=3)
    b = draw_windows(region_split, "train", 300, 6, seed=3)
    c = draw_windows(region_split, "train", 300, 6, seed=4)
    assert a.ids.shape == (24, 300)
    np.testing.assert_array_equal(a.ids, b.ids)
    assert not np.array_equal(a.ids, c.ids)
    assert np.bincount(a.labels).tolist() == [6, 6, 6, 6]
    t = draw_windows(region_split, "test", 300, 6, seed=3)
    names = {f.name: i for i, f in enumerate(region_split.files)}
    for g, contig, s in zip(t.genome, t.contig, t.start, strict=True):
        ivs = region_split.intervals["test"][names[g]]
        assert any(iv.contains(contig, int(s), int(s) + 300) for iv in ivs)


def test_split_errors(species_tsv, tmp_path) -> None:
    with pytest.raises(ConfigError, match="split must be"):
        split_genomes(species_tsv, split="chromosome")
    with pytest.raises(FastaError, match="not found"):
        split_genomes(tmp_path / "missing.tsv")
    bad = tmp_path / "bad.tsv"
    bad.write_text("file\tname\nx.fa\ty\n")
    with pytest.raises(FastaError, match=r"bad.tsv:1"):
        read_species_table(bad)
    with pytest.raises(ConfigError, match="two species"):
        split_genomes([{"path": species_tsv.parent / "genomes" / "escherichia_coli_536.fa.gz", "species": "E"}])


def test_kmer_frequencies_match_a_direct_count() -> None:
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 5, size=(3, 217))  # includes N (4), which breaks k-mers
    f = kmer_frequencies(ids, 3)
    for row, freq in zip(ids, f, strict=True):
        counts = np.zeros(64)
        for t in range(217 - 2):
            w = row[t : t + 3]
            if (w < 4).all():
                counts[w[0] * 16 + w[1] * 4 + w[2]] += 1
        np.testing.assert_allclose(freq, counts / counts.sum(), rtol=1e-6)
    canon = canonical_index(2)
    assert canon[3] == 3 and canon[12] == 12  # AT and TA are their own RCs; CA (4) <-> TG (14)
    assert canon[4] == canon[14] == 4
    fc = kmer_frequencies(ids, 3, canonical=True)
    np.testing.assert_allclose(fc.sum(1), 1.0, rtol=1e-6)


def test_kmer_baseline_separates_bundled_species(region_split) -> None:
    train = draw_windows(region_split, "train", 512, 24, seed=0)
    test = draw_windows(region_split, "test", 512, 12, seed=0)
    m = kmer_baseline(train.ids, train.labels, test.ids, test.labels, region_split.species, k=4)
    assert m["accuracy"] > 0.6  # chance is 0.25: k-mer spectra separate these bacteria
    assert np.asarray(m["confusion_matrix"]).sum() == 48 and np.trace(m["confusion_matrix"]) == round(m["accuracy"] * 48)
    assert 0 < m["macro_f1"] <= 1
