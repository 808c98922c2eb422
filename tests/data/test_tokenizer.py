"""DNATokenizer: vocabulary, round trips, reverse complement, soft mask and error reporting."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from Bio.Seq import Seq
from Bio.Seq import reverse_complement as bio_reverse_complement
from hypothesis import given, settings
from hypothesis import strategies as st

from genomamba.data.tokenizer import COMPLEMENT_IDS, DNATokenizer
from genomamba.errors import GenomambaError, SequenceError

TOK = DNATokenizer()
IUPAC = "ACGTRYSWKMBDHVN"
dna_any_case = st.text(alphabet=IUPAC + IUPAC.lower(), max_size=300)
acgtn = st.text(alphabet="ACGTN", max_size=300)
FAST = settings(max_examples=150, deadline=None)


def test_fixed_vocabulary() -> None:
    assert TOK.encode("ACGTN").tolist() == [0, 1, 2, 3, 4]
    assert (TOK.pad_id, TOK.mask_id, TOK.bos_id, TOK.eos_id, TOK.n_id) == (5, 6, 7, 8, 4)
    assert TOK.vocab_size == 9 and TOK.nucleotide_ids == (0, 1, 2, 3)
    assert COMPLEMENT_IDS.tolist() == [3, 2, 1, 0, 4, 5, 6, 7, 8]
    # A permutation that is its own inverse.
    assert sorted(COMPLEMENT_IDS.tolist()) == list(range(9))
    assert (COMPLEMENT_IDS[COMPLEMENT_IDS] == np.arange(9)).all()


@FAST
@given(dna_any_case)
def test_round_trip_and_soft_mask(seq: str) -> None:
    ids, soft = TOK.encode(seq, return_soft_mask=True)
    assert ids.dtype == np.int64 and soft.dtype == np.bool_ and ids.shape == soft.shape == (len(seq),)
    expected = "".join(c if c in "ACGT" else "N" for c in seq.upper())
    assert TOK.decode(ids) == expected
    assert soft.tolist() == [c.islower() for c in seq]
    # bytes and Bio.Seq inputs agree with str
    assert (TOK.encode(seq.encode()) == ids).all()
    assert (TOK.encode(Seq(seq)) == ids).all()


@FAST
@given(acgtn)
def test_reverse_complement_matches_biopython(seq: str) -> None:
    ids = TOK.encode(seq)
    rc = TOK.reverse_complement(ids)
    assert TOK.decode(rc) == bio_reverse_complement(seq)
    assert TOK.reverse_complement_str(seq) == bio_reverse_complement(seq)
    assert (TOK.reverse_complement(rc) == ids).all()


@FAST
@given(st.lists(st.integers(0, 8), min_size=1, max_size=50), st.integers(1, 3))
def test_reverse_complement_torch_batched_involution(ids: list[int], batch: int) -> None:
    x = torch.tensor([ids] * batch).reshape(batch, 1, -1)  # (B, 1, L)
    rc = TOK.reverse_complement(x)
    assert rc.shape == x.shape and rc.dtype == x.dtype
    assert torch.equal(TOK.reverse_complement(rc), x)
    # matches the numpy path row by row
    assert rc[0, 0].tolist() == TOK.reverse_complement(np.array(ids)).tolist()
    # special tokens are complemented to themselves but still reversed
    assert rc[0, 0, 0].item() == int(COMPLEMENT_IDS[ids[-1]])


def test_decode_special_tokens() -> None:
    ids = [TOK.bos_id, 0, 1, TOK.mask_id, 3, TOK.eos_id, TOK.pad_id]
    assert TOK.decode(ids) == "ACT"
    assert TOK.decode(ids, keep_special=True) == "[BOS]AC[MASK]T[EOS][PAD]"
    with pytest.raises(ValueError, match="outside the vocabulary"):
        TOK.decode([9])


@pytest.mark.parametrize(
    ("seq", "char", "pos"), [("ACGTX", "X", 4), ("AC-GT", "-", 2), ("A C", " ", 1), ("ACé", "é", 2)]
)
def test_invalid_character_names_char_position_and_source(seq: str, char: str, pos: int) -> None:
    with pytest.raises(SequenceError) as info:
        TOK.encode(seq, source="genome.fa:chr7")
    msg = str(info.value)
    assert repr(char) in msg and f"position {pos}" in msg and "genome.fa:chr7" in msg
    assert isinstance(info.value, GenomambaError)


def test_encode_empty() -> None:
    ids, soft = TOK.encode("", return_soft_mask=True)
    assert ids.shape == (0,) and soft.shape == (0,)
