rule report:
    """Collect every length into metrics.json, the two plots and a Markdown report."""
    input:
        classify=expand("results/classify/{length}.json", length=LENGTHS),
        split=expand("results/windows/{length}/split.json", length=LENGTHS),
    output:
        metrics="results/metrics.json",
        confusion="results/plots/confusion_matrix.png",
        accuracy="results/plots/accuracy_by_length.png",
        report="results/report.md",
    params:
        model=str(MODEL),
        lengths=LENGTHS,
        config=config,
    conda:
        "../../envs/genomamba.yaml"
    log:
        "results/logs/report.log",
    threads: 1
    script:
        "../scripts/report.py"
