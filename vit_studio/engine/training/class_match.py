"""Which of a model's classes a folder's class folders are, by name.

People name folders as they speak: `Cats`, `sports_car`, `buses`. A folder's class matches a
model's class when the two names agree once case and separators are set aside and either may
carry a plural ending (`cats` is `cat`, `Sports-Car` is `sports car`, `buses` is `bus`,
`butterflies` is `butterfly`); a model class whose name lists synonyms (`tabby, tabby cat`, as
ImageNet's do) matches any of them. `vit-studio evaluate` and the fine-tune both use this, so a
folder means the same classes to both.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_SEPARATORS = re.compile(r"[\s_\-]+")


def plain_name(name: str) -> str:
    """`name` lower-cased, with runs of spaces, underscores and hyphens as single spaces."""
    return _SEPARATORS.sub(" ", name.strip().lower()).strip()


def _plurals(name: str) -> set[str]:
    forms = {name, name + "s", name + "es"}
    if name.endswith("y"):
        forms.add(name[:-1] + "ies")
    return forms


def same_class(folder_class: str, model_class: str) -> bool:
    """Whether a folder named `folder_class` holds the model class `model_class` (one synonym)."""
    a, b = plain_name(folder_class), plain_name(model_class)
    return bool(a) and (a in _plurals(b) or b in _plurals(a))


def match_class_names(
    folder_classes: Sequence[str], model_classes: Sequence[str]
) -> tuple[int, ...] | None:
    """The model's class index for each folder class, or None unless every folder class
    matches exactly one model class and no two folder classes match the same one."""
    matched: list[int] = []
    for name in folder_classes:
        exact = [k for k, m in enumerate(model_classes) if plain_name(m) == plain_name(name)]
        candidates = exact or [
            k
            for k, model_class in enumerate(model_classes)
            if any(same_class(name, synonym) for synonym in model_class.split(","))
        ]
        if len(candidates) != 1:
            return None
        matched.append(candidates[0])
    return tuple(matched) if len(set(matched)) == len(matched) else None
