"""The explorer's views, a tab each, kept in step with the `ExplorerState`: the charts. The
controls that change the picture sit beside it (`widgets.image_controls`).

The tab in front draws a new analysis at once; the others are marked stale and draw it when they
come to the front, so a new analysis costs only what is visible. The pages that draw with
matplotlib, and the fine-tune panel, are built when first shown (or asked for): the window opens
without importing matplotlib or the training pipeline. The views write what the user
chooses (a class, a head, a patch, a start layer) to the state, and follow what the state says.
A view that needs more room than a side panel gives (the fine-tune panel, the patch view, the
trust scores) scrolls in its tab.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QSignalBlocker
from PySide6.QtWidgets import QFrame, QScrollArea, QTabWidget, QWidget

from vit_studio.engine.analysis import Analysis
from vit_studio.engine.model import NO_CLASSIFIER
from vit_studio.gui import theme
from vit_studio.gui.state.explorer import VIEWS, ExplorerState
from vit_studio.gui.state.results import ImageResult
from vit_studio.gui.widgets.attention_grid import AttentionGrid
from vit_studio.gui.widgets.patch_view import PatchView
from vit_studio.gui.widgets.posembed_view import PosEmbedMosaic
from vit_studio.gui.widgets.predictions import PredictionsView
from vit_studio.gui.widgets.rollout_layers import RolloutLayers

if TYPE_CHECKING:
    from vit_studio.gui.finetune.panel import FinetunePanel
    from vit_studio.gui.widgets.logit_lens import LogitLensView
    from vit_studio.gui.widgets.plots import MeanDistancePlot, TokenNormMap
    from vit_studio.gui.widgets.trust_view import TrustView


def _distance_page() -> QWidget:
    from vit_studio.gui.widgets.plots import MeanDistancePlot

    return MeanDistancePlot()


def _norms_page() -> QWidget:
    from vit_studio.gui.widgets.plots import TokenNormMap

    return TokenNormMap()


def _lens_page() -> QWidget:
    from vit_studio.gui.widgets.logit_lens import LogitLensView

    return LogitLensView()


def _trust_page() -> QWidget:
    from vit_studio.gui.widgets.trust_view import TrustView

    return TrustView()


def _scrolled(page: QWidget) -> QScrollArea:
    """`page` in a scroll area, so its minimum size does not force the panel (and window) wider."""
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setWidget(page)
    return scroll


class FittedScroll(QScrollArea):
    """A page that fills the view while the view is at least its least size, and scrolls only
    below that. (A resizable QScrollArea gives a page with wrapping text its preferred height
    instead, so the fine-tune panel, whose pages scroll themselves, would scroll as a whole and
    put its run controls out of sight.)"""

    def __init__(self, page: QWidget) -> None:
        super().__init__()
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setWidget(page)
        page.installEventFilter(self)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit()

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.LayoutRequest:
            self._fit()
        return False

    def _fit(self) -> None:
        page = self.widget()
        least = page.minimumSizeHint().expandedTo(page.minimumSize())
        page.resize(self.viewport().size().expandedTo(least))


class ViewTabs(QTabWidget):
    """The views of `state`'s analysis, and the fine-tune panel, as tabs; see the module.

    `finetune` makes the fine-tune panel; it is called once, when the panel is first needed.
    """

    def __init__(
        self,
        state: ExplorerState,
        finetune: Callable[[], FinetunePanel],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setDocumentMode(True)
        self._state = state
        self.predictions = PredictionsView()
        self.attention = AttentionGrid()
        self.rollout = RolloutLayers()
        self.posembed = PosEmbedMosaic()
        self.patch = PatchView()
        pages = {
            "predictions": (self.predictions, "Predictions", "Top-5 class probabilities"),
            "attention": (self.attention, "Attention",
                          "Class-token attention of every layer and head; click one to overlay"),
            "rollout": (self.rollout, "Rollout",
                        "The rollout started at every layer; click one to start there"),
            "posembed": (self.posembed, "Positions",
                         "Cosine similarity of the learned position embeddings (ViT Figure 7)"),
            "patch": (self.patch, "Patch",
                      "Where the clicked patch attends, and its position-embedding similarity"),
            "distance": (_distance_page, "Distances",
                         "Mean attention distance per head against depth (ViT Figure 7)"),
            "norms": (_norms_page, "Norms", "Patch-token norms per layer"),
            "lens": (_lens_page, "Lens", "How the prediction forms with depth (logit lens)"),
            "trust": (_trust_page, "Trust",
                      "Which map to believe: every attribution method scored by perturbation"),
            "finetune": (finetune, "Fine-tune",
                         "Fine-tune the model on a folder of your own images and watch it learn"),
        }  # fmt: skip
        assert tuple(pages) == VIEWS
        self._pages: dict[str, QWidget] = {}
        self._tabs: dict[str, QWidget] = {}  # the page, its scroll area, or its holder
        self._factories: dict[str, Callable[[], QWidget]] = {}  # the pages not built yet
        self._when_built: dict[str, list[Callable[[QWidget], None]]] = {}
        for key, (page, title, tip) in pages.items():
            if isinstance(page, QWidget):
                tab = _scrolled(page) if page is self.patch else page
                self._pages[key] = page
            else:
                tab = QWidget()  # an empty stand-in until the page is built
                self._factories[key] = page
            self.setTabToolTip(self.addTab(tab, title), tip)
            self._tabs[key] = tab
        # How each view draws the analysis shown; run when it is (or comes) to the front.
        self._drawers: dict[QWidget, Callable[[Analysis], None]] = {
            self.predictions: lambda a: self.predictions.show_analysis(a, state.class_index),
            self.attention: self._draw_attention,
            self.rollout: lambda a: self.rollout.show_analysis(
                a, state.effective_rollout, state.class_index
            ),
            self.posembed: self._draw_posembed,
            self.patch: self._draw_patch,
        }
        # The same for the pages built later, by view.
        self._later_drawers: dict[str, Callable[[Analysis], None]] = {
            "distance": self._draw_distance,
            "norms": lambda a: self.norms.show_analysis(a),
            "lens": lambda a: self.lens.show_analysis(a),
        }
        self._stale: set[QWidget] = set()
        self._connect()

    # --- the pages built when needed --------------------------------------------------------------

    @property
    def distance(self) -> MeanDistancePlot:
        return self.page("distance")

    @property
    def norms(self) -> TokenNormMap:
        return self.page("norms")

    @property
    def lens(self) -> LogitLensView:
        return self.page("lens")

    @property
    def trust(self) -> TrustView:
        return self.page("trust")

    @property
    def finetune(self) -> FinetunePanel:
        return self.page("finetune")

    def page(self, view: str) -> QWidget:
        """The widget of `view` (one of `VIEWS`), built now if it was not yet."""
        if view not in self._pages:
            self._build(view)
        return self._pages[view]

    def is_built(self, view: str) -> bool:
        return view in self._pages

    def when_built(self, view: str, callback: Callable[[QWidget], None]) -> None:
        """Call `callback(page)` once `view`'s page exists: now, or when it is built."""
        if view in self._pages:
            callback(self._pages[view])
        else:
            self._when_built.setdefault(view, []).append(callback)

    def _build(self, view: str) -> None:
        # A chart takes matplotlib's defaults as it is made: the palette's colours first.
        theme.set_chart_defaults(self.palette())
        page = self._factories.pop(view)()
        wrap = {"trust": _scrolled, "finetune": FittedScroll}.get(view)
        tab = wrap(page) if wrap else page
        stand_in = self._tabs[view]
        index, current = self.indexOf(stand_in), self.currentIndex()
        title, tip = self.tabText(index), self.tabToolTip(index)
        with QSignalBlocker(self):  # the same tab, with its page in it now
            self.removeTab(index)
            self.insertTab(index, tab, title)
            self.setTabToolTip(index, tip)
            self.setCurrentIndex(current)
        stand_in.deleteLater()
        self._tabs[view], self._pages[view] = tab, page
        if view in self._later_drawers:
            self._drawers[page] = self._later_drawers[view]
            if self._state.result is not None:
                self._stale.add(page)
        if view == "trust" and self._state.result is not None:
            self._reset_trust(self._state.result)
        for callback in self._when_built.pop(view, []):
            callback(page)

    def _connect(self) -> None:
        state = self._state
        self.predictions.classChosen.connect(state.choose_class)
        self.attention.headSelected.connect(state.select_head)
        self.rollout.startLayerChosen.connect(
            lambda layer: state.set_rollout(replace(state.rollout, start_layer=layer))
        )
        self.posembed.patchSelected.connect(lambda patch: state.select_patch(patch, "posembed"))
        self.patch.patchClicked.connect(state.select_patch)
        self.patch.layerHeadChanged.connect(state.inspect_layer_head)
        self.currentChanged.connect(lambda _index: self._draw_current())
        state.result_changed.connect(self._on_result)
        state.layer_head_changed.connect(self._on_layer_head)
        state.patch_changed.connect(self._on_patch)
        state.class_changed.connect(self.predictions.set_chosen)
        state.class_changed.connect(lambda _index: self._redraw(self.rollout))
        state.rollout_changed.connect(lambda _settings: self._redraw(self.rollout))

    def show_view(self, view: str) -> None:
        """Bring one tab to the front: one of `VIEWS`."""
        self.setCurrentWidget(self._tabs[view])

    def current_view(self) -> str:
        return next(key for key, tab in self._tabs.items() if tab is self.currentWidget())

    def current_page(self) -> QWidget:
        """The view in front (inside its scroll area, if it has one), built if it was not."""
        return self.page(self.current_view())

    def is_fresh(self, page: QWidget) -> bool:
        """Whether `page` already shows the current analysis (stale views draw when shown)."""
        return self._state.result is not None and page not in self._stale

    # --- following the state --------------------------------------------------------------------

    def _on_result(self, result: ImageResult) -> None:
        self._stale = set(self._drawers)
        self._draw_current()
        if self.is_built("trust"):
            self._reset_trust(result)

    def _reset_trust(self, result: ImageResult) -> None:
        self.trust.clear()  # its scores were of the previous image or model
        self.trust.set_available(
            result.analysis.has_classifier,
            f"this model is {NO_CLASSIFIER}: nothing to explain",
            result.analysis.num_layers,
        )

    def _on_layer_head(self, layer: int, head: int) -> None:
        if self.is_fresh(self.patch):
            self.patch.set_layer_head(layer, head)
        if self.is_fresh(self.attention):
            self.attention.select(layer, head)
        if self.is_built("distance") and self.is_fresh(self.distance):
            self.distance.select(layer, head)

    def _on_patch(self, patch: int) -> None:
        self.posembed.highlight(patch)
        if self.is_fresh(self.patch):
            self.patch.set_patch(patch)
        if self.current_page() not in (self.posembed, self.patch):
            self.show_view("patch")

    # --- drawing --------------------------------------------------------------------------------

    def _redraw(self, page: QWidget) -> None:
        """What `page` shows changed: draw it now if it is in front, else when it comes."""
        if self._state.result is not None:
            self._stale.add(page)
            self._draw_current()

    def _draw_current(self) -> None:
        page = self.current_page()
        result = self._state.result
        if result is not None and page in self._stale:
            self._stale.discard(page)
            self._drawers[page](result.analysis)

    def _draw_attention(self, analysis: Analysis) -> None:
        self.attention.show_analysis(analysis)
        self.attention.select(self._state.layer, self._state.head)

    def _draw_patch(self, analysis: Analysis) -> None:
        self.patch.show_analysis(analysis, self._state.patch)
        self.patch.set_layer_head(self._state.layer, self._state.head)

    def _draw_posembed(self, analysis: Analysis) -> None:
        self.posembed.show_analysis(analysis)
        self.posembed.highlight(self._state.patch)

    def _draw_distance(self, analysis: Analysis) -> None:
        self.distance.show_analysis(analysis)
        self.distance.select(self._state.layer, self._state.head)
