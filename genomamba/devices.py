"""Turn a user's ``device`` argument into a usable ``torch.device`` or a clear error."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from genomamba.errors import ConfigError

if TYPE_CHECKING:
    import torch

__all__ = ["check_device_name", "resolve_device"]

_DEVICE_NAME = re.compile(r"(cpu|cuda|mps)(:\d+)?")


def check_device_name(device: Any, option: str = "device") -> str:
    """``device`` as a name :func:`resolve_device` accepts (``auto``, ``cpu``, ``cuda``, ``cuda:N``,
    ``mps``), without asking whether this machine has it and without importing torch: what a
    workflow checks while parsing its config, for jobs that may run on other machines.

    Raises:
        ConfigError: not such a name.
    """
    if not isinstance(device, str):
        raise ConfigError(f"{option} must be a device name such as 'cpu', 'cuda' or 'auto', got {device!r}")
    if device != "auto" and not _DEVICE_NAME.fullmatch(device):
        raise ConfigError(f"{option}={device!r} is not a device name; use 'cpu', 'cuda', 'cuda:N', 'mps' or 'auto'")
    return device


def resolve_device(device: Any, option: str = "device") -> torch.device:
    """``"auto"`` / None: CUDA when available, else CPU; otherwise the named device, checked.

    Args:
        device: ``"auto"``, None, a string such as ``"cpu"``, ``"cuda"``, ``"cuda:1"``, or a
            ``torch.device``.
        option: how the caller's user spells the setting (``--device``), for messages.

    Raises:
        ConfigError: not a device name, or a device this machine does not have.
    """
    import torch

    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, str | torch.device):
        raise ConfigError(f"{option} must be a device name such as 'cpu', 'cuda' or 'auto', got {device!r}")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise ConfigError(f"{option}={device!r} is not a device; use 'cpu', 'cuda', 'cuda:N' or 'auto'") from None
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
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"{option}={device!r} is not supported; use 'cpu', 'cuda', 'cuda:N' or 'auto'")
    return dev
