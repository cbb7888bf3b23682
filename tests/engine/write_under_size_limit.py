"""`python -m tests.engine.write_under_size_limit FOLDER`: each writer replaces a small file in
FOLDER with a larger one, under the file-size limit the test set; one JSON line per writer: the
error it raised, whether the old file is intact and what else is left in FOLDER."""

import json
import sys
from pathlib import Path

import numpy as np
import torch

from tests.conftest import random_model
from vit_studio.engine.errors import StudioError
from vit_studio.engine.fileio import atomic_path, write_text_atomic
from vit_studio.engine.model import save_model

OLD = b"the last good file"


def checkpoint(path: Path) -> None:
    with atomic_path(path, "the training checkpoint") as tmp:
        torch.save({"weights": torch.zeros(100_000)}, tmp)


def npz(path: Path) -> None:
    with atomic_path(path, "the NPZ file") as tmp, open(tmp, "wb") as handle:
        np.savez(handle, rollout=np.zeros(100_000, dtype=np.float32))


WRITERS = {
    "model.safetensors": lambda path: save_model(random_model(), path),
    "run.checkpoint.pt": checkpoint,
    "analysis.npz": npz,
    "analysis.json": lambda path: write_text_atomic(path, "[" + "0, " * 100_000 + "0]", "JSON"),
}

if __name__ == "__main__":
    folder = Path(sys.argv[1])
    for name, write in WRITERS.items():
        target = folder / name
        target.write_bytes(OLD)
        try:
            write(target)
            error = None
        except StudioError as exc:
            error = str(exc)
        print(json.dumps({
            "file": str(target),
            "error": error,
            "old_intact": target.read_bytes() == OLD,
            "others": sorted(p.name for p in folder.iterdir() if p.name not in WRITERS),
        }))  # fmt: skip
