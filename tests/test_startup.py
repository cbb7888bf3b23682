"""Start-up: the window and the commands that need no model load neither torch nor matplotlib;
at launch, torch is imported by the inference thread only, while the window shows the photo.

Each check runs in a fresh interpreter, since this one has long imported everything."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import random_model, write_image
from vit_studio.engine.model import save_model

HEAVY = ("torch", "torchvision", "matplotlib")
# What the window's thread imports before it shows anything.
WINDOW_MODULES = (
    "vit_studio.cli.explore", "vit_studio.gui.app", "vit_studio.gui.main_window",
    "vit_studio.gui.state.explorer", "vit_studio.gui.state.export",
    "vit_studio.gui.state.finetune", "vit_studio.gui.state.finetune_results",
)  # fmt: skip


def fresh_python(code: str, *args: str, env: dict[str, str] | None = None):
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "QT_QPA_PLATFORM": "offscreen",
                                            **(env or {})})  # fmt: skip


def heavy_after_importing(*modules: str) -> set[str]:
    """Which of `HEAVY` a fresh interpreter holds after importing `modules`."""
    code = f"import sys, {', '.join(modules)}\nprint(*(m for m in {HEAVY!r} if m in sys.modules))"
    done = fresh_python(code)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def test_the_window_and_its_state_import_neither_torch_nor_matplotlib():
    assert heavy_after_importing(*WINDOW_MODULES) == set()


def test_the_check_sees_torch_where_a_module_brings_it():
    # The inference thread's side of the window: a GUI module that imports torch is caught.
    assert "torch" in heavy_after_importing("vit_studio.gui.workers.model_owner")


# --- commands that need no model --------------------------------------------------------------

COMMAND = """
import contextlib, io, sys
from vit_studio.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
    main(sys.argv[1:])
print(len(out.getvalue()), "torch" in sys.modules)
"""


def run_command(*args: str, env: dict[str, str] | None = None) -> tuple[int, bool]:
    """(characters printed, whether torch was imported) of `vit-studio ARGS`."""
    done = fresh_python(COMMAND, *args, env=env)
    assert done.returncode == 0, done.stderr
    printed, torch = done.stdout.split()
    return int(printed), torch == "True"


@pytest.mark.parametrize(
    "args",
    [["--help"], ["--version"], ["models", "--catalogue"], ["models", "--catalogue", "--json"],
     ["photo.jpg", "--help"]],
    ids=" ".join,
)  # fmt: skip
def test_commands_that_need_no_model_answer_without_torch(args):
    printed, torch = run_command(*args)
    assert printed > 0 and not torch


def test_listing_the_models_here_reads_their_headers_with_torch(tmp_path):
    # The same check on a command that needs torch: it does see it.
    caches = {"TORCH_HOME": str(tmp_path / "torch"), "HF_HOME": str(tmp_path / "hf")}
    printed, torch = run_command("models", env=caches)
    assert printed > 0 and torch


# --- the launch ---------------------------------------------------------------------------------

# The explorer as `vit-studio` starts it, noting every import statement of torch made by the
# window's thread before the first map, and what the picture's canvas shows each time it paints.
LAUNCH = """
import builtins, json, os, sys, threading
window_imports = []
real_import = builtins.__import__

def noting_import(name, *args, **kwargs):
    if name.split(".")[0] == "torch" and threading.current_thread() is threading.main_thread():
        window_imports.append(name)
    return real_import(name, *args, **kwargs)

builtins.__import__ = noting_import
if os.environ.get("WINDOW_IMPORTS_TORCH"):
    __import__("torch")  # the mistake this test is there to catch
from vit_studio.gui.widgets import heat_map_canvas
painted = []
paint = heat_map_canvas.HeatMapCanvas.paintEvent

def noting_paint(self, event):
    paint(self, event)
    map_shown = not self.showing_preview() and self._values is not None
    painted.append("map" if map_shown else "photo" if self.showing_preview() else "other")
    if map_shown:
        print(json.dumps({"painted": painted, "window_imports": window_imports,
                          "torch": "torch" in sys.modules}))
        sys.stdout.flush()
        os._exit(0)

heat_map_canvas.HeatMapCanvas.paintEvent = noting_paint
from vit_studio.cli import main
main(sys.argv[1:])
"""


def launch(tmp_path: Path, env: dict[str, str] | None = None) -> dict:
    model = save_model(random_model(), tmp_path / "tiny.safetensors")
    photo = write_image(tmp_path / "photo.png", size=(64, 48))
    settings = {"XDG_CONFIG_HOME": str(tmp_path / "config")}  # a first launch
    done = fresh_python(LAUNCH, str(photo), "--model", str(model), "--device", "cpu",
                        env={**settings, **(env or {})})  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, done.stderr
    return json.loads(lines[-1])


@pytest.mark.slow
def test_the_window_shows_the_photo_and_leaves_torch_to_the_inference_thread(tmp_path):
    seen = launch(tmp_path)
    assert seen["painted"][0] == "photo"  # the photo first, alone, then its map
    assert seen["painted"][-1] == "map" and seen["torch"]
    assert seen["window_imports"] == []


@pytest.mark.slow
def test_the_launch_check_catches_a_window_that_imports_torch(tmp_path):
    seen = launch(tmp_path, env={"WINDOW_IMPORTS_TORCH": "1"})
    assert seen["window_imports"][0] == "torch"
