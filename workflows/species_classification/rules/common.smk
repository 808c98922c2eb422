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
        from genomamba.errors import GenomambaError

        table = config_path("genomes", spec, "species table", "pass a TSV with columns path, species[, strain]")
        try:
            rows = read_species_table(table)
        except GenomambaError as e:
            raise WorkflowError(f"config key 'genomes': {e}")
        entries = []
        for row in rows:
            if not row.path.exists():
                raise WorkflowError(
                    f"config key 'genomes': genome FASTA not found: {row.path} (listed on line {row.line} of {table}; "
                    "relative paths are taken from the table's folder); fix the path or remove the line"
                )
            check_fasta("genomes", row.path, f" (line {row.line} of {table})")
            entries.append({"path": str(row.path.resolve()), "species": row.species, "strain": row.strain})
    else:
        entries = []
        for path, species in spec.items():
            p = check_fasta(f"genomes: {path}", config_path(f"genomes: {path}", path, "genome FASTA", "fix the path or remove the entry"))
            entries.append({"path": str(p), "species": species, "strain": p.name})
    if len({e["species"] for e in entries}) < 2:
        raise WorkflowError(f"config key 'genomes': species classification needs at least two species, got {entries}")
    return entries


GENOMES = read_genomes(config["genomes"])


def check_test_strains():
    """test_strains names strains of the genome table (checked now, not in a job)."""
    from genomamba.data.species_table import check_test_strains as check  # light: no torch
    from genomamba.errors import GenomambaError

    try:
        check([(g["species"], g["strain"]) for g in GENOMES], config.get("test_strains"), config["split"])
    except GenomambaError as e:
        raise WorkflowError(f"config key 'test_strains': {e}")


check_test_strains()
MODEL = config_model("model", config["model"])
LENGTHS = [int(x) for x in config["window_lengths"]]
FEATURES = ["embedding", f"kmer_k{config['kmer_k']}"]


wildcard_constraints:
    length=r"\d+",
