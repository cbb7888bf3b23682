"""How responsive the explorer stays while ViT-B/16 loads, analyses and exports in its workers.

    python benchmarks/bench_gui.py [--device auto|cpu|cuda] [--threads N ...] [--images 32]

Runs offscreen. A QTimer ticks every 10 ms on the GUI thread; a stall is the gap between two
ticks (10 ms means no stall). For each worker thread count it prints the longest and the 99th
percentile gap during: model load (torchvision ViT-B/16, random weights, from a .safetensors
file), one analysis, one analysis with top-5 class gradients, and a CSV export of a folder.
It also prints the time from launch (a fresh process) to the first analysis on screen, the time
from a rollout control change to the repainted overlay, and, for scale, the worker's own time
for the plain analysis in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
LAUNCH = time.perf_counter()  # the child's own clock for "launch", as early as it can be

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torchvision  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtCore import QElapsedTimer, QEventLoop, QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from vit_studio.engine.model import from_torchvision, save_model  # noqa: E402
from vit_studio.gui.main_window import MainWindow  # noqa: E402
from vit_studio.gui.settings import Settings  # noqa: E402
from vit_studio.gui.state.rollout import RolloutSettings  # noqa: E402

TICK_MS = 10
TIMEOUT_S = 600


class StallMeter:
    """Gaps between the ticks of a 10 ms QTimer on the GUI thread."""

    def __init__(self) -> None:
        self._ticks: list[float] = []
        self._timer = QTimer()
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(lambda: self._ticks.append(time.perf_counter()))

    def __enter__(self) -> StallMeter:
        self._ticks = [time.perf_counter()]
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.stop()
        self._ticks.append(time.perf_counter())

    def summary(self) -> tuple[float, float]:
        gaps = np.diff(self._ticks) * 1000.0
        return float(gaps.max()), float(np.percentile(gaps, 99))


def wait_for(window: MainWindow, signal) -> None:
    """Run the event loop until `signal` fires; stop the benchmark if the window reports an
    error or nothing comes within TIMEOUT_S."""
    loop = QEventLoop()
    outcome: list[str] = []

    def finish(message: str) -> None:
        outcome.append(message)
        loop.quit()

    on_signal, on_error = (lambda *_: finish("")), finish
    signal.connect(on_signal)
    window.errorShown.connect(on_error)
    QTimer.singleShot(TIMEOUT_S * 1000, lambda: finish(f"timed out after {TIMEOUT_S} s"))
    loop.exec()
    signal.disconnect(on_signal)
    window.errorShown.disconnect(on_error)
    if outcome[0]:
        raise SystemExit(f"bench_gui: {outcome[0]}")


def write_vit_b16(folder: Path) -> Path:
    torch.manual_seed(0)
    module = torchvision.models.vit_b_16(weights=None)
    with torch.no_grad():
        module.heads.head.weight.normal_(std=0.02)  # torchvision zero-initialises the head
    model = from_torchvision(module, "vit_b_16 (random)")
    return save_model(model, folder / "vit_b_16.safetensors")


def write_images(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for index in range(count):
        path = folder / f"photo{index:03d}.jpg"
        Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def measure(model_path: Path, images: list[Path], threads: int, device: str, scratch: Path):
    settings = Settings(QSettings(str(scratch / f"settings-{threads}.ini"),
                                  QSettings.Format.IniFormat))
    settings.device = device
    window = MainWindow(settings, num_threads=threads)
    window.show()
    rows: dict[str, tuple[float, float]] = {}
    with StallMeter() as meter:
        window.load_model(model_path)
        wait_for(window, window.modelReady)
    rows["model load"] = meter.summary()
    # Warm-up: the first forward pass allocates and (on CUDA) initialises kernels.
    window.open_image(images[-1])
    wait_for(window, window.analysisReady)

    with StallMeter() as meter:
        window.open_image(images[0])
        wait_for(window, window.analysisReady)
    rows["analysis"] = meter.summary()
    plain = window.result

    window.rollout_controls.set_settings(RolloutSettings(mode="gradient"))
    with StallMeter() as meter:
        window.open_image(images[1])
        wait_for(window, window.analysisReady)
    rows["analysis + top-5 gradients"] = meter.summary()
    gradient = window.result
    window.rollout_controls.set_settings(RolloutSettings())

    with StallMeter() as meter:
        window.export_folder_csv(scratch / f"predictions-{threads}.csv")
        wait_for(window, window.exportFinished)
    rows[f"CSV export of {len(images)} images"] = meter.summary()

    repaint = []
    canvas = window.image_view.canvas
    for step in range(30):
        settings = RolloutSettings(
            head_fusion=("mean", "max", "min")[step % 3], discard_ratio=(step % 10) / 10,
            start_layer=step % 4,
        )
        clock = QElapsedTimer()
        clock.start()
        window.rollout_controls.set_settings(settings)
        canvas.repaint()  # paint now, synchronously, so the clock covers compute + paint
        repaint.append(clock.nsecsElapsed() / 1e6)
    window.close()
    window.shutdown()
    return rows, plain, gradient, repaint, window.model_summary.device_label


def launch_time(model_path: Path, image: Path, device: str) -> dict[str, float]:
    """Seconds from starting a fresh process to the window shown and to the first analysis."""
    started = time.time()
    out = subprocess.run(
        [sys.executable, __file__, "--launch-child", str(model_path), str(image), device],
        capture_output=True, text=True, check=True, timeout=TIMEOUT_S,
    )
    child = json.loads(out.stdout.strip().splitlines()[-1])
    return {name: stamp - started for name, stamp in child.items()}


def launch_child(model_path: str, image: str, device: str) -> None:
    app = QApplication([sys.argv[0]])
    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings(QSettings(str(Path(scratch) / "s.ini"), QSettings.Format.IniFormat))
        settings.device = device
        window = MainWindow(settings)
        window.show()
        app.processEvents()
        shown = time.time()
        window.load_model(model_path)
        window.open_image(image)
        wait_for(window, window.analysisReady)
        first = time.time()
        window.close()
        window.shutdown()
    print(json.dumps({"window shown": shown, "first analysis shown": first}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, nargs="+",
                        help="torch threads in the workers (default: cores - 1, then all cores)")
    parser.add_argument("--images", type=int, default=32, help="images in the exported folder")
    parser.add_argument("--launch-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.launch_child:
        launch_child(*args.launch_child)
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    thread_counts = args.threads or sorted({max(1, cores - 1), cores})
    app = QApplication([sys.argv[0]])  # noqa: F841 (kept alive for the whole run)
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        model_path = write_vit_b16(scratch)
        images = write_images(scratch / "photos", args.images)
        launch = launch_time(model_path, images[0], args.device)
        print(f"ViT-B/16, random weights; {cores} cores; tick {TICK_MS} ms "
              "(a gap of 10 ms = no stall)")
        print(f"launch -> window shown      {launch['window shown'] * 1000:8.0f} ms")
        print(f"launch -> first analysis    {launch['first analysis shown'] * 1000:8.0f} ms")
        for threads in thread_counts:
            rows, plain, gradient, repaint, device = measure(
                model_path, images, threads, args.device, scratch)
            print(f"\nworker torch threads: {threads}, device: {device}")
            print(f"  {'GUI-thread gap during':34s} {'longest':>9s} {'p99':>9s}")
            for name, (longest, p99) in rows.items():
                print(f"  {name:34s} {longest:7.1f}ms {p99:7.1f}ms")
            laps = ", ".join(f"{k} {v:.0f}" for k, v in plain.analysis.timings_ms.items())
            print(f"  plain analysis in the worker: {plain.total_ms:.0f} ms ({laps})")
            print(f"  analysis + top-5 gradients:   {gradient.total_ms:.0f} ms")
            print(f"  rollout control -> repainted overlay: median "
                  f"{statistics.median(repaint):.1f} ms, max {max(repaint):.1f} ms")


if __name__ == "__main__":
    main()
