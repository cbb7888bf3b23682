"""`ExplorerState`: what the explorer shows, what the user has chosen, and what it needs next.

It holds the loaded model, the image asked for and the analysis shown, the selected layer, head,
patch and class, the overlay kind, the rollout settings, the device and the class gradients
being computed. Every change is an event (psygnal signals, no Qt); what needs a worker is an
event too (`model_requested`, `move_requested`, `analysis_requested`), which the window passes
to the inference thread, whose results come back through `model_ready`, `analysis_ready` and the
`*_failed` methods. Every choice recomputes the overlay from the cached analysis, never the model,
except a class whose gradients are not cached yet: the state asks for them once.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from psygnal import Signal

from vit_studio.engine.analysis import TOP_K
from vit_studio.gui.state.overlay import CLASS_MAPS, MEAN_HEAD, OVERLAYS, Overlay, overlay_for
from vit_studio.gui.state.results import ImageResult, ModelSummary
from vit_studio.gui.state.rollout import RolloutSettings

# The explorer's views, in tab order; `vit-studio --view` brings any of them to the front.
VIEWS = (
    "predictions", "attention", "rollout", "posembed", "patch", "distance", "norms", "lens",
    "trust", "finetune",
)  # fmt: skip


class ExplorerState:
    """See the module. Layers, heads, patches and classes are 0-based; head `MEAN_HEAD` is the
    mean of heads, layer -1 the last layer of whichever model is shown."""

    # What is shown.
    model_changed = Signal(ModelSummary)  # loaded (or moved to another device)
    image_changed = Signal(Path)  # asked for; its analysis may still be on its way
    result_changed = Signal(ImageResult)  # a new analysis is shown, `overlay` already its own
    layer_head_changed = Signal(int, int)
    patch_changed = Signal(int)
    class_changed = Signal(int)
    rollout_changed = Signal(RolloutSettings)  # as in effect for the model shown
    overlay_kind_changed = Signal(str)
    overlay_changed = Signal(Overlay)  # what to paint over the analysis shown, now
    device_changed = Signal(str)
    # What the workers are asked for.
    model_requested = Signal(Path, object)  # load it onto `device`; head count (int) or None
    move_requested = Signal(str)  # move the model to this device
    # image, gradient classes, AttnLRP classes (each an int k for the top k, a tuple or None)
    analysis_requested = Signal(Path, object, object)

    def __init__(
        self,
        *,
        device: str = "auto",
        rollout: RolloutSettings | None = None,
        overlay_kind: str = "rollout",
    ) -> None:
        self.model: ModelSummary | None = None
        self.model_pending = False  # a model is being loaded or moved
        self.image_path: Path | None = None  # the image asked for
        self.result: ImageResult | None = None  # the analysis shown
        self.layer = -1
        self.head = MEAN_HEAD
        self.patch: int | None = None
        self.class_index: int | None = None
        self.rollout = rollout or RolloutSettings()  # as the user chose it, for any model
        self.overlay_kind = overlay_kind if overlay_kind in OVERLAYS else "rollout"
        self.device = device
        self.overlay: Overlay | None = None
        self._requested_model: Path | None = None
        self._device_before_switch: str | None = None
        self._gradients_pending: tuple[Path, int] | None = None

    @property
    def view_map(self):
        """The `[g, g]` map painted over the image (None: none, or gradients being computed)."""
        return None if self.overlay is None else self.overlay.grid_map

    @property
    def effective_rollout(self) -> RolloutSettings:
        """The rollout settings for the model shown (a start layer past its depth clipped;
        a backbone, with no class to explain, rolls out plain attention)."""
        if self.result is None:
            return self.rollout
        analysis = self.result.analysis
        settings = self.rollout.for_layers(analysis.num_layers)
        return settings if analysis.has_classifier else replace(settings, mode="plain")

    @property
    def requested_model(self) -> Path | None:
        """The model asked for last (loaded, or still on its way while `model_pending`)."""
        return self._requested_model

    @property
    def gradients_pending(self) -> bool:
        return self._gradients_pending is not None

    # --- asking for a model, an image, a device -----------------------------------------------

    def load_model(self, path: Path, num_heads: int | None = None) -> None:
        """Ask for the model at `path` (`num_heads`: the user's count, for a file that does not
        record it); the image is analysed again once it is ready."""
        self._requested_model = Path(path)
        self.model_pending = True
        self.model_requested.emit(Path(path), num_heads)

    def set_device(self, device: str) -> None:
        """Run on 'auto', 'cpu', 'cuda' or 'mps' from now on; the model moves there."""
        previous, self.device = self.device, device
        self.device_changed.emit(device)
        if self._requested_model is not None:
            self._device_before_switch = previous
            self.model_pending = True
            self.move_requested.emit(device)

    def open_image(self, path: Path) -> None:
        """Show and analyse the image at `path`."""
        self.image_path = Path(path)
        self.image_changed.emit(self.image_path)
        self._request_analysis()

    # --- choosing what to look at -------------------------------------------------------------

    def select_patch(self, patch: int, overlay: str = "patch") -> None:
        """Inspect one patch (row-major index): where it attends, or its position similarity."""
        self.patch = patch
        self.patch_changed.emit(patch)
        self.set_overlay_kind(overlay)

    def select_head(self, layer: int, head: int) -> None:
        """Overlay the class-token attention of one layer and head."""
        self._set_layer_head(layer, head)
        self.set_overlay_kind("attention")

    def inspect_layer_head(self, layer: int, head: int) -> None:
        """Look at one layer and head in the patch view: where the selected patch attends
        there (or, with no patch selected, where the class token does)."""
        self._set_layer_head(layer, head)
        self.set_overlay_kind("patch" if self.patch is not None else "attention")

    def choose_layer_head(self, layer: int, head: int) -> None:
        """Another layer and head for the map on the image: where the selected patch attends
        there while that is painted, else the class token's attention."""
        if self.overlay_kind == "patch":
            self.inspect_layer_head(layer, head)
        else:
            self.select_head(layer, head)

    def choose_class(self, index: int) -> None:
        """Explain one class: with the map shown if it explains a class (Grad-CAM, AttnLRP),
        else with the class-specific (gradient) rollout."""
        self.class_index = index
        self.class_changed.emit(index)
        if self.overlay_kind in CLASS_MAPS:
            self._refresh_overlay()
        elif self.rollout.mode != "gradient":
            self.set_rollout(replace(self.effective_rollout, mode="gradient"))
        else:
            self.set_overlay_kind("rollout")

    def set_rollout(self, settings: RolloutSettings) -> None:
        """New rollout settings; the rollout is painted with them."""
        self.rollout = settings
        self.rollout_changed.emit(self.effective_rollout)
        self.set_overlay_kind("rollout")

    def set_overlay_kind(self, kind: str) -> None:
        """Paint `kind` (a key of `OVERLAYS`) over the image."""
        if kind != self.overlay_kind:
            self.overlay_kind = kind
            self.overlay_kind_changed.emit(kind)
        self._refresh_overlay()

    # --- what the workers answer ----------------------------------------------------------------

    def model_ready(self, summary: ModelSummary) -> None:
        self.model = summary
        self.model_pending = False
        self._device_before_switch = None
        self.model_changed.emit(summary)
        self._request_analysis()

    def model_failed(self) -> None:
        """The model could not be loaded or moved; the worker kept the one it had."""
        self.model_pending = False
        if self._device_before_switch is not None:
            # The model stayed where it was, so the device choice goes back too.
            self.device, self._device_before_switch = self._device_before_switch, None
            self.device_changed.emit(self.device)
        # An image opened meanwhile is analysed with the model that stayed.
        if self.result is None or self.result.path != self.image_path:
            self._request_analysis()

    def analysis_ready(self, result: ImageResult) -> None:
        analysis = result.analysis
        same_image = self.result is not None and self.result.path == result.path
        self.result = result
        self._gradients_pending = None
        if not analysis.has_classifier:
            self.class_index = None
        elif not same_image or self.class_index not in range(len(analysis.class_names)):
            self.class_index = analysis.top_k(1)[0].index
        if self.patch is not None and self.patch >= analysis.grid_size**2:
            self.patch = None
        if not 0 <= self.layer < analysis.num_layers:
            self.layer = analysis.num_layers - 1
        if self.head >= analysis.num_heads:
            self.head = MEAN_HEAD
        self._refresh_overlay(announce=False)
        self.result_changed.emit(result)
        if self.overlay is not None and self.overlay.awaiting_gradients:
            self._request_gradients()

    def analysis_failed(self) -> None:
        """The image (or the gradients asked for) could not be analysed; the last analysis stays."""
        if self._gradients_pending is not None:
            # Keep showing what works: the plain rollout of the cached analysis.
            self._gradients_pending = None
            self.set_rollout(replace(self.effective_rollout, mode="plain"))
        self.image_path = self.result.path if self.result is not None else None

    def devices_found(self, devices: list[str]) -> None:
        """The devices this computer has; a remembered one it lacks falls back to auto."""
        if self.device not in devices:
            self.device = "auto"
            self.device_changed.emit(self.device)

    # --- inside ---------------------------------------------------------------------------------

    def _set_layer_head(self, layer: int, head: int) -> None:
        self.layer, self.head = layer, head
        self.layer_head_changed.emit(layer, head)

    def _request_analysis(self) -> None:
        if self.image_path is None or self.model is None or self.model_pending:
            return
        gradient = self.rollout.mode == "gradient" or self.overlay_kind == "gradcam"
        # A new image's class is its top one until the user picks another.
        attnlrp = 1 if self.overlay_kind == "attnlrp" else None
        self.analysis_requested.emit(self.image_path, TOP_K if gradient else None, attnlrp)

    def _refresh_overlay(self, announce: bool = True) -> None:
        """Compute the overlay of the choices; `announce` it, and ask for the gradients it
        needs (a new analysis announces itself, with its overlay, and asks after that)."""
        # A backbone has no class to choose, and needs none for any of its overlays.
        if self.result is None or (
            self.class_index is None and self.result.analysis.has_classifier
        ):
            self.overlay = None
            return
        overlay = overlay_for(
            self.result.analysis,
            self.overlay_kind,
            self.effective_rollout,
            layer=self.layer,
            head=self.head,
            patch=self.patch,
            class_index=self.class_index,
        )
        self.overlay = overlay
        if announce:
            self.overlay_changed.emit(overlay)
            if overlay.awaiting_gradients:
                self._request_gradients()

    def _request_gradients(self) -> None:
        """Analyse the shown image again with gradients for the chosen class and the top-k (and
        for AttnLRP, its pass for the chosen class and those already shown).

        The engine computes class gradients from the graph of a forward pass, so a class that
        was not cached costs one more forward pass plus its backward passes.
        """
        assert self.result is not None and self.class_index is not None
        wanted = (self.result.path, self.class_index)
        # An image still on its way brings top-k gradients with it; this request would cancel it.
        another_image = self.image_path != self.result.path
        if self._gradients_pending == wanted or self.model_pending or another_image:
            return
        self._gradients_pending = wanted
        analysis = self.result.analysis
        if self.overlay_kind == "attnlrp":
            gradients = tuple(sorted(analysis.class_relevance))
            attnlrp = tuple(sorted(set(analysis.attnlrp) | {self.class_index}))
        else:
            classes = {p.index for p in analysis.top_k(TOP_K)} | set(analysis.class_relevance)
            gradients, attnlrp = tuple(sorted(classes | {self.class_index})), None
        self.analysis_requested.emit(self.result.path, gradients, attnlrp)
