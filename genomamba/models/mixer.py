"""Mamba (S6) mixer, RMSNorm and the per-layer streaming caches.

The selective scan is called only through :mod:`genomamba.kernels`, so the mixer does not
depend on which backend (reference, numba CPU, Triton CUDA) runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genomamba.kernels import causal_conv_silu, selective_scan, selective_state_update
from genomamba.models.config import GenomambaConfig


@dataclass
class MambaCache:
    """Streaming state of one Mamba layer.

    conv: (B, d_inner, d_conv - 1) last conv inputs; ssm: (B, d_inner, d_state + 2k) float32
    (float64 for float64 models), k = len(ssm_periods): real states, then the real and the
    imaginary parts of the complex states.
    """

    conv: Tensor
    ssm: Tensor


@dataclass
class MambaTimeline:
    """States of one Mamba layer after chosen prefixes of one pass (:meth:`MambaMixer.forward`
    with ``checkpoints``), to restart the layer there (exact state reuse).

    conv_inputs: (B, d_conv - 1 + L, d_inner) the carried conv inputs (zeros for a fresh pass)
    followed by the pass's own; ssm: (B, P, d_inner, d_state + 2k) the scan state, as
    :class:`MambaCache` holds it, after each of the P checkpoints' prefixes; taps: d_conv - 1.
    """

    conv_inputs: Tensor
    ssm: Tensor
    taps: int

    def cache_at(self, rows: Tensor, index: Tensor, positions: Tensor) -> MambaCache:
        """The state after ``positions[i]`` tokens of row ``rows[i]``, checkpoint ``index[i]``
        (each (M,) long) -> a :class:`MambaCache` of batch M."""
        idx = positions[:, None] + torch.arange(self.taps, device=positions.device)  # (M, d_conv - 1)
        conv = self.conv_inputs[rows[:, None], idx].transpose(1, 2)  # (M, d_inner, d_conv - 1)
        return MambaCache(conv=conv.contiguous(), ssm=self.ssm[rows, index])


class RMSNorm(nn.Module):
    """Root-mean-square norm (statistics in float32), as in Mamba / T5."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        """x: (..., dim) -> (..., dim) in x.dtype."""
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * xf.to(x.dtype)


def _state_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def causal_depthwise_conv(xcat: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """Valid depthwise conv over time, channel-last: xcat (B, K-1+L, d), weight (d, 1, K),
    bias (d,) -> (B, L, d).

    On CPU, PyTorch's depthwise ``conv1d`` backward is pathologically slow (tens of seconds at
    d=256, L=1024), so K shifted multiply-adds accumulate into one buffer there; CUDA uses cuDNN.
    """
    if xcat.is_cuda:
        return F.conv1d(xcat.transpose(1, 2), weight, bias, groups=weight.shape[0]).transpose(1, 2)
    K = weight.shape[-1]
    L = xcat.shape[1] - K + 1
    taps = weight[:, 0, :]  # (d, K)
    # In place after the first product: one (B, L, d) buffer instead of 2K - 1 temporaries.
    out = xcat[:, :L] * taps[:, 0]
    for k in range(1, K):
        out.addcmul_(xcat[:, k : k + L], taps[:, k])
    return out if bias is None else out.add_(bias)


def conv_silu(xs: Tensor, weight: Tensor, bias: Tensor | None, prev: Tensor | None) -> Tensor:
    """silu(causal depthwise conv) over [prev | xs] along time: xs (B, L, d), prev (B, K-1, d) or
    None (zeros), weight (d, 1, K), bias (d,) -> (B, L, d).

    On CPU one fused numba pass each way (no ``cat``, no per-tap temporaries); elsewhere torch.
    """
    if xs.device.type == "cpu":
        return causal_conv_silu(xs, weight, bias, prev=prev)
    if prev is None:
        prev = xs.new_zeros(xs.shape[0], weight.shape[-1] - 1, xs.shape[2])
    return F.silu(causal_depthwise_conv(torch.cat([prev, xs], dim=1), weight, bias))


def gather_last(x: Tensor, lengths: Tensor | None, k: int) -> Tensor:
    """The k entries before ``lengths[b]`` along the time dim of x (B, T, C) -> (B, C, k)."""
    if lengths is None:
        return x[:, x.shape[1] - k :].transpose(1, 2)
    idx = lengths[:, None] + torch.arange(k, device=x.device)  # (B, k)
    return x.gather(1, idx[:, :, None].expand(-1, -1, x.shape[2])).transpose(1, 2)


def rotate_pairs(state: Tensor, n_real: int, angle: Tensor) -> Tensor:
    """Rotate the complex states of a scan state by ``angle``.

    state: (B, d, n_real + 2k) laid out [real states | k real parts | k imaginary parts];
    angle: (k,) or (B, k) radians. Returns a new tensor; the real states are copied unchanged.
    """
    k = (state.shape[-1] - n_real) // 2
    if k == 0:
        return state
    if angle.dim() == 2:
        angle = angle[:, None, :]  # (B, 1, k)
    cos, sin = torch.cos(angle).to(state.dtype), torch.sin(angle).to(state.dtype)
    re, im = state[..., n_real : n_real + k], state[..., n_real + k :]
    return torch.cat([state[..., :n_real], re * cos - im * sin, re * sin + im * cos], dim=-1)


class MambaMixer(nn.Module):
    """in_proj -> (x, z); causal depthwise conv on x; x_proj -> (dt, B, C); dt_proj;
    selective scan with D skip and silu(z) gate; out_proj.

    Periodic complex states (``cfg.ssm_periods``): state j evolves as
    ``h_t = exp(delta_t a_j) w_j h_{t-1} + delta_t B_tj u_t`` with ``w_j = exp(2 pi i / p_j)`` and
    contributes ``C_tj Re(h_t)`` to y. In the rotating frame ``g_t = w^-t h_t`` the rotation
    moves into the inputs, ``g_t = exp(delta_t a_j) g_{t-1} + delta_t (w^-t B_tj) u_t`` and
    ``Re(h_t) = Re(w^t g_t)``, so the real and imaginary parts of g are two ordinary real-decay
    states with B and C multiplied by cos / -sin of the phase (the rotary form of a complex SSM,
    Lahoti et al. 2025, "Mamba-3"). Every scan backend therefore runs them unchanged. The phase
    is ``2 pi (t mod p) / p`` with t counted from the first token of each call, which is exact
    for any length; the streaming cache holds h itself (rotated back to the frame at the last
    real token), so a chunked or stepped pass equals a one-shot pass.

    Parameter names follow the published Mamba / HuggingFace layout so checkpoints map 1:1.
    Activations stay (B, L, channels) from in_proj to out_proj; the scan gets transposed views
    and reads them without transposing copies (the CPU path only compacts z, B and C, slices of
    wider projections). Padding (right-padded, ``mask`` True = real):
    conv inputs and delta are zeroed at pads, so exp(0 * A) = 1 and 0 * B * u = 0 leave the
    state untouched and real positions never see pads; the carried conv state is gathered from
    each sample's real tokens.
    """

    def __init__(self, cfg: GenomambaConfig, d_model: int) -> None:
        super().__init__()
        self.d_model = d_model
        self.d_inner = cfg.expand * d_model
        self.d_state = cfg.d_state
        self.periods = tuple(cfg.ssm_periods)
        self.n_complex = len(self.periods)
        self.d_conv = cfg.d_conv
        self.dt_rank = int(cfg.dt_rank)
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=cfg.proj_bias)
        self.conv1d = nn.Conv1d(
            self.d_inner, self.d_inner, cfg.d_conv, groups=self.d_inner, bias=cfg.conv_bias
        )
        n_in = self.d_state + self.n_complex  # B (and C) columns: real states, then complex ones
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * n_in, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True)
        # Values are set in genomamba.models.model.init_weights (the one place for init).
        self.A_log = nn.Parameter(torch.zeros(self.d_inner, n_in))
        self.D = nn.Parameter(torch.ones(self.d_inner))
        self.A_log._no_weight_decay = True  # type: ignore[attr-defined]
        self.D._no_weight_decay = True  # type: ignore[attr-defined]
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=cfg.proj_bias)

    @property
    def scan_states(self) -> int:
        """State size the scan runs: d_state real states + 2 per complex state."""
        return self.d_state + 2 * self.n_complex

    def _turn(self, t: Tensor) -> Tensor:
        """Phase of each complex state at integer steps t (...,) -> (..., k) radians, exact mod p."""
        p = torch.tensor(self.periods, device=t.device)
        # float64 so that the phase is exact to ~1e-16 before cos / sin, whatever the model dtype
        return torch.remainder(t[..., None], p).double() * (2 * math.pi / p.double())

    def _enter_frame(self, h: Tensor) -> Tensor:
        """Carried state h_{-1} (B, d_inner, scan_states) -> the rotating frame's g_{-1} = w h_{-1}."""
        return rotate_pairs(h, self.d_state, self._turn(torch.ones((), dtype=torch.long, device=h.device)))

    def _scan_operands(self, B: Tensor, C: Tensor, L: int) -> tuple[Tensor, Tensor, Tensor]:
        """B, C (b, L, d_state + k) -> scan B, C (b, L, scan_states) in the rotating frame, and
        A (d_inner, scan_states) fp32."""
        A = -torch.exp(self.A_log.float())  # (d_inner, d_state + k)
        if not self.n_complex:
            return B, C, A
        n = self.d_state
        phase = self._turn(torch.arange(L, device=B.device))  # (L, k)
        cos, sin = torch.cos(phase).to(B.dtype), torch.sin(phase).to(B.dtype)

        def rotated(X: Tensor) -> Tensor:
            Xc = X[..., n:]
            return torch.cat([X[..., :n], Xc * cos, -Xc * sin], dim=-1)

        return rotated(B), rotated(C), torch.cat([A, A[:, n:]], dim=-1)

    def allocate_cache(self, batch_size: int, device: torch.device | None, dtype: torch.dtype) -> MambaCache:
        return MambaCache(
            conv=torch.zeros(batch_size, self.d_inner, self.d_conv - 1, device=device, dtype=dtype),
            # fp32 state (fp64 for fp64 models), matching what the scan kernels return
            ssm=torch.zeros(batch_size, self.d_inner, self.scan_states, device=device, dtype=_state_dtype(dtype)),
        )

    def _ssm_inputs(self, xc: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """xc: (..., d_inner) -> delta (..., d_inner) fp32 after softplus, B, C (..., d_state + k)."""
        n_in = self.d_state + self.n_complex
        dt, B, C = self.x_proj(xc).split([self.dt_rank, n_in, n_in], dim=-1)
        # Bias and softplus here in fp32, not in the scan: torch's vectorised softplus is several
        # times cheaper than the scan's per-element libm call on CPU, and pads get delta = 0 exactly.
        delta = F.softplus(F.linear(dt, self.dt_proj.weight).float() + self.dt_proj.bias.float())
        return delta, B, C

    def forward(
        self,
        x: Tensor,
        mask: Tensor | None = None,
        lengths: Tensor | None = None,
        cache: MambaCache | None = None,
        offsets: Tensor | None = None,
        return_cache: bool = False,
        checkpoints: Sequence[int] | None = None,
    ) -> tuple[Tensor, MambaCache | MambaTimeline | None]:
        """x: (B, L, d_model); mask: (B, L) bool; lengths: (B,) real lengths.

        Returns (out (B, L, d_model), new cache or None). ``offsets`` is unused (API parity).
        With ``checkpoints`` (P increasing positions in 0..L), the scan runs in pieces that end
        there and the second item is a :class:`MambaTimeline` of the states after them.
        """
        del offsets
        xs, z = self.in_proj(x).chunk(2, dim=-1)  # (B, L, d_inner) views
        if mask is not None:
            xs = xs * mask[..., None].to(xs.dtype)
        k = self.d_conv - 1
        prev = cache.conv.transpose(1, 2).to(xs.dtype) if cache is not None else None  # (B, k, d_inner)
        xc = conv_silu(xs, self.conv1d.weight, self.conv1d.bias, prev)  # (B, L, d_inner)
        if mask is None and xc.device.type == "cpu" and xc.dtype != torch.float64:
            # dt bias and softplus inside the CPU scan: one vectorised pass there instead of two
            # elementwise passes here and their two in the backward (float64 models keep the
            # fp32 softplus of _ssm_inputs, which their references share).
            n_in = self.d_state + self.n_complex
            dt, B, C = self.x_proj(xc).split([self.dt_rank, n_in, n_in], dim=-1)
            delta, delta_bias = F.linear(dt, self.dt_proj.weight), self.dt_proj.bias.float()
        else:
            delta, B, C = self._ssm_inputs(xc)  # (B, L, d_inner) fp32 after softplus, (B, L, n) x2
            delta_bias = None
            if mask is not None:
                delta = delta * mask[..., None]
        L = x.shape[1]
        B, C, A = self._scan_operands(B, C, L)  # (B, L, n'), (B, L, n'), (d_inner, n')
        h0 = cache.ssm if cache is not None else None
        if h0 is not None and self.n_complex:
            h0 = self._enter_frame(h0)
        if checkpoints is not None:
            y, states = self._scan_pieces(xc, delta, A, B, C, z, h0, checkpoints, delta_bias)
            if prev is None:
                prev = xs.new_zeros(xs.shape[0], k, self.d_inner)
            conv_inputs = torch.cat([prev, xs], dim=1)  # (B, k + L, d_inner): inference only
            return self.out_proj(y.transpose(1, 2).to(x.dtype)), MambaTimeline(conv_inputs, states, k)
        y, last = selective_scan(
            xc.transpose(1, 2),
            delta.to(xc.dtype).transpose(1, 2),
            A,
            B.transpose(1, 2),
            C.transpose(1, 2),
            D=self.D.float(),
            # z follows xc's dtype: under CPU autocast in_proj gives bf16 while the CPU conv gives fp32.
            z=z.to(xc.dtype).transpose(1, 2),
            delta_bias=delta_bias,
            delta_softplus=delta_bias is not None,
            return_last_state=True,
            initial_state=h0,
        )
        if self.n_complex and return_cache:
            # Back from the frame to h at each sample's last real token: h = w^(len - 1) g (pads
            # have delta = 0, so g stopped changing there).
            seen = lengths if lengths is not None else torch.full((x.shape[0],), L, device=x.device)
            last = rotate_pairs(last, self.d_state, self._turn(seen.long() - 1))
        out = self.out_proj(y.transpose(1, 2).to(x.dtype))
        if not return_cache:
            return out, None
        if lengths is None and L >= k:
            conv_state = xs[:, L - k :].transpose(1, 2)  # the last k inputs
        else:
            if prev is None:
                prev = xs.new_zeros(xs.shape[0], k, self.d_inner)
            conv_state = gather_last(torch.cat([prev, xs], dim=1), lengths, k)
        return out, MambaCache(conv=conv_state, ssm=last)

    def _scan_pieces(
        self, xc: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, z: Tensor, h0: Tensor | None,
        checkpoints: Sequence[int], delta_bias: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """The scan of :meth:`forward` run in pieces ending at ``checkpoints`` (strictly increasing,
        in 0..L), each starting from the last one's state: y (B, d_inner, L) and the states h after
        each checkpoint (B, P, d_inner, scan_states), rotated out of the periodic states' frame.
        ``delta`` is before its bias and softplus when ``delta_bias`` (d_inner,) is given (the CPU
        path, where the scan applies them)."""
        L = xc.shape[1]
        ys, states = [], []
        start, h = 0, h0
        stops = [int(c) for c in checkpoints]
        if stops and stops[0] == 0:  # the state before the pass: the carried one, or zeros
            b, n = xc.shape[0], self.scan_states
            g = h0 if h0 is not None else torch.zeros(b, self.d_inner, n, device=xc.device, dtype=_state_dtype(xc.dtype))
            zero = torch.zeros(b, dtype=torch.long, device=xc.device)
            states.append(rotate_pairs(g, self.d_state, self._turn(zero - 1)) if self.n_complex else g)
        for stop in [c for c in stops if c > 0] + ([L] if not stops or stops[-1] < L else []):
            piece = slice(start, stop)
            y, h = selective_scan(
                xc[:, piece].transpose(1, 2), delta[:, piece].to(xc.dtype).transpose(1, 2), A,
                B[:, piece].transpose(1, 2), C[:, piece].transpose(1, 2), D=self.D.float(),
                z=z[:, piece].to(xc.dtype).transpose(1, 2), delta_bias=delta_bias,
                delta_softplus=delta_bias is not None, return_last_state=True, initial_state=h,
            )
            ys.append(y)
            if len(states) < len(stops):
                # h = w^(t - 1) g for the periodic states, t = tokens seen (see the class docstring)
                seen = torch.full((xc.shape[0],), stop, dtype=torch.long, device=xc.device)
                states.append(rotate_pairs(h, self.d_state, self._turn(seen - 1)) if self.n_complex else h)
            start = stop
        return torch.cat(ys, dim=2), torch.stack(states, dim=1)

    def step(self, x: Tensor, cache: MambaCache) -> tuple[Tensor, MambaCache]:
        """One token: x (B, d_model) -> (out (B, d_model), new cache)."""
        xs, z = self.in_proj(x).chunk(2, dim=-1)  # (B, d_inner)
        window = torch.cat([cache.conv.to(xs.dtype), xs[:, :, None]], dim=-1)  # (B, d_inner, d_conv)
        xc = (window * self.conv1d.weight[:, 0, :]).sum(-1)
        if self.conv1d.bias is not None:
            xc = xc + self.conv1d.bias
        xc = F.silu(xc)
        delta, B, C = self._ssm_inputs(xc)
        B, C, A = self._scan_operands(B[:, None], C[:, None], 1)  # one step at t = 0 of its frame
        state = self._enter_frame(cache.ssm) if self.n_complex else cache.ssm
        y, ssm = selective_state_update(state, xc, delta.to(xc.dtype), A, B[:, 0], C[:, 0], D=self.D.float(), z=z)
        return self.out_proj(y.to(x.dtype)), MambaCache(conv=window[:, :, 1:], ssm=ssm)
