rule metrics:
    """metrics.json (zero-shot and supervised AUROC/AUPRC when labelled) and the ROC / PR curves."""
    input:
        scores=rules.score_variants.output[0],
        labels=str(LABELS) if LABELS else [],
        supervised=expand("results/supervised/{classifier}.json", classifier=CLASSIFIERS),
    output:
        metrics="results/metrics.json",
        roc="results/plots/roc_curve.png" if LABELS else [],
    params:
        positive_scores=config["positive_scores"],
        classifiers=CLASSIFIERS,
        model=str(MODEL),
        vcf=str(VCF),
    conda:
        "../../envs/genomamba.yaml"
    log:
        "results/logs/metrics.log",
    threads: 1
    script:
        "../scripts/metrics.py"
