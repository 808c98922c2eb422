# Config validation (at parse time) and helpers shared by the rules. Every value a job would
# refuse is refused here, by the package's own checks, so that `snakemake -n` fails in one line.
from pathlib import Path


include: "../../common/checks.smk"


validate_config(
    config, Path(workflow.current_basedir) / ".." / "schemas" / "config.schema.yaml", coerce=("supervised", "markov_orders")
)

GENOMAMBA = genomamba_cli()
VCF = check_vcf("vcf", config_path("vcf", config["vcf"], "VCF", "pass a .vcf or bgzipped .vcf.gz"))
FASTA = check_fasta("fasta", config_path("fasta", config["fasta"], "reference FASTA", "pass the FASTA the VCF positions refer to"))
MODEL = config_model("model", config["model"])
LABELS = (
    check_labels("labels", config_path("labels", config["labels"], "labels TSV", "fix the path, or set labels to '' for zero-shot scores only"))
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


def check_inputs_together():
    """What the jobs refuse about the inputs together: the model reads a track exactly when `track`
    is set, and the track fits the FASTA; the labelled variants lie on the FASTA; the gene benchmark
    (its labels, its VCF's regions, the relative) fits the FASTA and is held out from the model."""
    check_device("device", config["device"])
    check_model_track("model", MODEL, "track", str(TRACK) if TRACK else None)
    if TRACK:
        check_track("track", TRACK, FASTA)
    if not (LABELS or BENCHMARK):
        return
    from genomamba.data.fasta import GenomeFile

    genome = checked("fasta", GenomeFile, FASTA)
    if LABELS:
        from genomamba.downstream.variants.labels import read_labelled_variants
        from genomamba.downstream.variants.supervised import check_labelled_variants

        checked("labels", check_labelled_variants, read_labelled_variants(LABELS), genome, where=f" ({LABELS})")
    if BENCHMARK:
        check_gene_benchmark(genome)


def check_gene_benchmark(genome):
    from types import SimpleNamespace

    from genomamba.data.provenance import check_held_out
    from genomamba.downstream.genes.benchmark import parse_regions, read_benchmark_labels, read_benchmark_regions
    from genomamba.models.checkpoint import load_training_record

    checked("benchmark", read_benchmark_labels, BENCHMARK)
    specs = read_benchmark_regions(VCF)
    if not specs:
        raise WorkflowError(
            f"config key 'vcf': {VCF} has no '##genomamba_benchmark_region=' header lines, which the gene benchmark "
            "(config key 'benchmark') reads; pass the VCF that `genomamba make-variant-benchmark` wrote with it, or "
            "set benchmark to '' to skip the benchmark"
        )
    regions = checked("vcf", parse_regions, specs, genome.lengths, source=f"{VCF} region")
    if BENCHMARK_RELATIVE and Path(BENCHMARK_RELATIVE).resolve() == Path(FASTA).resolve():
        raise WorkflowError(
            f"config key 'benchmark_relative': {BENCHMARK_RELATIVE} is the benchmark's own genome (config key 'fasta'); "
            "give a genome of a related species, or set benchmark_relative to ''"
        )
    model = SimpleNamespace(training_data=checked("model", load_training_record, MODEL))
    checked("benchmark", check_held_out, model, [(genome, regions)], f"variant benchmark {VCF}",
            "make the benchmark on a region the model never saw (genomamba make-variant-benchmark --region), or on a "
            "genome it never saw")


if workflow.is_main_process:  # not again in each job of a cluster run
    check_inputs_together()


wildcard_constraints:
    classifier="|".join(["logistic", "hgb"]),
    region="|".join(MUTAGENESIS_REGIONS) or "no-region",
