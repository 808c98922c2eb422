"""Mamba (S6) mixer, RMSNorm and the per-layer streaming caches.

The selective scan is called only through :mod:`genomamba.kernels`, so the mixer does not
depend on which backend (reference, numba CPU, Triton CUDA) runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genomamba.kernels import selective_scan, selective_state_update
from genomamba.models.config import GenomambaConfig


@dataclass
class MambaCache:
    """Streaming state of one Mamba layer.

    conv: (B, d_inner, d_conv - 1) last conv inputs; ssm: (B, d_inner, d_state) float32
    (float64 for float64 models).
    """

    conv: Tensor
    ssm: Tensor


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


def gather_last(x: Tensor, lengths: Tensor | None, k: int) -> Tensor:
    """The k entries before ``lengths[b]`` along the time dim of x (B, T, C) -> (B, C, k)."""
    if lengths is None:
        return x[:, x.shape[1] - k :].transpose(1, 2)
    idx = lengths[:, None] + torch.arange(k, device=x.device)  # (B, k)
    return x.gather(1, idx[:, :, None].expand(-1, -1, x.shape[2])).transpose(1, 2)


class MambaMixer(nn.Module):
    """in_proj -> (x, z); causal depthwise conv on x; x_proj -> (dt, B, C); dt_proj;
    selective scan with D skip and silu(z) gate; out_proj.

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
        self.d_conv = cfg.d_conv
        self.dt_rank = int(cfg.dt_rank)
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=cfg.proj_bias)
        self.conv1d = nn.Conv1d(
            self.d_inner, self.d_inner, cfg.d_conv, groups=self.d_inner, bias=cfg.conv_bias
        )
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * self.d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True)
        # Values are set in genomamba.models.model.init_weights (the one place for init).
        self.A_log = nn.Parameter(torch.zeros(self.d_inner, self.d_state))
        self.D = nn.Parameter(torch.ones(self.d_inner))
        self.A_log._no_weight_decay = True  # type: ignore[attr-defined]
        self.D._no_weight_decay = True  # type: ignore[attr-defined]
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=cfg.proj_bias)

    def allocate_cache(self, batch_size: int, device: torch.device | None, dtype: torch.dtype) -> MambaCache:
        return MambaCache(
            conv=torch.zeros(batch_size, self.d_inner, self.d_conv - 1, device=device, dtype=dtype),
            # fp32 state (fp64 for fp64 models), matching what the scan kernels return
            ssm=torch.zeros(batch_size, self.d_inner, self.d_state, device=device, dtype=_state_dtype(dtype)),
        )

    def _ssm_inputs(self, xc: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """xc: (..., d_inner) -> delta (..., d_inner) fp32 after softplus, B, C (..., d_state)."""
        dt, B, C = self.x_proj(xc).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
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
    ) -> tuple[Tensor, MambaCache | None]:
        """x: (B, L, d_model); mask: (B, L) bool; lengths: (B,) real lengths.

        Returns (out (B, L, d_model), new cache or None). ``offsets`` is unused (API parity).
        """
        del offsets
        xs, z = self.in_proj(x).chunk(2, dim=-1)  # (B, L, d_inner) views
        if mask is not None:
            xs = xs * mask[..., None].to(xs.dtype)
        k = self.d_conv - 1
        if cache is not None:
            prev = cache.conv.transpose(1, 2).to(xs.dtype)
        else:
            prev = xs.new_zeros(xs.shape[0], k, self.d_inner)
        xcat = torch.cat([prev, xs], dim=1)  # (B, k + L, d_inner)
        xc = F.silu(causal_depthwise_conv(xcat, self.conv1d.weight, self.conv1d.bias))  # (B, L, d_inner)
        delta, B, C = self._ssm_inputs(xc)  # (B, L, d_inner), (B, L, n) x2
        if mask is not None:
            delta = delta * mask[..., None]
        A = -torch.exp(self.A_log.float())  # (d_inner, n)
        y, last = selective_scan(
            xc.transpose(1, 2),
            delta.to(xc.dtype).transpose(1, 2),
            A,
            B.transpose(1, 2),
            C.transpose(1, 2),
            D=self.D.float(),
            # z follows xc's dtype: under CPU autocast in_proj gives bf16 while the CPU conv gives fp32.
            z=z.to(xc.dtype).transpose(1, 2),
            return_last_state=True,
            initial_state=cache.ssm if cache is not None else None,
        )
        out = self.out_proj(y.transpose(1, 2).to(x.dtype))
        new_cache = MambaCache(conv=gather_last(xcat, lengths, k), ssm=last) if return_cache else None
        return out, new_cache

    def step(self, x: Tensor, cache: MambaCache) -> tuple[Tensor, MambaCache]:
        """One token: x (B, d_model) -> (out (B, d_model), new cache)."""
        xs, z = self.in_proj(x).chunk(2, dim=-1)  # (B, d_inner)
        window = torch.cat([cache.conv.to(xs.dtype), xs[:, :, None]], dim=-1)  # (B, d_inner, d_conv)
        xc = (window * self.conv1d.weight[:, 0, :]).sum(-1)
        if self.conv1d.bias is not None:
            xc = xc + self.conv1d.bias
        xc = F.silu(xc)
        delta, B, C = self._ssm_inputs(xc)
        A = -torch.exp(self.A_log.float())
        y, ssm = selective_state_update(cache.ssm, xc, delta.to(xc.dtype), A, B, C, D=self.D.float(), z=z)
        return self.out_proj(y.to(x.dtype)), MambaCache(conv=window[:, :, 1:], ssm=ssm)
