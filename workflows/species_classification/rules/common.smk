# Config validation (at parse time) and helpers shared by the rules.
import csv
from pathlib import Path


include: "../../common/checks.smk"


validate_config(
    config, Path(workflow.current_basedir) / ".." / "schemas" / "config.schema.yaml",
    coerce=("window_lengths", "classifiers", "embed"),
)


def read_genomes(spec):
    """Normalise `genomes` to a list of {path, species, strain}; every FASTA must exist."""
    if isinstance(spec, str):
        table = config_path("genomes", spec, "species table", "pass a TSV with columns path, species[, strain]")
        with open(table, newline="") as fh:
            rows = list(csv.DictReader((line for line in fh if not line.startswith("#")), delimiter="\t"))
        if not rows or "path" not in rows[0] or "species" not in rows[0]:
            raise WorkflowError(
                f"config key 'genomes': {table} needs a tab-separated header with columns 'path' and 'species' "
                "(and optionally 'strain') and at least one row"
            )
        entries = []
        for i, row in enumerate(rows, start=2):
            if not row.get("path") or not row.get("species"):
                raise WorkflowError(f"config key 'genomes': {table}:{i}: empty path or species")
            p = Path(row["path"])
            p = p if p.is_absolute() else table.parent / p
            if not p.exists():
                raise WorkflowError(
                    f"config key 'genomes': genome FASTA not found: {p} (listed on line {i} of {table}; relative "
                    "paths are taken from the table's folder); fix the path or remove the line"
                )
            check_fasta("genomes", p, f" (line {i} of {table})")
            entries.append({"path": str(p.resolve()), "species": row["species"], "strain": row.get("strain") or p.name})
    else:
        entries = []
        for path, species in spec.items():
            p = check_fasta(f"genomes: {path}", config_path(f"genomes: {path}", path, "genome FASTA", "fix the path or remove the entry"))
            entries.append({"path": str(p), "species": species, "strain": p.name})
    if len({e["species"] for e in entries}) < 2:
        raise WorkflowError(f"config key 'genomes': species classification needs at least two species, got {entries}")
    return entries


GENOMES = read_genomes(config["genomes"])
MODEL = config_model("model", config["model"])
LENGTHS = [int(x) for x in config["window_lengths"]]
FEATURES = ["embedding", f"kmer_k{config['kmer_k']}"]


wildcard_constraints:
    length=r"\d+",
