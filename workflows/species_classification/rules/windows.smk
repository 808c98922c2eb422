rule sample_windows:
    """Draw balanced train / held-out windows of one length into BED files (BED6 + species, fasta)."""
    input:
        genomes=[g["path"] for g in GENOMES],
        model=str(MODEL),
    output:
        train="results/windows/{length}/train.bed",
        test="results/windows/{length}/test.bed",
        split="results/windows/{length}/split.json",
    params:
        genomes=GENOMES,
        split=config["split"],
        test_fraction=config["test_fraction"],
        test_strains=config.get("test_strains") or {},
        allow_seen=config.get("allow_seen", False),
        n_windows=config["n_windows"],
        n_test_windows=config["n_test_windows"],
        seed=config["seed"],
    conda:
        "../../envs/genomamba.yaml"
    log:
        "results/logs/sample_windows/{length}.log",
    threads: 1
    script:
        "../scripts/sample_windows.py"
