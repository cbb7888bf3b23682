"""Training speed with N processes under torchrun, read back from the run's metrics file.

    python benchmarks/torchrun_timing.py FOLDER [--processes 1 2] [-- extra train flags]

`images_per_s(folder, out, processes)` runs `vit-studio train` once (through
`python -m torch.distributed.run --standalone --nproc-per-node N -m vit_studio train ...` for
N > 1, plainly for N = 1) and returns the median `images_per_s` of its epoch lines after the
first (which pays for start-up): images of the global batch per second of training, over every
process together, as rank 0 timed them. The script prints that for each N and the ratio to one
process, measured in the same session.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# A small model on the CPU, no augmentation: the run is mostly the forward and backward passes.
DEFAULT_FLAGS = ("--arch", "micro", "--batch-size", "64", "--epochs", "4", "--augment", "off",
                 "--precision", "fp32", "--device", "cpu")  # fmt: skip


def train_command(folder: Path, out: Path, processes: int, flags: Sequence[str]) -> list[str]:
    """The command line of one timed run."""
    launcher = [sys.executable]
    if processes > 1:
        launcher += ["-m", "torch.distributed.run", "--standalone",
                     f"--nproc-per-node={processes}"]  # fmt: skip
    return [*launcher, "-m", "vit_studio", "train", str(folder), "--out", str(out), *flags]


def epoch_speeds(metrics: Path) -> list[float]:
    """images_per_s of each epoch line of a metrics file, in order."""
    records = [json.loads(line) for line in metrics.read_text(encoding="utf-8").splitlines()]
    return [r["images_per_s"] for r in records if r.get("kind") == "epoch"]


def images_per_s(
    folder: Path, out: Path, processes: int, flags: Sequence[str] = DEFAULT_FLAGS
) -> float:
    """Median training images per second of the epochs after the first, with `processes`."""
    model = out / f"speed_{processes}.safetensors"
    env = os.environ | {"PYTHONPATH": str(REPO)}
    if processes > 1:
        # torchrun's default of one thread each splits the cores between the processes.
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // processes)))
    command = train_command(folder, model, processes, flags)
    # Progress lines stay out of the caller's output; a failure shows their tail.
    done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True)  # fmt: skip
    if done.returncode:
        sys.exit(f"{' '.join(command)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    speeds = epoch_speeds(model.with_name(f"{model.stem}.metrics.jsonl"))
    return statistics.median(speeds[1:] or speeds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("flags", nargs="*", help="train flags instead of the defaults")
    args = parser.parse_args()
    flags = args.flags or DEFAULT_FLAGS
    with tempfile.TemporaryDirectory() as out:
        speeds = {n: images_per_s(args.folder, Path(out), n, flags) for n in args.processes}
    one = speeds.get(1)
    for n, speed in speeds.items():
        ratio = f"  {speed / one:.2f} x one process" if one else ""
        print(f"{n} process{'es' if n > 1 else ''}: {speed:,.0f} img/s{ratio}")


if __name__ == "__main__":
    main()
