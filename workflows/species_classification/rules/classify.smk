rule classify:
    """Cross-validate each classifier on the training windows, then fit it and score the held-out ones."""
    input:
        features=expand("results/features/{{length}}/{feature}.npz", feature=FEATURES),
        split=rules.sample_windows.output.split,
    output:
        "results/classify/{length}.json",
    params:
        features=FEATURES,
        classifiers=config["classifiers"],
        cv_folds=config["cv_folds"],
        seed=config["seed"],
    conda:
        "../../envs/genomamba.yaml"
    log:
        "results/logs/classify/{length}.log",
    threads: 1
    script:
        "../scripts/classify.py"
