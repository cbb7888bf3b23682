"""One optimisation step of a run, and the optimiser it steps.

AdamW (fused on CUDA) over the weight-decay and layer-decay groups of `schedule.param_groups`;
a gradient scaler only for fp16 autocast. A step is the forward pass under autocast, the
label-smoothed cross-entropy in float32, backward, gradient clipping and the AdamW step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vit_studio.engine.training.config import TrainConfig
from vit_studio.engine.training.schedule import param_groups


def make_optimizer(
    module: nn.Module, config: TrainConfig, device: torch.device
) -> torch.optim.AdamW:
    """AdamW over the trainable parameters of `module`, each group with its `lr_scale`."""
    return torch.optim.AdamW(
        param_groups(module, config.weight_decay, config.layer_decay),
        lr=config.lr,
        **({"fused": True} if device.type == "cuda" else {}),
    )


def make_scaler(device: torch.device, amp_dtype: torch.dtype | None) -> torch.amp.GradScaler | None:
    """The gradient scaler fp16 autocast needs; None for bf16 and fp32."""
    return torch.amp.GradScaler(device.type) if amp_dtype == torch.float16 else None


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """The learning rate of the step, scaled per group (layer decay)."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group["lr_scale"]


def optimisation_step(
    forward: nn.Module,
    module: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler | None,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    config: TrainConfig,
    amp_dtype: torch.dtype | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One step on a batch: (logits, loss), both still on the device.

    `forward` is what runs the batch (the module, compiled or in DistributedDataParallel);
    `module` holds the parameters. Clipping sees the gradients after backward, which under
    DistributedDataParallel are already averaged over the ranks, so every rank clips alike.
    """
    device_type = inputs.device.type
    with torch.autocast(
        device_type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None
    ):
        logits = forward(inputs)
    loss = F.cross_entropy(logits.float(), targets, label_smoothing=config.label_smoothing)
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        if config.grad_clip is not None:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(module.parameters(), config.grad_clip)
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        if config.grad_clip is not None:
            nn.utils.clip_grad_norm_(module.parameters(), config.grad_clip)
        optimizer.step()
    return logits, loss
