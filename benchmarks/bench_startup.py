"""How soon the explorer shows a photo and its first map, against the imports it cannot avoid.

    python benchmarks/bench_startup.py [--repeats 5] [--image IMAGE] [--model M] [--tree DIR]

Every figure is the median of `--repeats` fresh processes (a new interpreter each time; the files
are in the page cache after the first), the launches of the kinds taking turns so that a change
in the machine's load hits them alike:

- the floors: `python -c "import PySide6"` and `python -c "import torch"`, from launch to exit;
- the explorer: `vit-studio IMAGE --model M` with a settings folder of its own (a first launch,
  offscreen), from launch to: the window shown (the picture's canvas first painted), the photo
  painted (the canvas first painted with a picture), the first map painted over it. The process
  is ended there;
- peak resident memory (VmHWM) of each: at exit for the floors, when the first map is painted
  for the explorer;
- `vit-studio --help`, `--version` and `models --catalogue`, from launch to exit, and whether
  they imported torch.

Launch is the parent's `time.monotonic()` just before the process starts; the child reads the
same clock (CLOCK_MONOTONIC is one clock for every process on Linux). The package is compiled to
bytecode first, as an installed wheel is: where PYTHONDONTWRITEBYTECODE is set (as on the
development VM), every launch would compile every module again otherwise.

`--tree DIR` measures the source tree in DIR instead (e.g. a worktree of an earlier commit), to
compare before and after with the same script. Linux only (/proc).
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 300

# Runs in the child: the explorer as `vit-studio` starts it, with the canvas's paintEvent wrapped
# to note when it first paints anything, a picture, and a map over it. It reads the canvas's own
# fields (what it holds when it paints), which is what a benchmark of this code may do.
DRIVER = r"""
import json, os, sys, time
from vit_studio.gui.widgets import heat_map_canvas

def hwm_mib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")

seen = {}
paint = heat_map_canvas.HeatMapCanvas.paintEvent

def noting_paint(self, event):
    paint(self, event)
    now = time.monotonic()
    seen.setdefault("window", now)
    if self._input is not None or getattr(self, "_preview", None) is not None:
        seen.setdefault("photo", now)
    if self._input is not None and self._values is not None and "map" not in seen:
        seen["map"] = now
        seen["hwm_mib"] = hwm_mib()
        seen["torch_loaded"] = "torch" in sys.modules
        sys.stdout.write(json.dumps(seen) + "\n")
        sys.stdout.flush()
        os._exit(0)

heat_map_canvas.HeatMapCanvas.paintEvent = noting_paint
from vit_studio.cli import main
sys.exit(main(sys.argv[1:]))
"""

# Where the resident memory goes: one process takes the start-up's steps in turn (one thread, so
# that each step's growth is its own) and reads VmRSS after each.
PHASES = r"""
import os, sys, time
from pathlib import Path

def rss_mib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

def step(name):
    print(f"{name}\t{rss_mib():.0f}", flush=True)

image, model = Path(sys.argv[1]), Path(sys.argv[2])
step("the interpreter")
from PySide6.QtWidgets import QApplication
app = QApplication([])
step("Qt and a QApplication")
from vit_studio.gui.main_window import MainWindow
from vit_studio.gui.workers.thread import WorkerThread
step("the window's modules")
WorkerThread.submit = lambda *args, **kwargs: 0  # the steps below stand in for the threads
window = MainWindow()
window.resize(1280, 800)
window.show()
window.open_image(image)
app.processEvents()
step("the window shown with the photo")
import torch
step("torch")
try:
    from vit_studio.gui.workers.model_owner import ModelOwner
except ImportError:  # before the inference thread's side had a module of its own
    from vit_studio.gui.workers.inference import _ModelOwner as ModelOwner
step("the engine's modules")
owner = ModelOwner(1)
owner.load(model, "cpu", True, None)
step("the model loaded")
owner.analyze(image, None)
step("the image analysed")
from vit_studio.gui import imaging
imaging.colormap_lut()
step("the colour map (matplotlib)")
os._exit(0)
"""

# The commands that must answer without torch: time to exit, and whether torch was imported.
COMMAND_CHECK = r"""
import contextlib, io, sys
from vit_studio.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    main(sys.argv[1:])
sys.stderr.write("torch imported\n" if "torch" in sys.modules else "")
"""


def child_env(tree: Path | None, config: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["QT_QPA_PLATFORM"] = "offscreen"
    env["XDG_CONFIG_HOME"] = str(config)  # a first launch: no remembered model, view or size
    env.pop("PYTHONPATH", None)
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    return env


def run_floor(code: str, env: dict[str, str]) -> tuple[float, float]:
    """(seconds from launch to exit, peak resident MiB) of `python -c code`."""
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-c", code], env=env)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"bench_startup: python -c {code!r} failed")
    return seconds, usage.ru_maxrss / 1024


def run_explorer(image: Path, model: Path, env: dict[str, str]) -> dict[str, float]:
    """Seconds from launch to the window, the photo and the first map; peak MiB at the map."""
    argv = [str(image), "--model", str(model), "--window-size", "1280x800"]
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", DRIVER, *argv], env=env, capture_output=True,
                          text=True, timeout=TIMEOUT_S)  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise SystemExit(f"bench_startup: the explorer showed no map:\n{done.stderr[-2000:]}")
    seen = json.loads(lines[-1])
    times = {key: seen[key] - started for key in ("window", "photo", "map")}
    return {**times, "hwm_mib": seen["hwm_mib"], "torch_at_map": seen["torch_loaded"]}


def run_phases(image: Path, model: Path, env: dict[str, str]) -> list[tuple[str, float]]:
    """(step, VmRSS MiB after it) for the start-up's steps taken in turn in one process."""
    done = subprocess.run([sys.executable, "-c", PHASES, str(image), str(model)], env=env,
                          capture_output=True, text=True, timeout=TIMEOUT_S)  # fmt: skip
    rows = [line.split("\t") for line in done.stdout.splitlines() if "\t" in line]
    if not rows or rows[-1][0] != "the colour map (matplotlib)":
        raise SystemExit(f"bench_startup: the memory steps did not finish:\n{done.stderr[-2000:]}")
    return [(name, float(mib)) for name, mib in rows]


def run_command(args: list[str], env: dict[str, str]) -> tuple[float, bool]:
    """(seconds from launch to exit, whether torch was imported) of `vit-studio ARGS`."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", COMMAND_CHECK, *args], env=env,
                          capture_output=True, text=True, timeout=TIMEOUT_S)  # fmt: skip
    return time.monotonic() - started, "torch imported" in done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--image", type=Path, default=ROOT / "resources/samples/cat_chelsea.jpg")
    parser.add_argument("--model", type=Path,
                        default=ROOT / "resources/models/vit_cifar10.safetensors")  # fmt: skip
    parser.add_argument("--tree", type=Path, help="measure the vit_studio package in this tree")
    args = parser.parse_args()

    tree = args.tree.resolve() if args.tree else None
    image, model = args.image.resolve(), args.model.resolve()
    package = (tree or ROOT) / "vit_studio"
    compileall.compile_dir(str(package), quiet=1)
    with tempfile.TemporaryDirectory() as scratch:
        # `python -c` puts the working folder first on sys.path: a neutral one, so that the
        # package measured is the one on PYTHONPATH (or installed), not a checkout we stand in.
        os.chdir(scratch)
        env = child_env(tree, Path(scratch))
        floors = {'python -c "import PySide6"': "import PySide6",
                  'python -c "import torch"': "import torch"}  # fmt: skip
        floor_runs: dict[str, list[tuple[float, float]]] = {name: [] for name in floors}
        explorer_runs: list[dict[str, float]] = []
        commands = {"--help": ["--help"], "--version": ["--version"],
                    "models --catalogue": ["models", "--catalogue"]}  # fmt: skip
        command_runs: dict[str, list[tuple[float, bool]]] = {name: [] for name in commands}
        for _ in range(args.repeats):
            for name, code in floors.items():
                floor_runs[name].append(run_floor(code, env))
            explorer_runs.append(run_explorer(image, model, env))
            for name, command in commands.items():
                command_runs[name].append(run_command(command, env))
        phases = run_phases(image, model, env)

    report(args.repeats, package, floor_runs, explorer_runs, command_runs)
    print("resident MiB after each step (one process, one thread, the steps in turn):")
    previous = 0.0
    for name, mib in phases:
        print(f"  {name:38s}{mib:7.0f}  {mib - previous:+6.0f}")
        previous = mib


def report(repeats: int, package: Path, floor_runs: dict, explorer_runs: list,
           command_runs: dict) -> None:  # fmt: skip
    load = os.getloadavg()[0]
    print(f"{package} on {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; median of "
          f"{repeats} fresh processes; load average {load:.2f} at the end")  # fmt: skip
    print(f"{'':40s}{'seconds':>9s}{'peak MiB':>10s}")
    for name, runs in floor_runs.items():
        seconds, peak = (statistics.median(run[i] for run in runs) for i in (0, 1))
        print(f"{name:40s}{seconds:9.2f}{peak:10.0f}")
    torch_floor = statistics.median(run[0] for run in floor_runs['python -c "import torch"'])
    median = {key: statistics.median(run[key] for run in explorer_runs)
              for key in ("window", "photo", "map", "hwm_mib")}  # fmt: skip
    print(f"{'vit-studio IMAGE: window shown':40s}{median['window']:9.2f}")
    print(f"{'                  photo painted':40s}{median['photo']:9.2f}")
    print(f"{'                  first map painted':40s}{median['map']:9.2f}"
          f"{median['hwm_mib']:10.0f}")  # fmt: skip
    print(f"first map - torch floor {median['map'] - torch_floor:+.2f} s (target <= +1.00); "
          f"photo painted {median['photo']:.2f} s (target <= 1.50)")  # fmt: skip
    for name, runs in command_runs.items():
        seconds = statistics.median(run[0] for run in runs)
        torch = "imports torch" if any(run[1] for run in runs) else "no torch"
        print(f"{'vit-studio ' + name:40s}{seconds:9.2f}  {torch} (target < 1 s, no torch)")


if __name__ == "__main__":
    main()
