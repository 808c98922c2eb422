"""Base-4 k-mer codes against a direct per-position count."""

from __future__ import annotations

import numpy as np
import pytest

from genomamba.data.kmers import canonical_codes, canonical_index, kmer_codes, reverse_complement_codes
from genomamba.data.tokenizer import COMPLEMENT_IDS, N_NUCLEOTIDES, DNATokenizer


def _direct_code(kmer: np.ndarray) -> int:
    return int(sum(int(b) * N_NUCLEOTIDES ** (len(kmer) - 1 - j) for j, b in enumerate(kmer)))


@pytest.mark.parametrize("k", [1, 3, 7])
def test_codes_and_validity_match_a_direct_count(k: int) -> None:
    ids = np.random.default_rng(k).integers(0, 6, size=(3, 40))  # includes N (4) and PAD (5)
    codes, valid = kmer_codes(ids, k)
    assert codes.shape == valid.shape == (3, 40 - k + 1)
    for r in range(3):
        for i in range(40 - k + 1):
            kmer = ids[r, i : i + k]
            assert valid[r, i] == bool((kmer < N_NUCLEOTIDES).all())
            if valid[r, i]:
                assert codes[r, i] == _direct_code(kmer)
                rc = COMPLEMENT_IDS[kmer][::-1]
                assert reverse_complement_codes(codes[r, i], k) == _direct_code(rc)
                assert canonical_codes(codes[r, i], k) == min(_direct_code(kmer), _direct_code(rc))


def test_short_input_and_bad_k() -> None:
    codes, valid = kmer_codes(np.array([0, 1]), 3)
    assert codes.shape == valid.shape == (0,)
    with pytest.raises(ValueError, match="1..31"):
        kmer_codes(np.array([0, 1]), 32)


def test_canonical_index_is_an_idempotent_strand_merge() -> None:
    table = canonical_index(4)
    assert table.shape == (256,) and (table[table] == table).all()
    fwd = kmer_codes(DNATokenizer().encode("AACG"), 4)[0]
    rc = kmer_codes(DNATokenizer().encode("CGTT"), 4)[0]
    assert table[fwd] == table[rc] == min(fwd[0], rc[0])
