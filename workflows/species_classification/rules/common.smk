# Config validation (at parse time) and helpers shared by the rules.
from pathlib import Path


include: "../../common/checks.smk"


validate_config(
    config, Path(workflow.current_basedir) / ".." / "schemas" / "config.schema.yaml",
    coerce=("window_lengths", "classifiers", "embed"),
)


def read_genomes(spec):
    """Normalise `genomes` to a list of {path, species, strain}; every FASTA must exist."""
    if isinstance(spec, str):
        from genomamba.data.species_table import read_species_table  # light: no torch

        table = config_path("genomes", spec, "species table", "pass a TSV with columns path, species[, strain]")
        rows = checked("genomes", read_species_table, table)  # every FASTA exists, each genome once
        entries = []
        for row in rows:
            check_fasta("genomes", row.path, f" (line {row.line} of {table})")
            entries.append({"path": str(row.path.resolve()), "species": row.species, "strain": row.strain})
    else:
        from genomamba.data.species_table import first_duplicate

        entries = []
        for path, species in spec.items():
            p = check_fasta(f"genomes: {path}", config_path(f"genomes: {path}", path, "genome FASTA", "fix the path or remove the entry"))
            entries.append({"path": str(p), "species": species, "strain": p.name})
        twice = first_duplicate([Path(e["path"]) for e in entries])
        if twice is not None:
            a, b = (list(spec)[i] for i in twice)
            raise WorkflowError(f"config key 'genomes': {a} and {b} are one FASTA file; a genome listed twice would be "
                                "sampled twice: remove one")
    if len({e["species"] for e in entries}) < 2:
        raise WorkflowError(f"config key 'genomes': species classification needs at least two species, got {entries}")
    return entries


GENOMES = read_genomes(config["genomes"])


def check_test_strains():
    """test_strains names strains of the genome table (checked now, not in a job)."""
    from genomamba.data.species_table import check_test_strains as check  # light: no torch

    checked("test_strains", check, [(g["species"], g["strain"]) for g in GENOMES], config.get("test_strains"), config["split"])


check_test_strains()
MODEL = config_model("model", config["model"])
check_device("embed.device", config["embed"]["device"])
LENGTHS = [int(x) for x in config["window_lengths"]]
FEATURES = ["embedding", f"kmer_k{config['kmer_k']}"]


wildcard_constraints:
    length=r"\d+",
