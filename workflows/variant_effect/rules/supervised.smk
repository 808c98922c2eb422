rule supervised:
    """Cross-validated supervised head on frozen window embeddings (finetune_variant_effect)."""
    input:
        labels=str(LABELS) if LABELS else [],
        fasta=str(FASTA),
        model=str(MODEL),
    output:
        "results/supervised/{classifier}.json",
    params:
        zero_shot_window=config["window"],
        batch_size=config["batch_size"],
        device=config["device"],
        **config["supervised"],
    conda:
        "../../envs/genomamba.yaml"
    log:
        "results/logs/supervised/{classifier}.log",
    threads: config["threads"]
    script:
        "../scripts/supervised.py"
