"""Species classification: labelled genomes and their splits (:mod:`.genomes`), the linear probe of
frozen embeddings beside k-mer baselines (:mod:`.probe`), and fine-tuning a pooled head
(:mod:`.datamodule`, :mod:`.classifier`)."""
