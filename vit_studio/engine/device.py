"""Choosing the torch device (`auto` means CUDA, else Apple MPS, else CPU), and naming it.

The choices and their labels are read by menus before torch is loaded; the functions that ask
torch import it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vit_studio.engine.errors import StudioError

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
DEFAULT_DEVICE = "auto"
# What --device and the settings' Device say (the training settings table says the same).
DEVICE_HELP = "Where to run: auto picks CUDA, then Apple MPS, then the CPU."
# How each choice reads in menus and choosers.
CHOICE_LABELS = {"auto": "Auto", "cpu": "CPU", "cuda": "CUDA", "mps": "Apple MPS"}


def mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def available_devices() -> list[str]:
    """Devices this computer can run on, best first after `auto`."""
    import torch

    found = ["auto", "cpu"]
    if torch.cuda.is_available():
        found.append("cuda")
    if mps_available():
        found.append("mps")
    return found


def resolve_device(name: str = "auto") -> torch.device:
    """Turn a user's device choice into a `torch.device`, refusing ones this computer lacks."""
    import torch

    choice = (name or "auto").lower()
    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if choice == "cpu":
        return torch.device("cpu")
    if choice.startswith("cuda"):
        if not torch.cuda.is_available():
            raise StudioError(
                f"device '{name}': no CUDA GPU is available here; use --device cpu or auto"
            )
        return torch.device(choice)
    if choice == "mps":
        if not mps_available():
            raise StudioError("device 'mps': Apple MPS is not available here; use cpu or auto")
        return torch.device("mps")
    raise StudioError(f"device '{name}' is unknown; choose one of {', '.join(DEVICE_CHOICES)}")


def device_label(device: torch.device, num_threads: int | None = None) -> str:
    """The device a model is on, for people: 'CPU (3 threads)', 'CUDA: NVIDIA H100 80GB HBM3'."""
    import torch

    if device.type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return CHOICE_LABELS["mps"]
    threads = torch.get_num_threads() if num_threads is None else num_threads
    return f"CPU ({threads} thread{'s' if threads != 1 else ''})"
