"""How long the explorer's views take to draw a large model's analysis.

    python benchmarks/bench_views.py [--repeats 5]

Runs offscreen. Real analyses of random torchvision ViTs: ViT-B/16 and ViT-L/16 at 224 px (the
attention grid of 12 x 12 and 24 x 16 heads, the mean-distance and token-norm charts) and
2-layer ViTs with 14 x 14 and 37 x 37 patch grids (the position-embedding mosaic). Each view is
timed from `show_analysis` to a finished picture (`grab`, or the chart's `draw`), median of the
repeats after one warm-up. The baseline, measured in the same run, is the plainest way to put
the same numbers on screen at the same size: for the charts a bare matplotlib figure with one
`imshow` or `plot` of the same array, for the grids and the mosaic the maps blown up with numpy
into one QImage painted onto a pixmap.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PySide6.QtCore import qInstallMessageHandler  # noqa: E402
from PySide6.QtGui import QPainter, QPixmap  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402
from torchvision.models import VisionTransformer, vit_b_16, vit_l_16  # noqa: E402

from vit_studio.engine.analysis import Analysis, analyze  # noqa: E402
from vit_studio.engine.images import PreparedImage  # noqa: E402
from vit_studio.engine.model import from_torchvision  # noqa: E402
from vit_studio.gui import imaging  # noqa: E402
from vit_studio.gui.widgets.attention_grid import AttentionGrid  # noqa: E402
from vit_studio.gui.widgets.plots import MeanDistancePlot, TokenNormMap  # noqa: E402
from vit_studio.gui.widgets.posembed_view import PosEmbedMosaic  # noqa: E402

TARGET_MS = 500.0  # the slowest view may take this long once per new analysis


def analysis_of(module: VisionTransformer, name: str) -> Analysis:
    size = module.image_size
    torch.manual_seed(0)
    image = PreparedImage(pixels=torch.zeros(size, size, 3, dtype=torch.uint8).numpy(),
                          tensor=torch.randn(3, size, size))  # fmt: skip
    with torch.no_grad():
        return analyze(from_torchvision(module.eval(), name), image)


def median_ms(action: Callable[[], None], repeats: int) -> float:
    action()  # warm up fonts and caches, which a running app already has
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(times)


def plain_picture(maps: np.ndarray, widget: QWidget) -> Callable[[], None]:
    """`maps` [..., h, w] tiled and blown up with numpy to the widget's size, painted."""
    size = widget.size()
    lut = imaging.colormap_lut()

    def draw() -> None:
        flat = maps.reshape(-1, *maps.shape[-2:])
        side = int(np.ceil(np.sqrt(len(flat))))
        tiles = np.zeros((side * side, *flat.shape[1:]), np.float32)
        tiles[: len(flat)] = flat
        mosaic = tiles.reshape(side, side, *flat.shape[1:]).transpose(0, 2, 1, 3)
        mosaic = mosaic.reshape(side * flat.shape[1], side * flat.shape[2])
        rgb = imaging.colorize(imaging.upsample_nearest(mosaic, size.height(), size.width()), lut)
        pixmap = QPixmap(size)
        painter = QPainter(pixmap)
        painter.drawImage(0, 0, imaging.rgb_to_qimage(rgb))
        painter.end()

    return draw


def plain_chart(data: np.ndarray, widget: QWidget, kind: str) -> Callable[[], None]:
    """A bare matplotlib figure of the widget's size with one imshow or plot of `data`."""
    dpi = 100
    figure = Figure(figsize=(widget.width() / dpi, widget.height() / dpi), dpi=dpi)
    canvas = FigureCanvasAgg(figure)
    axes = figure.add_subplot()

    def draw() -> None:
        axes.clear()
        if kind == "image":
            axes.imshow(data, aspect="auto")
        else:
            axes.plot(data.T, "o")
        canvas.draw()

    return draw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    # The offscreen platform warns about window size hints on every show; nothing to act on.
    qInstallMessageHandler(lambda _kind, _context, message: None)
    app = QApplication.instance() or QApplication([])
    torch.manual_seed(0)
    models = {
        "ViT-B/16": analysis_of(vit_b_16(), "vit_b_16"),
        "ViT-L/16": analysis_of(vit_l_16(), "vit_l_16"),
        "14 x 14 grid": analysis_of(VisionTransformer(224, 16, 2, 2, 64, 128), "g14"),
        "37 x 37 grid": analysis_of(VisionTransformer(518, 14, 2, 2, 64, 128), "g37"),
    }
    # (label, widget, our draw, the plain draw of the same numbers)
    cases: list[tuple[str, QWidget, Callable[[], None], Callable[[], None]]] = []
    for name in ("ViT-B/16", "ViT-L/16"):
        grid, analysis = AttentionGrid(), models[name]
        grid.resize(900, 600)
        cases.append((f"attention grid, {name}", grid,
                      lambda g=grid, a=analysis: (g.show_analysis(a), g.grab()),
                      plain_picture(analysis.cls_attention, grid)))  # fmt: skip
    distance, norms = MeanDistancePlot(), TokenNormMap()
    for chart in (distance, norms):
        chart.resize(700, 460)
    vit_b = models["ViT-B/16"]
    cases += [
        ("mean-distance chart, ViT-B/16", distance,
         lambda: (distance.show_analysis(vit_b), distance.canvas.draw()),
         plain_chart(vit_b.mean_attention_distance, distance, "points")),
        ("token-norm map, ViT-B/16", norms,
         lambda: (norms.show_analysis(vit_b), norms.canvas.draw()),
         plain_chart(vit_b.token_norms, norms, "image")),
        ("token-norm map, another layer", norms,
         lambda: (norms.set_layer(3), norms.canvas.draw()),
         plain_chart(vit_b.token_norms, norms, "image")),
    ]  # fmt: skip
    for name in ("14 x 14 grid", "37 x 37 grid"):
        mosaic, analysis = PosEmbedMosaic(), models[name]
        mosaic.resize(800, 760)
        cases.append((f"position mosaic, {name}", mosaic,
                      lambda m=mosaic, a=analysis: (m.show_analysis(a), m.grab()),
                      plain_picture(analysis.pos_similarity, mosaic)))  # fmt: skip

    print(f"median of {args.repeats} after a warm-up; baseline: the same numbers drawn plainly")
    print(f"{'view':40} {'ours':>9} {'baseline':>9} {'ratio':>7}   target")
    for label, widget, draw, plain_draw in cases:
        widget.show()
        app.processEvents()
        ours, plain = median_ms(draw, args.repeats), median_ms(plain_draw, args.repeats)
        verdict = "ok" if ours <= TARGET_MS else "OVER"
        print(f"{label:40} {ours:7.1f}ms {plain:7.1f}ms {ours / plain:6.1f}x   "
              f"<= {TARGET_MS:.0f} ms {verdict}")  # fmt: skip
        widget.hide()


if __name__ == "__main__":
    main()
