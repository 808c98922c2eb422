"""Embed the windows of both BED files with ``genomamba.load(model).embed(intervals)``."""

import logging
import sys
import time

import numpy as np
import torch

import genomamba

smk = snakemake  # noqa: F821  (injected by Snakemake's script: directive)
sys.stderr = open(smk.log[0], "w")
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(message)s")
torch.set_num_threads(smk.threads)


def read_bed(path):
    """Intervals (fasta, contig, start, end) and species names of a windows BED."""
    intervals, species = [], []
    with open(path) as fh:
        for line in fh:
            contig, start, end, _, _, _, sp, fasta = line.rstrip("\n").split("\t")
            intervals.append((fasta, contig, int(start), int(end)))
            species.append(sp)
    return intervals, species


model = genomamba.load(smk.input.model, device=smk.params.device)
logging.info("%r (threads %d)", model, smk.threads)
out = {}
for which in ("train", "test"):
    intervals, species = read_bed(smk.input[which])
    t0 = time.perf_counter()
    out[f"X_{which}"] = model.embed(
        intervals, rc_average=smk.params.rc_average, batch_size=smk.params.batch_size, progress=False
    )
    out[f"species_{which}"] = np.asarray(species)
    logging.info("%s: %d windows embedded in %.1f s", which, len(intervals), time.perf_counter() - t0)
np.savez(smk.output[0], **out)
