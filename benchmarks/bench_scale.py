"""Large folders in one run: peak memory against folder size, cache build against reuse, torchrun
with 1 and 2 processes, folder analysis against plain torchvision. Every figure is measured in
this run, each against a baseline measured in this run too.

    python benchmarks/bench_scale.py [--sizes 1500 3000 6000] [--quick] [--repeats 3]

The folders are N CIFAR-10 training images each (symlinks to ../shared/datasets/cifar10/train,
the 10 classes taken round robin), in a temporary folder; every cache goes into a temporary
VIT_STUDIO_CACHE_DIR, so nothing of yours is read or written. `--quick` uses 200/400/800 images
and one repeat: a smoke test, not a measurement. The lines:

- `memory N images`: peak RssAnon of `vit-studio train FOLDER --arch micro --image-size 96
  --patch-size 16 --epochs 1` and its children (benchmarks/peak_memory.py), a fresh cache
  directory per size so each run checks the folder and builds its cache. `plain` is the run as a
  user starts it; `fixed mmap threshold` is the same with MALLOC_MMAP_THRESHOLD_=131072, which
  stops glibc's dynamic threshold from keeping freed buffers in the heap (run-to-run noise).
- `growth`: largest size minus smallest, and its ratio to what holding the extra images as uint8
  would take (extra images x 3 x 96 x 96 bytes). Target: at most 0.25.
- `cache`: seconds of `training.pipeline.cache_split` (what `train` calls to load its images) on
  the largest folder at 96 px: building the cache in an empty cache directory, then reusing it
  (median of the repeats); the ratio build/reuse. The files were just read by the memory runs,
  so both are timed with a warm page cache.
- `torchrun`: training images/s with 1 and 2 processes (benchmarks/torchrun_timing.py, its
  default flags: micro at 32 px, batch 64, 4 epochs, gloo on the CPU) on the smallest folder,
  alternating, median of the repeats (each run listed), and the speed-up 2/1.
- `analysis`: images/s of `analyze FOLDER --csv`'s engine call against a plain batched
  torchvision forward of the same model (benchmarks/bench_folder_analysis.py: the bundled model,
  the engine's batch size, interleaved, median of the repeats) on the smallest folder; the ratio
  ours/plain. Target: at least 0.8.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# benchmarks/*.py: the scripts run from this folder, as their own imports expect.
import bench_folder_analysis
import peak_memory
import torch
import torchrun_timing

from vit_studio.engine.batch import default_batch_size
from vit_studio.engine.checkpoints import load_model
from vit_studio.engine.data.location import CACHE_DIR_VARIABLE
from vit_studio.engine.resources import default_model_path
from vit_studio.engine.training.pipeline import cache_split, scan_training_folder

IMAGE_SIZE = 96
TRAIN_FLAGS = ("--arch", "micro", "--image-size", str(IMAGE_SIZE), "--patch-size", "16",
               "--epochs", "1")  # fmt: skip
FIXED_THRESHOLD = {"MALLOC_MMAP_THRESHOLD_": "131072"}
QUICK_SIZES = (200, 400, 800)


def link_folder(target: Path, count: int) -> Path:
    """`target` with `count` CIFAR-10 images as symlinks in class folders, classes round robin."""
    source = bench_folder_analysis.CIFAR_TRAIN
    if not source.is_dir():
        sys.exit(f"bench_scale: {source} is missing; it needs the CIFAR-10 training images")
    groups = [sorted(c.iterdir()) for c in sorted(source.iterdir()) if c.is_dir()]
    files = (f for group in itertools.zip_longest(*groups) for f in group if f)
    made = 0
    for path in itertools.islice(files, count):
        (target / path.parent.name).mkdir(parents=True, exist_ok=True)
        (target / path.parent.name / path.name).symlink_to(path)
        made += 1
    if made < count:
        sys.exit(f"bench_scale: only {made} images in {source}, asked for {count}")
    return target


def peak_train_mb(
    folder: Path, scratch: Path, name: str, extra_env: dict[str, str]
) -> tuple[float, float]:
    """(peak RssAnon in MB, wall seconds) of one `vit-studio train` on `folder`, with a cache
    directory of its own."""
    env = os.environ | extra_env | {CACHE_DIR_VARIABLE: str(scratch / f"cache-{name}"),
                                    "PYTHONPATH": str(torchrun_timing.REPO)}  # fmt: skip
    command = [sys.executable, "-m", "vit_studio", "train", str(folder), *TRAIN_FLAGS,
               "--out", str(scratch / f"{name}.safetensors")]  # fmt: skip
    log = scratch / f"{name}.log"
    with log.open("w") as stderr:
        peak, seconds, code = peak_memory.peak_rss_anon_mb(
            command, env=env, stdout=subprocess.DEVNULL, stderr=stderr
        )
    if code:
        sys.exit(f"bench_scale: {' '.join(command)} exited {code}:\n{log.read_text()[-2000:]}")
    return peak, seconds


def memory(folders: dict[int, Path], scratch: Path) -> None:
    """Per size, a plain run then one with the fixed threshold (alternating, so a change in the
    machine's load hits both alike); then the growth of each."""
    sizes = sorted(folders)
    variants = {"plain": {}, "fixed mmap threshold": FIXED_THRESHOLD}
    peaks: dict[tuple[str, int], float] = {}
    for n in sizes:
        for label, extra_env in variants.items():
            name = f"{n}-{'fixed' if extra_env else 'plain'}"
            peak, seconds = peak_train_mb(folders[n], scratch, name, extra_env)
            peaks[label, n] = peak
            report(f"memory {n:>6,} images ({label}): peak RssAnon {peak:7,.0f} MB "
                   f"(train took {seconds:.1f} s)")  # fmt: skip
    extra = sizes[-1] - sizes[0]
    uint8_mb = extra * 3 * IMAGE_SIZE**2 / 2**20
    for label in variants:
        growth = peaks[label, sizes[-1]] - peaks[label, sizes[0]]
        report(
            f"growth ({label}) {sizes[0]:,} -> {sizes[-1]:,} images: {growth:+,.0f} MB; the "
            f"{extra:,} extra images as uint8: {uint8_mb:,.0f} MB; ratio {growth / uint8_mb:.2f} "
            "(target <= 0.25)"
        )


def cache_line(folder: Path, scratch: Path, repeats: int) -> str:
    """Build then reuse the cache of `folder` in an empty cache directory, timed in-process."""
    previous = os.environ.get(CACHE_DIR_VARIABLE)
    os.environ[CACHE_DIR_VARIABLE] = str(scratch / "cache-direct")
    try:
        scan = scan_training_folder(folder)
        started = time.perf_counter()
        built, _ = cache_split(scan, IMAGE_SIZE)
        build = time.perf_counter() - started
        reuses, reused = [], None
        for _ in range(repeats):
            started = time.perf_counter()
            reused, _ = cache_split(scan, IMAGE_SIZE)
            reuses.append(time.perf_counter() - started)
    finally:
        if previous is None:
            os.environ.pop(CACHE_DIR_VARIABLE)
        else:
            os.environ[CACHE_DIR_VARIABLE] = previous
    reuse = statistics.median(reuses)
    return (
        f"cache {len(scan.train) + len(scan.val):,} images at {IMAGE_SIZE} px: build {build:.2f} s "
        f"({built.cache.describe()}), reuse {reuse:.3f} s ({reused.cache.describe()}); ratio "
        f"build/reuse {build / reuse:,.0f}"
    )


def torchrun_line(folder: Path, scratch: Path, repeats: int) -> str:
    """1 and 2 processes alternating, `repeats` runs each: a change in the machine's load (a
    thread of a 2-thread process waiting for a stolen core) hits both alike."""
    speeds: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(repeats):
        for processes, runs in speeds.items():
            runs.append(torchrun_timing.images_per_s(folder, scratch, processes))
    one, two = (statistics.median(speeds[n]) for n in (1, 2))
    runs = "; ".join(f"{n}: " + ", ".join(f"{v:,.0f}" for v in speeds[n]) for n in speeds)
    return (
        f"torchrun on {count_images(folder):,} images: 1 process {one:,.0f} img/s, 2 processes "
        f"{two:,.0f} img/s (medians; runs {runs}); speed-up 2/1 {two / one:.2f}"
    )


def analysis_line(folder: Path, repeats: int) -> str:
    path = default_model_path()
    if path is None:
        return "analysis: skipped, no bundled model"
    model = load_model(path)
    batch_size = default_batch_size(torch.device("cpu"))
    ours, plain = bench_folder_analysis.folder_throughput(folder, model, batch_size, repeats)
    return (
        f"analysis on {count_images(folder):,} images ({model.meta.name}, batch {batch_size}): "
        f"ours {ours:,.0f} img/s, plain torchvision {plain:,.0f} img/s; ratio ours/plain "
        f"{ours / plain:.2f} (target >= 0.8)"
    )


def count_images(folder: Path) -> int:
    return sum(1 for _ in folder.glob("*/*"))


def report(line: str) -> None:
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1500, 3000, 6000],
                        help="folder sizes in images (at least two)")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help=f"sizes {QUICK_SIZES}, 1 repeat")
    parser.add_argument(
        "--repeats", type=int, default=3, help="of the cache reuse, torchrun and analysis"
    )
    args = parser.parse_args()
    sizes = sorted(set(QUICK_SIZES if args.quick else args.sizes))
    repeats = 1 if args.quick else args.repeats
    if len(sizes) < 2:
        parser.error("--sizes needs at least two different sizes")
    report(f"bench_scale: {platform.platform()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
           f"({torch.get_num_threads()} threads), sizes {', '.join(f'{n:,}' for n in sizes)}"
           f"{' (quick: a smoke test)' if args.quick else ''}")  # fmt: skip
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench_scale-") as scratch_name:
        scratch = Path(scratch_name)
        # Whatever the modules run (torchrun_timing's train) caches here too, never in yours.
        os.environ[CACHE_DIR_VARIABLE] = str(scratch / "cache-shared")
        folders = {n: link_folder(scratch / f"images-{n}", n) for n in sizes}
        memory(folders, scratch)
        report(cache_line(folders[sizes[-1]], scratch, repeats))
        report(torchrun_line(folders[sizes[0]], scratch, repeats))
        report(analysis_line(folders[sizes[0]], repeats))
    report(f"bench_scale: {time.monotonic() - started:,.0f} s in all")


if __name__ == "__main__":
    main()
