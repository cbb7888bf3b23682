"""Questions the explorer asks about a model before it can open it. Each returns the answer, or
None for Cancel; the window decides what to do with it."""

from __future__ import annotations

from PySide6.QtWidgets import QInputDialog, QWidget

from vit_studio.gui.state.results import HeadCountRequest


def ask_head_count(parent: QWidget, request: HeadCountRequest) -> int | None:
    """How many attention heads a model has whose file does not say: the counts that divide its
    width, the one with heads closest to 64 wide offered first."""
    choices = [f"{n} heads of {request.hidden_dim // n}" for n in request.choices]
    suggested = request.choices.index(request.suggestion())
    text, ok = QInputDialog.getItem(
        parent,
        "Number of Attention Heads",
        f"{request.path.name} does not record how many attention heads it has, and its width "
        f"({request.hidden_dim}) is not one of a published ViT.\nA wrong count gives wrong "
        "attention maps and logits: choose the one the model was trained with.",
        choices,
        suggested,
        False,
    )
    return request.choices[choices.index(text)] if ok else None
