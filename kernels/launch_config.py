"""Launch configuration of the Triton selective scan: the one place that picks tile sizes and warps.

Both the launchers (``triton_scan``) and the AOT resource report (``report``) call
:func:`scan_config`, so what the report compiles is what runs. Pure Python, no triton import.

Why these numbers. One program owns (batch b, BLOCK_D channels) and all BLOCK_N states, and
works on (BLOCK_D, BLOCK_N, CHUNK) fp32 tiles held in registers; a thread holds
``BLOCK_D * BLOCK_N * CHUNK / (32 * num_warps)`` elements of each live tile, and the backward
keeps about twice as many tiles live as the forward. Past 255 registers per thread ptxas spills
the state to local memory (L1/L2/HBM), the traffic a fused scan exists to avoid. With the old
fixed tiles (BLOCK_D 4, CHUNK 64, 4 warps: 32 elements per thread) the backward spilled on sm_80
and sm_90. The budgets below (8 forward, 4 backward) compile spill-free with triton 3.6 and 3.9
for sm_80 and sm_90 at d_state 4, 16 and 64, fp32 and bf16 inputs, using at most ~130 registers:
headroom, because ptxas caps registers by its own occupancy heuristics (e.g. 128 at 8 warps) and
triton 3.6 spilled at 8 backward elements per thread where 3.9 did not (checked by
``python -m genomamba.kernels.report`` and tests/kernels/test_scan_resources.py). The forward
and the backward share CHUNK (the backward recomputes each chunk from the forward's chunk-start
checkpoint), so CHUNK follows the backward's budget at one channel per program and 4 warps, but
not below 32 steps: the checkpoints cost n / CHUNK fp32 values per input element of HBM traffic,
so a large state gets more warps instead (d_state 64: CHUNK 32, 16 backward warps).

Parallelism: the grid is (batch, ceil(d / BLOCK_D)). BLOCK_D shrinks (down to 1) until the grid
offers at least one program per SM, so batch 1-2 at d_inner 256-2048 fills an H100's 132 SMs;
larger BLOCK_D is only used when there are programs to spare (it amortises the dB / dC atomics
over more channels, which are summed inside the program first).
"""

from __future__ import annotations

from dataclasses import dataclass

# Fp32 tile elements per thread that stay spill-free (see the module docstring).
FWD_ELEMS_PER_THREAD = 8
BWD_ELEMS_PER_THREAD = 4
MIN_WARPS = 4
MAX_WARPS = 16
MIN_CHUNK = 32
MAX_CHUNK = 64
MAX_BLOCK_D = 4
H100_SMS = 132  # SXM5; the default when no device is queried (A100: 108)
SMS_BY_ARCH = {80: 108, 86: 84, 89: 128, 90: 132}


def _next_pow2(x: int) -> int:
    return 1 << max(0, int(x) - 1).bit_length()


def _floor_pow2(x: int) -> int:
    return 1 << (max(1, int(x)).bit_length() - 1)


@dataclass(frozen=True)
class ScanConfig:
    """Tile sizes and warps for one scan call. ``chunk`` is shared by forward and backward."""

    chunk: int
    block_n: int
    fwd_block_d: int
    bwd_block_d: int
    fwd_warps: int
    bwd_warps: int

    def programs(self, batch: int, d: int) -> dict[str, int]:
        """Programs in the forward and backward grids for (batch, d)."""
        return {"fwd": batch * -(-d // self.fwd_block_d), "bwd": batch * -(-d // self.bwd_block_d)}


def group_block_limit(d: int, groups: int) -> int:
    """Largest BLOCK_D that keeps a block inside one group of B / C (dB / dC are summed per block)."""
    if groups > 1:
        dpg = d // groups
        return dpg & -dpg  # largest power of two dividing the channels per group
    return 1 << 30


def scan_config(
    batch: int, d: int, n: int, groups: int = 1, *, num_sms: int | None = None,
    chunk: int | None = None, block_d: int | None = None, num_warps: int | None = None,
) -> ScanConfig:
    """Pick the launch configuration for u (batch, d, L), A (d, n), B/C with ``groups`` groups.

    Args:
        num_sms: streaming multiprocessors of the target (default: an H100 SXM's 132).
        chunk, block_d, num_warps: overrides (powers of two), e.g. small tiles for interpreter
            tests; block_d is still capped by the group structure and by d.

    The configuration depends on n (register budget) and on batch * d (parallelism), not on L or
    the dtype: inputs are converted to fp32 on load, so the tiles are fp32 for fp16/bf16 inputs too.
    """
    for name, v in (("chunk", chunk), ("block_d", block_d), ("num_warps", num_warps)):
        assert v is None or (v >= 1 and v & (v - 1) == 0), f"{name} must be a power of two"
    assert chunk is None or chunk >= 2, "chunk must be at least 2"
    sms = num_sms or H100_SMS
    block_n = max(2, _next_pow2(n))
    cap = min(group_block_limit(d, groups), _next_pow2(d))
    if chunk is None:
        # The backward at one channel per program and MIN_WARPS warps bounds CHUNK; below MIN_CHUNK
        # the chunk-start checkpoints (n / CHUNK floats per input element) cost more HBM traffic
        # than extra warps do, so large states get more warps instead (d_state 64: 16 warps).
        chunk = max(MIN_CHUNK, min(MAX_CHUNK, _floor_pow2(BWD_ELEMS_PER_THREAD * 32 * MIN_WARPS // block_n)))

    def pick(elems_per_thread: int) -> tuple[int, int]:
        if block_d is not None:
            bd = max(1, min(block_d, cap))
        else:
            # More channels per program only while they fit MIN_WARPS warps: more warps need
            # cross-warp scans (shared memory, more registers) and leave fewer blocks per SM.
            fit = _floor_pow2(max(1, elems_per_thread * 32 * MIN_WARPS // (block_n * chunk)))
            bd = max(1, min(MAX_BLOCK_D, cap, fit))
            while bd > 1 and batch * -(-d // bd) < sms:
                bd //= 2
        warps = num_warps or max(MIN_WARPS, min(MAX_WARPS, _next_pow2(-(-bd * block_n * chunk // (32 * elems_per_thread)))))
        return bd, warps

    fwd_bd, fwd_warps = pick(FWD_ELEMS_PER_THREAD)
    bwd_bd, bwd_warps = pick(BWD_ELEMS_PER_THREAD)
    return ScanConfig(chunk=chunk, block_n=block_n, fwd_block_d=fwd_bd, bwd_block_d=bwd_bd,
                      fwd_warps=fwd_warps, bwd_warps=bwd_warps)


# ---------------------------------------------------------------------------------------------
# The chunked kernels (triton_scan_chunked_kernels).
#
# One program owns (batch, BLOCK_D channels, one segment of L) and works on (BLOCK_D, CHUNK) fp32
# tiles. Triton lays a tile out 4 consecutive steps per thread for fp32 loads (8 for bf16: one
# 16-byte load), then lanes, then warps, repeated to cover the tile: a thread holds
# E = BLOCK_D * CHUNK / (32 * num_warps) elements of each tile. Its scans cost a fixed in-thread
# part per element plus 5 shuffle levels per 4 (8) elements and a shared-memory pass per warp, so
# fewer warps per program means fewer instructions per element; a larger E means more registers.
# From the SASS of the state loop (``python -m genomamba.kernels.report --sass``, column
# exp_loop_per_element), instructions per (step, channel, state), fp32 / bf16, sm_90:
#                                         triton 3.9        triton 3.6 (the GPU image's)
#   forward  E 16, 2 warps                 26 / 22           26 / 23
#   backward E 8, 4 warps                  88 / 78           105 / 102, spills on sm_80 (255 regs)
#   backward E 4, 8 warps                  110 / 112         135 / 139, 215-228 regs, no spills
#   backward E 4, 1 channel, 4 warps       103 / 110         122 / 131 (but one dB / dC atomic per channel)
#   v1 (for scale): forward 45-56 / 40-66, backward 136-145 / 195-203
# (backward with the position-ordered reverse combine; the plain one saves ~20%). Registers: the
# forward ~190-220, no spills with ptxas allowed 255 (triton_scan_chunked.MAXNREG).
# So: CHUNK 512 with 2 channels per program (a 1,024-element tile, as one channel x 1,024 steps),
# forward 2 warps (E 16), backward 8 warps (E 4: the largest tile that compiles spill-free with
# triton 3.6). Two channels per program halve the L2 reads of B_n / C_n (one read per block, not per
# channel) and the dB / dC atomic adds (summed over the block in registers first). A chunk's steps
# pass through one program in order, so latency is hidden only by other programs: where batch x
# channel blocks give fewer than CHUNKED_TARGET_WARPS_PER_SM warps per SM, L is split into segments
# (the split's first pass costs about a third of a forward).
# These are choices from instruction and register counts, not timings: ``bench_scan.py --device
# cuda --sweep`` times the alternatives on a GPU.
CHUNKED_CHUNK = 512
CHUNKED_BLOCK_D = 2
CHUNKED_FWD_ELEMS_PER_THREAD = 16
CHUNKED_BWD_ELEMS_PER_THREAD = 4
CHUNKED_MAX_WARPS = 16
CHUNKED_TARGET_WARPS_PER_SM = 8
CHUNKED_MAX_SEGMENTS = 64


@dataclass(frozen=True)
class ChunkedScanConfig:
    """Tile sizes, warps and L split of the chunked kernels for one call.

    ``chunk`` is shared by forward and backward (the backward restarts each chunk from the
    forward's chunk-start checkpoint). ``segments``: a forced number of L segments (tests,
    exploration); None splits to reach ``target_warps_per_sm``. ``safe_reverse``: the backward's
    reverse scan orders its operands by position (robust to triton-lang/triton#4362; costs ~20% of
    the backward's instructions) instead of trusting the compiler's operand order.
    """

    chunk: int
    block_n: int
    fwd_block_d: int
    bwd_block_d: int
    fwd_warps: int
    bwd_warps: int
    num_sms: int = H100_SMS
    segments: int | None = None
    safe_reverse: bool = True
    target_warps_per_sm: int = CHUNKED_TARGET_WARPS_PER_SM

    def split(self, batch: int, d: int, n_chunks: int, block_d: int, warps: int) -> tuple[int, int]:
        """(segments, chunks per segment) for a grid of batch x ceil(d / block_d) programs of ``warps``."""
        programs = batch * -(-d // block_d)
        want = self.segments if self.segments is not None else -(
            -self.target_warps_per_sm * self.num_sms // (programs * warps))
        want = max(1, min(want, n_chunks, CHUNKED_MAX_SEGMENTS))
        per_seg = -(-n_chunks // want)
        return -(-n_chunks // per_seg), per_seg

    def split_fwd(self, batch: int, d: int, n_chunks: int) -> tuple[int, int]:
        return self.split(batch, d, n_chunks, self.fwd_block_d, self.fwd_warps)

    def split_bwd(self, batch: int, d: int, n_chunks: int) -> tuple[int, int]:
        return self.split(batch, d, n_chunks, self.bwd_block_d, self.bwd_warps)

    def programs(self, batch: int, d: int, L: int) -> dict[str, int]:
        """Programs in the forward and backward grids (all segments) for (batch, d, L)."""
        n_chunks = max(1, -(-L // self.chunk))
        return {
            "fwd": batch * -(-d // self.fwd_block_d) * self.split_fwd(batch, d, n_chunks)[0],
            "bwd": batch * -(-d // self.bwd_block_d) * self.split_bwd(batch, d, n_chunks)[0],
        }


def chunked_scan_config(
    batch: int, d: int, n: int, groups: int = 1, *, num_sms: int | None = None, chunk: int | None = None,
    block_d: int | None = None, num_warps: int | None = None, segments: int | None = None,
    safe_reverse: bool = True, fwd_block_d: int | None = None, bwd_block_d: int | None = None,
    fwd_warps: int | None = None, bwd_warps: int | None = None,
) -> ChunkedScanConfig:
    """Launch configuration of the chunked kernels for u (batch, d, L), A (d, n), B/C with ``groups``.

    Args:
        num_sms: streaming multiprocessors of the target (default: an H100 SXM's 132).
        chunk, block_d, num_warps: overrides (powers of two) for both directions, e.g. small tiles
            for interpreter tests; fwd_block_d / bwd_block_d / fwd_warps / bwd_warps per direction.
            A block is still capped by the group structure of B / C and by d.
        segments: force this many L segments (capped by the number of chunks).

    The configuration does not depend on n (the states are looped over) or the dtype (tiles are
    fp32); the L split depends on L and is taken at launch (:meth:`ChunkedScanConfig.split`).
    """
    named = (("chunk", chunk), ("block_d", block_d), ("num_warps", num_warps), ("fwd_block_d", fwd_block_d),
             ("bwd_block_d", bwd_block_d), ("fwd_warps", fwd_warps), ("bwd_warps", bwd_warps))
    for name, v in named:
        assert v is None or (v >= 1 and v & (v - 1) == 0), f"{name} must be a power of two"
    assert chunk is None or chunk >= 2, "chunk must be at least 2"
    assert segments is None or segments >= 1
    chunk = chunk or CHUNKED_CHUNK
    cap = min(group_block_limit(d, groups), _next_pow2(d))

    def block(override: int | None) -> int:
        return max(1, min(override or block_d or CHUNKED_BLOCK_D, cap))

    def warps(override: int | None, bd: int, elems_per_thread: int) -> int:
        if override or num_warps:
            return override or num_warps
        return max(1, min(CHUNKED_MAX_WARPS, _next_pow2(-(-bd * chunk // (32 * elems_per_thread)))))

    fbd, bbd = block(fwd_block_d), block(bwd_block_d)
    return ChunkedScanConfig(
        chunk=chunk, block_n=max(2, _next_pow2(n)), fwd_block_d=fbd, bwd_block_d=bbd,
        fwd_warps=warps(fwd_warps, fbd, CHUNKED_FWD_ELEMS_PER_THREAD),
        bwd_warps=warps(bwd_warps, bbd, CHUNKED_BWD_ELEMS_PER_THREAD),
        num_sms=num_sms or H100_SMS, segments=segments, safe_reverse=safe_reverse,
    )


__all__ = ["ScanConfig", "scan_config", "ChunkedScanConfig", "chunked_scan_config", "group_block_limit",
           "H100_SMS", "SMS_BY_ARCH"]
