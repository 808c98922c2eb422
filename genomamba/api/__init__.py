"""Inference API: ``genomamba.load(path).embed(sequences)`` and ``.log_likelihood(sequences)``.

>>> import torch
>>> from genomamba.models import GenomambaConfig, GenomambaLM
>>> _ = torch.manual_seed(0)
>>> model = GenomambaModel(GenomambaLM(GenomambaConfig(d_model=16, n_layer=1)))
>>> model.embed(["ACGTACGTAA", "ACG"], progress=False).shape
(2, 16)
>>> [x.shape for x in model.embed(["ACGTACGTAA", "ACG"], pooling="none", progress=False)]
[(10, 16), (3, 16)]
>>> import numpy as np  # token-id windows embed directly, as their decoded strings would
>>> ids = np.array([[0, 1, 2, 3, 0, 1, 2, 3, 0, 0]])  # ACGTACGTAA
>>> np.array_equal(model.embed_token_ids(ids, progress=False), model.embed(["ACGTACGTAA"], progress=False))
True
>>> ll = model.log_likelihood(["ACGTACGTAA"], progress=False)[0]
>>> ll.shape, round(float(ll[0]), 4)  # the first base has no prefix: uniform log(1/4)
((10,), -1.3863)

Two modules, one concern each:

* :mod:`genomamba.api.inputs`: what ``sequences`` may be (strings, SeqRecords, a FASTA path,
  intervals; or token ids) and how they are read, chunk by chunk, as padded token-id batches;
* :mod:`genomamba.api.inference`: the :class:`GenomambaModel` wrapper (embeddings with
  streaming and strand averaging, per-base log-likelihoods), :func:`load` and
  :func:`as_genomamba_model` and :func:`as_lm`, the helpers downstream code takes a model
  through: every downstream function accepts a ``GenomambaModel`` or a bare ``GenomambaLM``.
"""

from genomamba.api.inference import GenomambaModel, ModelLike, Pooling, as_genomamba_model, as_lm, load
from genomamba.api.inputs import SequenceSource, as_sources, sources_from_token_ids

__all__ = [
    "GenomambaModel",
    "ModelLike",
    "Pooling",
    "SequenceSource",
    "as_genomamba_model",
    "as_lm",
    "as_sources",
    "load",
    "sources_from_token_ids",
]
