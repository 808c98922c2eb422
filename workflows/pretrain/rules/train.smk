rule train:
    """genomamba train (Hydra); the run directory is rebuilt from scratch whenever the rule reruns."""
    input:
        [str(f) for f in FASTAS],
    output:
        directory("results/train"),
    params:
        cli=GENOMAMBA,
        args=lambda wildcards, output: train_args(output[0]),
    conda:
        "../../envs/genomamba.yaml"
    log:
        "results/logs/train.log",
    threads: config["threads"]
    shell:
        "OMP_NUM_THREADS={threads} {params.cli} train {params.args} > {log:q} 2>&1"


rule evaluate:
    """genomamba evaluate: held-out bits per base next to order-k Markov baselines."""
    input:
        run=rules.train.output[0],
        fasta=str(EVAL_FASTA),
    output:
        "results/evaluate.json",
    params:
        cli=GENOMAMBA,
        max_windows=config["evaluate"]["max_windows"],
    conda:
        "../../envs/genomamba.yaml"
    log:
        "results/logs/evaluate.log",
    threads: config["threads"]
    shell:
        "OMP_NUM_THREADS={threads} {params.cli} evaluate {input.run:q} --fasta {input.fasta:q} "
        "--max-windows {params.max_windows} --output {output:q} > {log:q} 2>&1"


rule metrics:
    """results/metrics.json: the training run's metrics and the evaluation."""
    input:
        run=rules.train.output[0],
        evaluate=rules.evaluate.output[0],
    output:
        "results/metrics.json",
    conda:
        "../../envs/genomamba.yaml"
    log:
        "results/logs/metrics.log",
    threads: 1
    script:
        "../scripts/collect_metrics.py"
