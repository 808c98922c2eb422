import shlex


rule mutagenesis:
    """In-silico saturation mutagenesis of one named region of config mutagenesis.regions
    (genomamba mutagenesis): every SNV scored, tables, bigWig/bedGraph tracks and a heatmap."""
    input:
        fasta=str(FASTA),
        model=str(MODEL),
        track=str(TRACK) if TRACK else [],
    output:
        scores="results/mutagenesis/{region}/scores.tsv",
        parquet="results/mutagenesis/{region}/scores.parquet",
        bigwig="results/mutagenesis/{region}/llr_mean.bw",
        heatmap="results/mutagenesis/{region}/heatmap.png",
        run="results/mutagenesis/{region}/run.json",
    params:
        cli=GENOMAMBA,
        region=lambda wildcards: MUTAGENESIS_REGIONS[wildcards.region],
        out_dir=lambda wildcards, output: os.path.dirname(output.scores),
        window=config["mutagenesis"]["window"],
        batch_size=config["batch_size"],
        device="" if config["device"] == "auto" else f"--device {config['device']}",
        genes="" if config["mutagenesis"]["genes"] else "--no-genes",
        track=lambda wildcards, input: f"--track {shlex.quote(str(input.track))}" if input.track else "",
    conda:
        "../../envs/genomamba.yaml"
    log:
        "results/logs/mutagenesis/{region}.log",
    threads: config["threads"]
    shell:
        "OMP_NUM_THREADS={threads} {params.cli} mutagenesis --model {input.model:q} --fasta {input.fasta:q} "
        "--region {params.region:q} --out-dir {params.out_dir:q} --window {params.window} "
        "--batch-size {params.batch_size} {params.device} {params.genes} {params.track} > {log:q} 2>&1"
