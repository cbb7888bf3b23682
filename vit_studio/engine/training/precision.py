"""Numeric precision: which autocast dtype a precision setting means on a device."""

from __future__ import annotations

import torch

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def autocast_dtype(
    precision: str, device: torch.device, *, training: bool = True
) -> torch.dtype | None:
    """The autocast dtype for `precision` on `device`; None means plain fp32.

    auto: bf16 on CUDA (fp16 on GPUs without bf16). On the CPU, bf16 only for training and only
    on CPUs with native bf16 instructions (AVX512-BF16 / AMX), where it measured 1.2-1.7x
    faster per step (benchmarks/bench_training.py); elsewhere it is slower than fp32. CPU
    evaluation stays fp32 so its probabilities match `analysis` exactly.
    """
    if precision == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if device.type == "cpu" and training and _cpu_has_bf16():
            return torch.bfloat16
        return None
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def _cpu_has_bf16() -> bool:
    # Private but long-standing torch helpers; absent ones mean "no".
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)
