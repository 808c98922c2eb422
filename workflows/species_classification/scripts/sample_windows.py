"""Draw balanced train / held-out windows of one length and write them as BED6 + 2 columns.

Columns: contig, start, end (0-based, half-open), name, score (0), strand (+), species, fasta.
``split.json`` holds the class order (label i = species[i]), what each species is tested on,
and how much of the test sequence the model was trained on (``pretraining_overlap``: windows from
such sequence are refused unless ``allow_seen`` is set).
"""

import logging
import sys

import genomamba
from genomamba.api import as_lm
from genomamba.data.provenance import check_held_out
from genomamba.downstream import draw_windows, split_genomes
from genomamba.errors import GenomambaError
from genomamba.outputs import write_json

smk = snakemake  # noqa: F821  (injected by Snakemake's script: directive)
sys.stderr = open(smk.log[0], "w")
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(message)s")

length = int(smk.wildcards.length)
p = smk.params
try:
    sp = split_genomes(p.genomes, split=p.split, test_fraction=p.test_fraction, seed=p.seed, test_strains=p.test_strains)
    overlap = check_held_out(
        as_lm(genomamba.load(smk.input.model, device="cpu")), zip(sp.files, sp.intervals["test"], strict=True),
        f"species workflow (model {smk.input.model})",
        "set config keys split: strain and test_strains: {species: strain} to strains it never saw, or test_fraction "
        "to a region it never saw", allow_seen=p.allow_seen,
    )
except GenomambaError as e:  # one line in the log and on the console Snakemake shows
    logging.error("%s", e)
    print(f"error: {e}", file=sys.__stderr__)
    raise SystemExit(2) from None
fasta_of = {f.name: str(f.path) for f in sp.files}
if len(fasta_of) != len(sp.files):
    raise SystemExit(f"two genomes share a name in {[f.name for f in sp.files]}; give each a distinct strain")

for which, n, out in (("train", p.n_windows, smk.output.train), ("test", p.n_test_windows, smk.output.test)):
    ws = draw_windows(sp, which, length, n, seed=p.seed)
    with open(out, "w") as fh:
        for i, (label, genome, contig, start) in enumerate(zip(ws.labels, ws.genome, ws.contig, ws.start, strict=True)):
            species = sp.species[int(label)]
            fh.write(f"{contig}\t{start}\t{start + length}\t{which}_{i}\t0\t+\t{species}\t{fasta_of[genome]}\n")
    logging.info("%s: %d windows of %d bp (%d per species) -> %s", which, len(ws.labels), length, n, out)

write_json(smk.output.split, {"species": sp.species, "protocol": sp.protocol, "held_out": sp.held_out,
                              "window_length": length, "pretraining_overlap": overlap})
