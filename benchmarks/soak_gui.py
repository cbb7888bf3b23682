"""Drive the real explorer window offscreen for a long time, as a user who never stops clicking,
and report whether it leaks memory or threads, stalls, or fails.

    python benchmarks/soak_gui.py [--minutes 20] [--actions N] [--images 1000] [--seed 0]
                                  [--threads 1] [--warm-up MINUTES]

The window works on a folder of generated photos, with three models: the bundled one and two
random tiny ones made with the engine. In random order, with pauses shorter than an analysis: it
opens the folder's images one after another (bursts of several, faster than the analyses finish),
switches models, toggles the device, opens and closes the split view, scores the maps (Trust),
starts fine-tunes and cancels them (through the panel's public methods only), exports the view
and the analysis, and the folder's predictions as CSV (cancelled now and then), changes the view
in front, and opens a broken file on purpose now and then (the only errors it expects).

It prints resident memory when the window is shown, after the warm-up (the first 3 minutes, or
a quarter of a shorter run), in the middle and at the end, and its spread over samples every 15 s
after the warm-up; the threads alive at the same points (counted with nothing running); the
longest stall of the GUI thread (a 10 ms QTimer heartbeat: the longest gap between two ticks,
how much of it the GUI thread spent computing, and the action before it); the slowest call of
each action and the events the GUI thread took longest to handle; how many images were opened
and analysed; and every error message, traceback and Qt warning seen. It ends with the targets
met or missed (exit 1 if one is missed): no traceback, no error but the provoked ones, memory
after the warm-up flat within 50 MB, threads back to their count after the warm-up, longest
stall at most 100 ms. Stalls are only meaningful on a quiet machine: on a busy one the GUI
thread waits for a core (the "computing" share tells the two apart).
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402

# benchmarks/gui_watch.py: the scripts run from this folder
from gui_watch import (  # noqa: E402
    SLOW_EVENT_MS,
    STALL_MS,
    TICK_MS,
    Heartbeat,
    Problems,
    TimedApplication,
    os_threads,
    resident_mb,
)
from PIL import Image  # noqa: E402
from PySide6.QtCore import QEventLoop, QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from vit_studio.engine.model import (  # noqa: E402
    ModelMeta,
    Preprocessing,
    ViTArch,
    build_vit,
    default_class_names,
    make_model,
    save_model,
)
from vit_studio.engine.resources import default_model_path  # noqa: E402
from vit_studio.gui.main_window import MainWindow  # noqa: E402
from vit_studio.gui.settings import Settings  # noqa: E402
from vit_studio.gui.state.explorer import VIEWS  # noqa: E402
from vit_studio.gui.state.finetune_phases import PanelState  # noqa: E402

SAMPLE_S = 15
BROKEN = "broken-on-purpose.jpg"
TARGET_MEMORY_MB = 50.0
QUIET_S = 120  # at most this long for the workers to finish once the actions stop
WEIGHTS = {
    "open images": 30, "switch model": 6, "toggle device": 4, "toggle split": 5,
    "score maps": 4, "fine-tune": 5, "export view": 5, "export folder CSV": 3,
    "change view": 8, "open broken file": 1,
}  # fmt: skip


def random_model_file(folder: Path, name: str, arch: ViTArch, seed: int) -> Path:
    import torch

    torch.manual_seed(seed)
    module = build_vit(arch)
    with torch.no_grad():
        module.heads.head.weight.normal_(std=0.2)  # torchvision starts the head at zero
    meta = ModelMeta(name=name, class_names=default_class_names(arch.num_classes),
                     preprocessing=Preprocessing.for_image_size(arch.image_size),
                     provenance={"source": "soak_gui.py, random"})  # fmt: skip
    return save_model(make_model(module, arch, meta), folder / f"{name}.safetensors")


def make_inputs(scratch: Path, count: int, seed: int) -> tuple[list[Path], Path, Path, list[Path]]:
    """The photos (and the broken file), a folder of three classes, and the three models."""
    rng = np.random.default_rng(seed)
    photos = scratch / "photos"
    photos.mkdir()
    images = []
    for k in range(count):
        pixels = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
        pixels[: 48 + k % 48, :, k % 3] //= 2  # not all noise alike: the maps differ
        images.append(photos / f"photo{k:04d}.jpg")
        Image.fromarray(pixels).save(images[-1], quality=85)
    broken = scratch / BROKEN
    broken.write_bytes(b"\xff\xd8\xff not a whole jpeg")
    classes = scratch / "colours"
    for channel, name in enumerate(("red", "green", "blue")):
        (classes / name).mkdir(parents=True)
        for k in range(16):
            pixels = rng.integers(0, 90, (32, 32, 3), dtype=np.uint8)
            pixels[..., channel] += 150
            Image.fromarray(pixels).save(classes / name / f"{k}.png")
    models = [
        random_model_file(scratch, "tiny-a", ViTArch(image_size=32, patch_size=8, num_layers=3,
                          num_heads=4, hidden_dim=32, mlp_dim=64, num_classes=5), seed),
        random_model_file(scratch, "tiny-b", ViTArch(image_size=48, patch_size=16, num_layers=2,
                          num_heads=2, hidden_dim=32, mlp_dim=64, num_classes=8), seed + 1),
    ]  # fmt: skip
    bundled = default_model_path()
    if bundled is not None:
        models.insert(0, bundled)
    return images, broken, classes, models


class Soak:
    def __init__(self, args: argparse.Namespace, scratch: Path) -> None:
        self.args = args
        self.scratch = scratch
        self.rng = random.Random(args.seed)
        self.images, self.broken, self.classes, self.models = make_inputs(
            scratch, args.images, args.seed
        )
        self.action = "setup"
        self.counts: Counter[str] = Counter()
        self.slowest: dict[str, tuple[float, float]] = {}  # action -> (ms, of it computing)
        self.problems = Problems(BROKEN)
        self.heartbeat = Heartbeat(lambda: self.action)
        settings = Settings(QSettings(str(scratch / "settings.ini"), QSettings.Format.IniFormat))
        settings.device = "cpu"
        settings.finetune_runs_dir = scratch / "runs"
        settings.first_run_hint_used = True
        self.window = window = MainWindow(settings, num_threads=args.threads)
        window.resize(1280, 800)
        window.show()
        window.errorShown.connect(self.problems.error)
        window.finetune_panel.errorShown.connect(self.problems.error)
        self.analysed = self.opened = 0
        self.compare_watched = False
        window.analysisReady.connect(lambda _analysis: self._count_analysis())
        self.samples: list[tuple[float, float, int]] = []  # (seconds, MB, threads)
        self.marks: dict[str, tuple[float, int]] = {}
        self.next_image = 0
        self.exports = scratch / "exports"
        self.started = 0.0
        self.deadline = 0.0
        self.warm_until = 0.0
        self.done = QEventLoop()

    def _count_analysis(self) -> None:
        self.analysed += 1

    def mark(self, name: str) -> None:
        gc.collect()
        self.marks[name] = (resident_mb(), os_threads())

    # --- the run ------------------------------------------------------------------------------

    def run(self) -> None:
        window = self.window
        self.mark("window shown")
        window.open_folder(self.images[0].parent)  # a filmstrip of every photo
        window.load_model(self.models[0])
        self._wait(lambda: window.result is not None and not window.busy, 120)
        self.heartbeat.start()
        self.started = time.monotonic()
        self.deadline = self.started + self.args.minutes * 60
        # Every action once, so pools and threads that are made on first use exist.
        for name in WEIGHTS:
            self._do(name)
            self._wait(self._quiet, QUIET_S)
        self._settle()
        self.warm_until = self.args.warm_up * 60
        sampler = QTimer()
        sampler.timeout.connect(self._sample)
        sampler.start(SAMPLE_S * 1000)
        self._sample()
        QTimer.singleShot(0, self._step)
        self.done.exec()
        sampler.stop()
        self._settle()
        if "after warm-up" not in self.marks:  # a run too short to warm up
            self.mark("after warm-up")
        self.heartbeat.stop()
        self._sample()
        self.mark("end")
        window.close()
        if not window.shutdown():
            self.problems.tracebacks.append("a worker thread did not stop when the window closed")

    def _step(self) -> None:
        elapsed = time.monotonic() - self.started
        enough = self.args.actions and sum(self.counts.values()) >= self.args.actions
        if time.monotonic() >= self.deadline or enough:
            self.done.quit()
            return
        if "after warm-up" not in self.marks and elapsed >= self.warm_until:
            self._settle()  # counted with nothing running, as at the end
            self.mark("after warm-up")
        if "middle" not in self.marks and elapsed >= self.args.minutes * 30:
            self.marks["middle"] = (resident_mb(), os_threads())
        name = self.rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
        self._do(name)
        QTimer.singleShot(self.rng.randint(20, 400), self._step)

    def _do(self, name: str) -> None:
        """One action, timed: what the GUI thread spent on the call itself (the work it starts
        in workers, and the answers it gets later, are not in it)."""
        self.action = name
        self.counts[name] += 1
        started, cpu = time.perf_counter(), time.thread_time()
        self._dispatch(name)
        took, took_cpu = (time.perf_counter() - started) * 1000, (time.thread_time() - cpu) * 1000
        if took > self.slowest.get(name, (0.0, 0.0))[0]:
            self.slowest[name] = (took, took_cpu)

    def _dispatch(self, name: str) -> None:
        window, panel = self.window, self.window.finetune_panel
        if name == "open images":
            self._burst(self.rng.randint(3, 12))
        elif name == "switch model":
            window.load_model(self.rng.choice(self.models))
        elif name == "toggle device":
            window.set_device("auto" if window.state.device == "cpu" else "cpu")
        elif name == "toggle split":
            window.set_split(not window.split_view.is_split())
            compare = window.split_view.compare
            if compare is not None and not self.compare_watched:  # made at the first split
                compare.errorShown.connect(self.problems.error)
                self.compare_watched = True
        elif name == "score maps":
            window.show_view("trust")
            window.views.trust.scoreRequested.emit()
            if self.rng.random() < 0.5:
                QTimer.singleShot(self.rng.randint(50, 1500),
                                  window.views.trust.cancelRequested.emit)  # fmt: skip
        elif name == "fine-tune":
            self._fine_tune(panel)
        elif name == "export view":
            if window.result is not None:
                k, kind = self.counts[name], self.rng.choice(["json", "npz"])
                window.export_view_png(self.exports / f"view-{k}.png")
                window.export_analysis(self.exports / f"analysis-{k}.{kind}")
        elif name == "export folder CSV":
            if not window.exporter.running and window.state.model is not None:
                window.export_folder_csv(self.exports / f"folder-{self.counts[name]}.csv")
                if self.rng.random() < 0.7:
                    QTimer.singleShot(self.rng.randint(100, 3000), window.cancel_export)
        elif name == "change view":
            window.show_view(self.rng.choice([v for v in VIEWS if v != "finetune"]))
        elif name == "open broken file":
            window.open_image(self.broken)

    def _burst(self, count: int) -> None:
        """`count` images, 5 to 30 ms apart: faster than an analysis takes."""
        delay = 0
        for _ in range(count):
            path = self.images[self.next_image % len(self.images)]
            self.next_image += 1
            QTimer.singleShot(delay, lambda p=path: self.window.open_image(p))
            delay += self.rng.randint(5, 30)
        self.opened += count

    def _fine_tune(self, panel) -> None:
        state = panel.state()
        if state in (PanelState.IDLE, PanelState.BLOCKED):
            panel.choose_folder(self.classes)
        elif state.running:
            panel.cancel()
        elif panel.can_start():
            panel.start()
            QTimer.singleShot(self.rng.randint(500, 4000), panel.cancel)

    # --- waiting and measuring ----------------------------------------------------------------

    def _quiet(self) -> bool:
        window = self.window
        compare = window.split_view.compare
        return not (window.busy or window.exporter.running or window.finetune_panel.state().running
                    or window.finetune_panel.state() == PanelState.SCANNING
                    or (compare is not None and compare.busy))  # fmt: skip

    def _settle(self) -> None:
        """Stop what runs (as a user would: Cancel everywhere) and wait until all is idle."""
        self.action = "settling"
        window = self.window
        window.finetune_panel.cancel()
        window.cancel_export()
        window.views.trust.cancelRequested.emit()
        self._wait(self._quiet, QUIET_S)

    def _wait(self, done, seconds: float) -> None:
        """Run the event loop until `done()` (checked every 50 ms) or `seconds` have passed."""
        loop, poll = QEventLoop(), QTimer()
        poll.timeout.connect(lambda: done() and loop.quit())
        poll.start(50)
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()
        poll.stop()
        if not done():
            self.problems.tracebacks.append(f"still busy {seconds:.0f} s after '{self.action}'")

    def _sample(self) -> None:
        self.samples.append((time.monotonic() - self.started, resident_mb(), os_threads()))
        seconds, mb, threads = self.samples[-1]
        print(f"[{seconds / 60:5.1f} min] {mb:7.1f} MB, {threads} threads, "
              f"{sum(self.counts.values())} actions, {self.analysed} analyses, longest stall "
              f"{self.heartbeat.longest_ms:.0f} ms", file=sys.stderr, flush=True)  # fmt: skip

    # --- the report ---------------------------------------------------------------------------

    def report(self) -> bool:
        # A run that ended within its warm-up is judged on all its samples.
        after = [mb for seconds, mb, _ in self.samples if seconds >= self.warm_until] or [
            mb for _, mb, _ in self.samples
        ]
        spread = max(after) - min(after)
        print(f"soak: {self.args.minutes:g} min on {self.args.threads} worker thread(s), "
              f"{len(self.images)} photos, {len(self.models)} models, seed {self.args.seed}")
        print("actions (count, slowest call on the GUI thread, of it computing): " + ", ".join(
            f"{name} {n} ({self.slowest[name][0]:.0f} ms, {self.slowest[name][1]:.0f} ms)"
            for name, n in sorted(self.counts.items())))  # fmt: skip
        print(f"images opened {self.opened}, analyses shown {self.analysed}")
        for name, (mb, threads) in self.marks.items():
            print(f"{name:>15}: {mb:7.1f} MB resident, {threads} threads")
        print(f"memory after the warm-up: {min(after):.1f} to {max(after):.1f} MB "
              f"(spread {spread:.1f} MB over {len(after)} samples every {SAMPLE_S} s)")
        beat = self.heartbeat
        print(f"longest GUI-thread stall: {beat.longest_ms:.0f} ms (gap between {TICK_MS} ms "
              f"ticks, {beat.longest_cpu_ms:.0f} ms of it computing on the GUI thread; after "
              f"'{beat.longest_after}'); gaps over {STALL_MS:.0f} ms: "
              f"{beat.gaps_over_target}")
        slow = sorted(QApplication.instance().slow_events.items(), key=lambda item: -item[1][1])
        for (receiver, kind), (n, longest, cpu) in slow[:12]:
            print(f"slow event on the GUI thread: {kind} to {receiver}, {n}x over "
                  f"{SLOW_EVENT_MS} ms, longest {longest:.0f} ms ({cpu:.0f} ms computing)")
        for (message, provoked), n in sorted(self.problems.errors.items()):
            print(f"error ({'provoked' if provoked else 'NOT provoked'}, {n}x): {message}")
        for text in self.problems.tracebacks:
            print(f"traceback or hang: {text.strip()}")
        for message, n in sorted(self.problems.qt_messages.items()):
            print(f"Qt message ({n}x): {message}")
        unprovoked = [m for (m, provoked) in self.problems.errors if not provoked]
        start_threads, end_threads = self.marks["after warm-up"][1], self.marks["end"][1]
        targets = {
            "no traceback": not self.problems.tracebacks,
            "no error but the provoked ones": not unprovoked,
            f"memory flat within {TARGET_MEMORY_MB:.0f} MB after the warm-up": (
                spread <= TARGET_MEMORY_MB
            ),
            "threads back to the count after the warm-up": end_threads <= start_threads,
            f"longest stall at most {STALL_MS:.0f} ms": (
                self.heartbeat.longest_ms <= STALL_MS
            ),
        }
        for name, met in targets.items():
            print(f"{'met   ' if met else 'MISSED'} {name}")
        return all(targets.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--actions", type=int, default=0, help="stop after N actions (0: time)")
    parser.add_argument("--images", type=int, default=1000, help="photos in the folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    parser.add_argument("--warm-up", type=float, metavar="MINUTES",
                        help="memory and threads are judged after this (default: 3 minutes, or "
                        "a quarter of a shorter run)")  # fmt: skip
    args = parser.parse_args()
    if args.warm_up is None:
        args.warm_up = min(3.0, args.minutes / 4)
    app = TimedApplication([sys.argv[0]])
    with tempfile.TemporaryDirectory(prefix="vit-studio-soak-") as scratch:
        os.environ["VIT_STUDIO_CACHE_DIR"] = str(Path(scratch) / "cache")
        soak = Soak(args, Path(scratch))
        soak.run()
        met = soak.report()
    app.processEvents()
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
