"""`vit-studio finetune` and the fine-tune panel make the same model, bit for bit, from the same
folder, base model, seed and settings: both go through `engine.training.pipeline`."""

from __future__ import annotations

import shlex

import pytest
import torch
from safetensors.torch import load_file

from tests.gui.conftest import run_to_end
from vit_studio.cli import main
from vit_studio.engine.model import load_studio_model


@pytest.fixture
def one_torch_thread():
    """The panel's worker trains on one thread in these tests; the CLI, running in the test's
    own thread, gets one too, so a machine busy with other work slows neither down."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def assert_same_weights(first, second) -> None:
    a, b = load_file(str(first)), load_file(str(second))
    assert a.keys() == b.keys()
    different = [name for name in a if not torch.equal(a[name], b[name])]
    assert not different, f"tensors differ: {different[:5]}"


def test_the_defaults_are_the_same_and_so_is_the_model(
    qtbot, ready, class_folder, base_model, tmp_path, one_torch_thread
):
    run_to_end(qtbot, ready, epochs=None)  # every setting as the panel derived it
    out = tmp_path / "cli.safetensors"
    args = ["finetune", str(class_folder), "--model", str(base_model), "--out", str(out),
            "--device", "cpu"]  # fmt: skip
    assert main(args) == 0
    assert_same_weights(out, ready.model_path())
    gui_config = load_studio_model(ready.model_path()).meta.provenance["training"]["config"]
    cli_config = load_studio_model(out).meta.provenance["training"]["config"]
    gui_config.pop("log_every"), cli_config.pop("log_every")  # how often progress is read
    assert gui_config == cli_config


def test_the_command_recorded_by_the_panel_reproduces_its_model(
    qtbot, ready, tmp_path, one_torch_thread
):
    form = ready.form
    form.set_value("seed", 5)
    form.set_value("freeze", "none")
    form.set_value("augment", "strong")
    form.set_value("label_smoothing", 0.2)
    form.set_value("batch_size", 12)
    run_to_end(qtbot, ready, epochs=3)

    command = load_studio_model(ready.model_path()).meta.provenance["command"]
    args = shlex.split(command)[1:]  # without the program name
    cli_out = tmp_path / "cli.safetensors"
    args[args.index("--out") + 1] = str(cli_out)
    assert main(args) == 0
    assert_same_weights(cli_out, ready.model_path())
