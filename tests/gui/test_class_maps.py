"""Grad-CAM and AttnLRP in the explorer's map menu: picked there, computed in the worker for the
class shown, painted with their own scales (AttnLRP signed, on a diverging colour map)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.gui.conftest import WAIT_MS
from vit_studio.engine.explain.methods import explain
from vit_studio.engine.images import open_image, prepare_image
from vit_studio.gui.widgets.image_controls import ImageControls
from vit_studio.gui.widgets.image_view import ColorBar


def pick_map(window, kind: str) -> None:
    combo = window.findChild(ImageControls).overlay
    row = combo.findData(kind)
    combo.setCurrentIndex(row)
    combo.activated.emit(row)


@pytest.mark.parametrize(
    "kind, scale", [("gradcam", "from 0 (bottom) to 1 (top)"), ("attnlrp", "from -1 (bottom)")]
)
def test_a_class_map_picked_in_the_menu_is_the_engines_map_of_the_class_shown(
    qtbot, loaded, tiny_model, kind, scale
):
    with qtbot.waitSignal(loaded.analysisReady, timeout=WAIT_MS):
        pick_map(loaded, kind)
    qtbot.waitUntil(lambda: loaded.view_map is not None, timeout=WAIT_MS)
    prepared = prepare_image(open_image(loaded.result.path), tiny_model.meta.preprocessing)
    expected = explain(tiny_model, prepared.tensor, [kind], class_index=loaded.state.class_index)
    np.testing.assert_allclose(loaded.view_map, expected.maps[kind], rtol=1e-4, atol=1e-6)
    assert scale in loaded.image_view.findChild(ColorBar).toolTip()
