"""The explorer's state, driven as a script would drive it, with no window and no Qt: what it
asks the workers for, and what it shows once they answer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import TINY_ARCH, random_model
from tests.gui.analyses import tiny_analysis
from vit_studio.engine.analysis import analyze
from vit_studio.engine.images import PreparedImage
from vit_studio.engine.model import ViTArch
from vit_studio.gui.state.explorer import ExplorerState
from vit_studio.gui.state.overlay import MEAN_HEAD
from vit_studio.gui.state.results import ImageResult, ModelSummary
from vit_studio.gui.state.rollout import RolloutSettings

MODEL = Path("tiny.safetensors")
CAT, DOG = Path("cat.png"), Path("dog.png")


def summary(device: str = "cpu") -> ModelSummary:
    return ModelSummary(MODEL, "tiny", TINY_ARCH, tuple(f"class {i}" for i in range(5)), 1000,
                        32, device, device.upper())  # fmt: skip


def result(
    path: Path = CAT, gradient_classes=None, seed: int = 0, attnlrp_classes=None
) -> ImageResult:
    return ImageResult(
        path, tiny_analysis(gradient_classes, seed, attnlrp_classes), "cpu", 1.0, 2.0
    )


class Recorder:
    """Every event `state` emits, in order, as (name, *args)."""

    def __init__(self, state: ExplorerState) -> None:
        self.events: list[tuple] = []
        for name in ("model_requested", "move_requested", "analysis_requested", "result_changed",
                     "overlay_changed", "device_changed", "patch_changed", "rollout_changed"):
            getattr(state, name).connect(lambda *args, n=name: self.events.append((n, *args)))

    def named(self, name: str) -> list[tuple]:
        return [event[1:] for event in self.events if event[0] == name]


@pytest.fixture
def state() -> ExplorerState:
    return ExplorerState(device="cpu")


def shown(state: ExplorerState, analysed: ImageResult | None = None) -> ExplorerState:
    """`state` with the tiny model loaded and `analysed` (the cat by default) on screen."""
    state.load_model(MODEL)
    state.model_ready(summary())
    state.open_image(CAT)
    state.analysis_ready(analysed or result())
    return state


def test_an_image_opened_before_any_model_is_analysed_once_the_model_is_ready(state):
    events = Recorder(state)
    state.open_image(CAT)
    state.load_model(MODEL)
    assert events.named("analysis_requested") == []  # no model yet, then one on its way
    state.model_ready(summary())
    assert events.named("model_requested") == [(MODEL, None)]  # no head count given
    assert events.named("analysis_requested") == [(CAT, None, None)]


def test_a_new_analysis_shows_its_top_class_and_the_remembered_rollout(state):
    events = Recorder(state)
    analysed = result()
    shown(state, analysed)
    analysis = analysed.analysis
    assert state.result is analysed and state.class_index == analysis.top_k(1)[0].index
    assert state.layer == analysis.num_layers - 1 and state.head == MEAN_HEAD
    np.testing.assert_allclose(state.view_map, analysis.rollout("mean", 0.0, 0))
    assert events.named("result_changed") == [(analysed,)]


def test_every_choice_redraws_from_the_cached_analysis(state):
    analysis = shown(state).result.analysis
    state.set_rollout(RolloutSettings("plain", "max", 0.5, 1))
    np.testing.assert_allclose(state.view_map, analysis.rollout("max", 0.5, 1))
    state.select_head(1, 2)
    assert state.overlay_kind == "attention"
    np.testing.assert_allclose(state.view_map, analysis.cls_attention[1, 2])
    state.select_patch(6)
    assert state.overlay_kind == "patch"
    np.testing.assert_allclose(state.view_map, analysis.patch_attention(1, 6, 2))
    state.inspect_layer_head(0, MEAN_HEAD)
    np.testing.assert_allclose(state.view_map, analysis.patch_attention(0, 6))
    state.select_patch(6, overlay="posembed")
    np.testing.assert_allclose(state.view_map, analysis.patch_pos_similarity(6))


def test_a_class_without_cached_gradients_is_asked_for_once_and_shown_when_it_comes(state):
    analysis = shown(state).result.analysis
    events = Recorder(state)
    outside = 4
    state.choose_class(outside)
    state.choose_class(outside)  # asking again while it is computed asks nothing more
    assert state.rollout.mode == "gradient" and state.gradients_pending
    assert state.view_map is None  # nothing to paint (or export) until the gradients come
    [(path, classes, attnlrp)] = events.named("analysis_requested")
    top = {p.index for p in analysis.top_k(5)}
    assert path == CAT and set(classes) == top | {outside} and attnlrp is None
    state.analysis_ready(result(gradient_classes=classes))
    assert state.class_index == outside and not state.gradients_pending  # kept: same image
    np.testing.assert_allclose(
        state.view_map, state.result.analysis.gradient_rollout(outside)
    )


def test_grad_cam_of_the_chosen_class_comes_with_its_gradients(state):
    shown(state)
    events = Recorder(state)
    state.set_overlay_kind("gradcam")
    assert state.view_map is None and state.overlay.title.startswith("Computing Grad-CAM")
    [(path, classes, attnlrp)] = events.named("analysis_requested")
    assert state.class_index in classes and attnlrp is None
    state.analysis_ready(result(gradient_classes=classes))
    np.testing.assert_allclose(
        state.view_map, state.result.analysis.gradcam[state.class_index]
    )
    assert (state.overlay.vmin, state.overlay.vmax) == (0.0, 1.0)


def test_attnlrp_is_asked_for_the_chosen_class_and_drawn_signed(state):
    shown(state)
    events = Recorder(state)
    state.set_overlay_kind("attnlrp")
    state.choose_class(3)  # not the top class (4)
    assert state.overlay_kind == "attnlrp"  # choosing a class keeps the map shown
    first, second = [attnlrp for _path, _classes, attnlrp in events.named("analysis_requested")]
    assert first == (4,) and second == (3,)  # none cached yet: the first is still on its way
    state.analysis_ready(result(attnlrp_classes=second))
    shown_map = state.view_map
    np.testing.assert_allclose(shown_map, state.result.analysis.attnlrp[3])
    assert shown_map.min() < 0 < shown_map.max() and np.abs(shown_map).max() == 1.0
    overlay = state.overlay
    assert (overlay.vmin, overlay.vmax, overlay.colormap) == (-1.0, 1.0, "RdBu_r")


def test_a_new_image_shown_with_attnlrp_asks_for_its_top_class_only(state):
    shown(state)
    state.set_overlay_kind("attnlrp")
    events = Recorder(state)
    state.open_image(DOG)
    assert events.named("analysis_requested") == [(DOG, None, 1)]


def test_when_gradients_fail_the_plain_rollout_of_the_cached_analysis_stays(state):
    shown(state)
    state.choose_class(4)
    state.analysis_failed()
    assert state.rollout.mode == "plain" and state.view_map is not None
    assert state.image_path == CAT


def test_a_device_switch_that_fails_puts_the_device_choice_back(state):
    shown(state)
    events = Recorder(state)
    state.set_device("cuda")
    assert events.named("move_requested") == [("cuda",)] and state.model_pending
    state.model_failed()
    assert state.device == "cpu" and not state.model_pending
    assert events.named("device_changed") == [("cuda",), ("cpu",)]


def test_an_image_opened_while_a_model_failed_to_load_is_analysed_with_the_old_model(state):
    shown(state)
    events = Recorder(state)
    state.load_model(Path("broken.safetensors"))
    state.open_image(DOG)
    assert events.named("analysis_requested") == []
    state.model_failed()
    assert events.named("analysis_requested") == [(DOG, None, None)]


def test_selections_that_do_not_fit_the_next_model_are_reset(state):
    shown(state)
    state.select_patch(15)  # the last patch of the tiny 4 x 4 grid
    state.select_head(2, 3)  # its last layer and head
    smaller = ViTArch(image_size=16, patch_size=8, num_layers=2, num_heads=2, hidden_dim=16,
                      mlp_dim=32, num_classes=5)  # fmt: skip
    image = PreparedImage(np.zeros((16, 16, 3), np.uint8), torch.zeros(3, 16, 16))
    state.analysis_ready(ImageResult(DOG, analyze(random_model(smaller), image), "cpu", 1, 2))
    assert state.patch is None and (state.layer, state.head) == (1, MEAN_HEAD)


def test_devices_the_computer_lacks_fall_back_to_auto():
    state = ExplorerState(device="cuda")
    state.devices_found(["auto", "cpu"])
    assert state.device == "auto"


def test_the_state_needs_no_qt():
    script = (
        "import sys, vit_studio.gui.state.explorer, vit_studio.gui.state.export; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'PySide6', 'shiboken6'}))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, timeout=120)  # fmt: skip
    assert done.stdout.strip() == "[]"
