import shlex


rule score_variants:
    """Zero-shot scores of every (record, ALT) with the genomamba CLI (causal LLR or masked logit diff)."""
    input:
        vcf=str(VCF),
        fasta=str(FASTA),
        model=str(MODEL),
        track=str(TRACK) if TRACK else [],
    output:
        "results/scores/zero_shot.tsv",
    params:
        cli=GENOMAMBA,
        window=config["window"],
        batch_size=config["batch_size"],
        device="" if config["device"] == "auto" else f"--device {config['device']}",
        track=lambda wildcards, input: f"--track {shlex.quote(str(input.track))}" if input.track else "",
    conda:
        "../../envs/genomamba.yaml"
    log:
        "results/logs/score_variants.log",
    threads: config["threads"]
    shell:
        "OMP_NUM_THREADS={threads} {params.cli} score-variants --model {input.model:q} --fasta {input.fasta:q} "
        "--vcf {input.vcf:q} --out {output:q} --window {params.window} --batch-size {params.batch_size} "
        "{params.device} {params.track} > {log:q} 2>&1"
