"""Turn a user's ``device`` argument into a usable ``torch.device`` or a clear error."""

from __future__ import annotations

from typing import Any

import torch

from genomamba.errors import ConfigError

__all__ = ["resolve_device"]


def resolve_device(device: Any, option: str = "device", here: bool = True) -> torch.device:
    """``"auto"`` / None: CUDA when available, else CPU; otherwise the named device, checked.

    Args:
        device: ``"auto"``, None, a string such as ``"cpu"``, ``"cuda"``, ``"cuda:1"``, or a
            ``torch.device``.
        option: how the caller's user spells the setting (``--device``), for messages.
        here: also check that this machine has the device (False: only that it names one, as a
            workflow does while parsing its config for jobs that may run on other machines).

    Raises:
        ConfigError: not a device name, or (``here``) a device this machine does not have.
    """
    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, str | torch.device):
        raise ConfigError(f"{option} must be a device name such as 'cpu', 'cuda' or 'auto', got {device!r}")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise ConfigError(f"{option}={device!r} is not a device; use 'cpu', 'cuda', 'cuda:N' or 'auto'") from None
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"{option}={device!r} is not supported; use 'cpu', 'cuda', 'cuda:N' or 'auto'")
    if not here:
        return dev
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"{option}={device!r}, but CUDA is not available here (no GPU, or a CPU-only torch build); "
                "use 'cpu' or 'auto'"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"{option}={device!r}, but only {torch.cuda.device_count()} CUDA device(s) exist")
    elif dev.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ConfigError(f"{option}={device!r}, but MPS is not available here; use 'cpu' or 'auto'")
    return dev
