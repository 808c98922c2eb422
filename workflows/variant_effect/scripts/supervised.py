"""Cross-validated supervised variant-effect head (``genomamba.downstream.finetune_variant_effect``)."""

import logging
import sys

import torch

import genomamba
from genomamba.downstream import finetune_variant_effect
from genomamba.downstream.variants.labels import read_labelled_variants
from genomamba.outputs import write_json

smk = snakemake  # noqa: F821  (injected by Snakemake's script: directive)
sys.stderr = open(smk.log[0], "w")
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(message)s")
torch.set_num_threads(smk.threads)

p = smk.params
rows = read_labelled_variants(smk.input.labels)
model = genomamba.load(smk.input.model, device=p.device)
logging.info("%r: %d labelled variants, classifier %s", model, len(rows), smk.wildcards.classifier)
res = finetune_variant_effect(
    model.model, rows, smk.input.fasta, features=p.features, classifier=smk.wildcards.classifier, cv=p.cv,
    seed=p.seed, window=p.window, add_zero_shot=p.add_zero_shot, zero_shot_window=p.zero_shot_window,
    batch_size=p.batch_size,
)
res["ids"] = [r.get("id") or f"{r['chrom']}:{r['pos']}:{r['ref']}>{r['alt']}" for r in rows]
res["labels"] = [int(r["label"]) for r in rows]
logging.info("AUROC %.3f, AUPRC %.3f (%d-fold CV)", res["auroc"], res["auprc"], p.cv)
write_json(smk.output[0], res)
