import shlex


rule benchmark:
    """Gene-based benchmark metrics (genomamba variant-benchmark) from the zero-shot scores: AUROCs and
    codon-position LLRs with 95% CIs beside Markov baselines (and a related species' conservation with
    benchmark_relative), CV model vs k-mer heads, report.md."""
    input:
        scores=rules.score_variants.output[0],
        vcf=str(VCF),
        labels=str(BENCHMARK) if BENCHMARK else [],
        fasta=str(FASTA),
        model=str(MODEL),
        relative=str(BENCHMARK_RELATIVE) if BENCHMARK_RELATIVE else [],
    output:
        metrics="results/benchmark/metrics.json",
        scores="results/benchmark/scores.tsv",
        plot="results/benchmark/benchmark.png",
        report="results/benchmark/report.md",
    params:
        cli=GENOMAMBA,
        out_dir=lambda wildcards, output: os.path.dirname(output.report),
        window=config["window"],
        orders=" ".join(str(k) for k in config["markov_orders"]),
        embed_window=config["supervised"]["window"],
        cv=config["supervised"]["cv"],
        seed=config["supervised"]["seed"],
        batch_size=config["batch_size"],
        device="" if config["device"] == "auto" else f"--device {config['device']}",
        relative=lambda wildcards, input: f"--relative {shlex.quote(str(input.relative))}" if input.relative else "",
    conda:
        "../../envs/genomamba.yaml"
    log:
        "results/logs/benchmark.log",
    threads: config["threads"]
    shell:
        "OMP_NUM_THREADS={threads} {params.cli} variant-benchmark --model {input.model:q} --fasta {input.fasta:q} "
        "--vcf {input.vcf:q} --labels {input.labels:q} --scores {input.scores:q} --out-dir {params.out_dir:q} "
        "--window {params.window} --orders {params.orders} --embed-window {params.embed_window} --cv {params.cv} "
        "--seed {params.seed} --batch-size {params.batch_size} {params.device} {params.relative} > {log:q} 2>&1"
