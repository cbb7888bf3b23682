"""How soon the explorer shows a photo and its first map, against the imports it cannot avoid.

    python benchmarks/bench_startup.py [--repeats 5] [--before DIR] [--image IMAGE] [--model M]

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

The package measured is the checkout this script is in (or `--tree DIR`'s), never an installed
one. `--before DIR` measures a second tree in the same run, its launches taking turns with ours
(e.g. `git worktree add /tmp/before main` before a change is merged), so that both columns see
the same load. The resident memory after each start-up step, one step at a time in one process,
closes the report. Linux only (/proc).
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


def child_env(tree: Path, config: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["QT_QPA_PLATFORM"] = "offscreen"
    env["XDG_CONFIG_HOME"] = str(config)  # a first launch: no remembered model, view or size
    env["PYTHONPATH"] = str(tree)  # ahead of any installed (or editable) vit_studio
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


COMMANDS = {"--help": ["--help"], "--version": ["--version"],
            "models --catalogue": ["models", "--catalogue"]}  # fmt: skip
FLOORS = {'python -c "import PySide6"': "import PySide6",
          'python -c "import torch"': "import torch"}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--image", type=Path, default=ROOT / "resources/samples/cat_chelsea.jpg")
    parser.add_argument("--model", type=Path,
                        default=ROOT / "resources/models/vit_cifar10.safetensors")  # fmt: skip
    parser.add_argument("--tree", type=Path, default=ROOT,
                        help="measure the vit_studio package in this tree (default: this one)")
    parser.add_argument("--before", type=Path,
                        help="also measure this tree (e.g. a worktree of main), taking turns")
    args = parser.parse_args()

    trees = {"ours": args.tree.resolve()}
    if args.before:
        trees["before"] = args.before.resolve()
    image, model = args.image.resolve(), args.model.resolve()
    for tree in trees.values():
        compileall.compile_dir(str(tree / "vit_studio"), quiet=1)
    with tempfile.TemporaryDirectory() as scratch:
        # `python -c` puts the working folder first on sys.path: a neutral one, so that the
        # package measured is the one on PYTHONPATH, not a checkout we stand in.
        os.chdir(scratch)
        envs = {name: child_env(tree, Path(scratch) / name) for name, tree in trees.items()}
        floor_runs: dict[str, list[tuple[float, float]]] = {name: [] for name in FLOORS}
        runs = {name: Runs() for name in trees}
        for _ in range(args.repeats):
            for name, code in FLOORS.items():
                floor_runs[name].append(run_floor(code, envs["ours"]))
            for name, env in envs.items():
                runs[name].explorer.append(run_explorer(image, model, env))
                for command, argv in COMMANDS.items():
                    runs[name].commands.setdefault(command, []).append(run_command(argv, env))
        phases = {name: run_phases(image, model, env) for name, env in envs.items()}

    report(args.repeats, trees, floor_runs, runs, phases)


class Runs:
    """One tree's launches: the explorer's timings, and each command's."""

    def __init__(self) -> None:
        self.explorer: list[dict[str, float]] = []
        self.commands: dict[str, list[tuple[float, bool]]] = {}

    def median(self, key: str) -> float:
        return statistics.median(run[key] for run in self.explorer)


def report(repeats: int, trees: dict[str, Path], floor_runs: dict, runs: dict[str, Runs],
           phases: dict[str, list[tuple[str, float]]]) -> None:  # fmt: skip
    """The figures as the README quotes them: one column per tree measured."""
    names = list(trees)
    print(f"bench_startup: median of {repeats} fresh processes each, on {os.cpu_count()} CPUs, "
          f"Python {sys.version.split()[0]}; load average {os.getloadavg()[0]:.2f} at the end")
    for name, tree in trees.items():
        print(f"  {name}: {tree}")
    print()
    print(f"{'floors':40s}{'seconds':>9s}{'peak MiB':>10s}")
    for name, floor in floor_runs.items():
        seconds, peak = (statistics.median(run[i] for run in floor) for i in (0, 1))
        print(f"{name:40s}{seconds:9.2f}{peak:10.0f}")
    torch_floor = statistics.median(run[0] for run in floor_runs['python -c "import torch"'])
    print()
    print(f"{'vit-studio IMAGE, seconds from launch':40s}" + "".join(f"{n:>10s}" for n in names))
    for key, label in (("window", "window shown"), ("photo", "photo painted"),
                       ("map", "first map painted")):  # fmt: skip
        print(f"{'  ' + label:40s}" + "".join(f"{runs[n].median(key):10.2f}" for n in names))
    print(f"{'  peak resident MiB at the first map':40s}"
          + "".join(f"{runs[n].median('hwm_mib'):10.0f}" for n in names))  # fmt: skip
    print(f"{'vit-studio COMMAND, seconds to exit':40s}" + "".join(f"{n:>10s}" for n in names))
    for command in COMMANDS:
        cells = []
        for n in names:
            done = runs[n].commands[command]
            torch = "*" if any(run[1] for run in done) else ""
            cells.append(f"{statistics.median(run[0] for run in done):9.2f}{torch or ' '}")
        print(f"{'  ' + command:40s}" + "".join(f"{cell:>10s}" for cell in cells))
    print("  (* imported torch)")
    print()
    ours = runs["ours"]
    print("targets (ours): photo painted <= 1.50 s: "
          f"{ours.median('photo'):.2f}; first map - torch floor <= +1.00 s: "
          f"{ours.median('map') - torch_floor:+.2f}; commands < 1 s without torch: "
          + ("yes" if all(statistics.median(r[0] for r in done) < 1 and not any(r[1] for r in done)
                          for done in ours.commands.values()) else "no"))  # fmt: skip
    if "before" in runs:
        drop = runs["before"].median("hwm_mib") - ours.median("hwm_mib")
        print(f"peak resident memory at the first map: {drop:.0f} MiB less than before")
    for name, steps in phases.items():
        print()
        print(f"{name}: resident MiB after each step (one process, one thread, the steps in turn)")
        previous = 0.0
        for step, mib in steps:
            print(f"  {step:38s}{mib:7.0f}  {mib - previous:+6.0f}")
            previous = mib


if __name__ == "__main__":
    main()
