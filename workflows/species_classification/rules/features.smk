rule embed:
    """Mean-pooled embeddings of every window with genomamba.load(model).embed(intervals)."""
    input:
        train=rules.sample_windows.output.train,
        test=rules.sample_windows.output.test,
        model=str(MODEL),
    output:
        "results/features/{length}/embedding.npz",
    params:
        batch_size=config["embed"]["batch_size"],
        rc_average=config["embed"]["rc_average"],
        device=config["embed"]["device"],
    conda:
        "../../envs/genomamba.yaml"
    log:
        "results/logs/embed/{length}.log",
    threads: config["embed"]["threads"]
    resources:
        mem_mb=4000,
    script:
        "../scripts/embed_windows.py"


rule kmer_features:
    """k-mer frequencies (genomamba.downstream.kmer_frequencies) of the same windows."""
    input:
        train=rules.sample_windows.output.train,
        test=rules.sample_windows.output.test,
    output:
        f"results/features/{{length}}/kmer_k{config['kmer_k']}.npz",
    params:
        k=config["kmer_k"],
    conda:
        "../../envs/genomamba.yaml"
    log:
        "results/logs/kmer_features/{length}.log",
    threads: 1
    script:
        "../scripts/kmer_features.py"
