# Config validation (at parse time) and helpers shared by the rules.
from pathlib import Path


include: "../../common/checks.smk"


validate_config(
    config, Path(workflow.current_basedir) / ".." / "schemas" / "config.schema.yaml", coerce=("supervised", "markov_orders")
)

GENOMAMBA = genomamba_cli()
VCF = config_path("vcf", config["vcf"], "VCF", "pass a .vcf or bgzipped .vcf.gz")
FASTA = check_fasta("fasta", config_path("fasta", config["fasta"], "reference FASTA", "pass the FASTA the VCF positions refer to"))
MODEL = config_model("model", config["model"])
LABELS = (
    config_path("labels", config["labels"], "labels TSV", "fix the path, or set labels to '' for zero-shot scores only")
    if config["labels"]
    else None
)
CLASSIFIERS = config["supervised"]["classifiers"] if LABELS else []
BENCHMARK = (
    config_path("benchmark", config["benchmark"], "gene-benchmark labels TSV",
                "make one with `genomamba make-variant-benchmark`, or set benchmark to '' to skip it")
    if config.get("benchmark")
    else None
)
BENCHMARK_RELATIVE = (
    check_fasta("benchmark_relative", config_path(
        "benchmark_relative", config["benchmark_relative"], "related-species FASTA",
        "fix the path, or set benchmark_relative to '' to skip the conservation reference"))
    if config.get("benchmark_relative")
    else None
)

TRACK = (
    check_fasta("track", config_path(
        "track", config["track"], "relative-track FASTA",
        "make it with `genomamba make-relative-track`, or set track to '' for a model without a relative track"))
    if config.get("track")
    else None
)

# genomamba mutagenesis regions: name -> CHROM:START-END (1-based, inclusive)
MUTAGENESIS_REGIONS = dict(config["mutagenesis"]["regions"] or {})


wildcard_constraints:
    classifier="|".join(["logistic", "hgb"]),
    region="|".join(MUTAGENESIS_REGIONS) or "no-region",
