"""The second pane of the split view: another picture to set against the explorer's, with its own
state, its own controls and its own model in its own inference thread.

By default it shows what the explorer shows (the same model, the same image), so the two panes
differ only in what the user sets in each: layer 4 against layer 12, mean against max fusion,
the rollout against the class-specific one. Its header lets it take another model (a fine-tuned
one against its base, say) or another image; it then stops following the explorer in that
respect until "Same … as the left" is picked again. The device follows the explorer's.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from vit_studio.engine.model import HEADS_GIVEN
from vit_studio.gui import questions
from vit_studio.gui.dialogs import FileDialogs
from vit_studio.gui.drops import FileDropTarget, sort_dropped
from vit_studio.gui.image_pane import ImagePane
from vit_studio.gui.settings import Settings
from vit_studio.gui.state.explorer import ExplorerState
from vit_studio.gui.state.results import HeadCountRequest, ModelSummary
from vit_studio.gui.workers.inference import ANALYSIS, MODEL, InferenceClient

FOLLOW, OTHER = "follow", "other"  # the choosers' first and last entries
SAME_MODEL = "Same model as the left"
SAME_IMAGE = "Same image as the left"
CHOOSER_CHARACTERS = 12


class ComparePane(FileDropTarget, QWidget):
    """See the module. `leader` is the explorer's state; `dialogs` ask the user for files;
    `interactive` False: nobody answers the head-count question, so such a model fails.
    `errorShown(message)` when a failure is shown in the pane's banner."""

    errorShown = Signal(str)

    def __init__(
        self,
        leader: ExplorerState,
        settings: Settings,
        dialogs: FileDialogs,
        num_threads: int | None = None,
        interactive: bool = True,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._leader = leader
        self._settings = settings
        self._dialogs = dialogs
        self.interactive = interactive
        self.following_model = True
        self.following_image = True
        self.state = state = ExplorerState(
            device=leader.device, rollout=leader.rollout, overlay_kind=leader.overlay_kind
        )
        # Start from what the left shows, so the first difference is the one the user makes
        # (the selected patch comes over with the split view's patch link).
        state.layer, state.head = leader.layer, leader.head
        self._inference = InferenceClient(self, num_threads)
        self.pane = ImagePane(state, settings)

        self.model_choice = QComboBox()
        self.model_choice.setToolTip(
            "The model of this pane: the left pane's, or another one (a fine-tuned model "
            "against its base, say)"
        )
        self.image_choice = QComboBox()
        for combo in (self.model_choice, self.image_choice):
            # Short, whatever the file names: half a window has little room; the lists show all.
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            combo.setMinimumContentsLength(CHOOSER_CHARACTERS)
        self.image_choice.setToolTip("The image of this pane: the left pane's, or another one")
        header = QHBoxLayout()
        header.setContentsMargins(4, 4, 0, 0)
        header.addWidget(QLabel("Model"))
        header.addWidget(self.model_choice, 1)
        header.addWidget(QLabel("Image"))
        header.addWidget(self.image_choice, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(header)
        layout.addWidget(self.pane, 1)
        self._fill_model_choice()
        self._fill_image_choice()
        self.setAcceptDrops(True)  # a model or an image dropped here is shown here
        self._connect()
        self._follow_model()
        if leader.image_path is not None:
            self._open(leader.image_path)

    # --- the testable surface -------------------------------------------------------------------

    @property
    def image_view(self):
        return self.pane.image_view

    @property
    def controls(self):
        return self.pane.controls

    @property
    def busy(self) -> bool:
        return self._inference.busy

    def load_model(self, path: str | Path, num_heads: int | None = None) -> None:
        """Show `path`'s model in this pane, whatever the left shows."""
        self.following_model = False
        self.state.load_model(Path(path), num_heads)
        self._fill_model_choice()

    def follow_model(self) -> None:
        """Show the left pane's model again, and follow it."""
        self.following_model = True
        self._follow_model()
        self._fill_model_choice()

    def open_image(self, path: str | Path) -> None:
        """Show `path` in this pane, whatever the left shows."""
        self.following_image = False
        self._open(Path(path))
        self._fill_image_choice()

    def follow_image(self) -> None:
        """Show the left pane's image again, and follow it."""
        self.following_image = True
        if self._leader.image_path is not None:
            self._open(self._leader.image_path)
        self._fill_image_choice()

    def open_paths(self, paths: list[Path]) -> None:
        """What a drop on this pane does: a model or an image (the first) is shown here."""
        dropped = sort_dropped(paths)
        if dropped.model is not None:
            self.load_model(dropped.model)
        if dropped.images:
            self.open_image(dropped.images[0])
        elif dropped.model is None:
            self._show_error(
                dropped.problem or "Drop an image or a model here; a folder opens on the left."
            )

    def _show_error(self, message: str) -> None:
        self.pane.banner.show_error(message)
        self.errorShown.emit(message)

    def stop(self, timeout_ms: int) -> bool:
        return self._inference.stop(timeout_ms)

    # --- wiring ---------------------------------------------------------------------------------

    def _connect(self) -> None:
        state, inference, leader = self.state, self._inference, self._leader
        state.model_requested.connect(
            lambda path, heads: inference.load_model(path, state.device, heads)
        )
        state.move_requested.connect(inference.set_device)
        state.analysis_requested.connect(inference.analyze)
        state.model_changed.connect(lambda _summary: self._fill_model_choice())
        state.result_changed.connect(lambda _result: self.pane.banner.clear())
        inference.modelReady.connect(state.model_ready)
        inference.analysisReady.connect(state.analysis_ready)
        inference.headCountNeeded.connect(self._ask_head_count)
        inference.failed.connect(self._on_failed)
        leader.model_changed.connect(lambda _summary: self._follow_model())
        leader.image_changed.connect(self._leader_image)
        leader.device_changed.connect(self._leader_device)
        self.model_choice.activated.connect(self._model_chosen)
        self.image_choice.activated.connect(self._image_chosen)

    def _follow_model(self) -> None:
        """Load the left pane's model here, if following it and it is not the one here."""
        model = self._leader.model
        if not self.following_model or model is None or self._showing(model.path):
            return
        heads = model.arch.num_heads if model.heads_source == HEADS_GIVEN else None
        self.state.load_model(model.path, heads)

    def _showing(self, path: Path) -> bool:
        """Whether this pane has `path`'s model, or has asked for it."""
        state = self.state
        if state.model_pending:
            return state.requested_model == path
        return state.model is not None and state.model.path == path

    def _leader_image(self, path: Path) -> None:
        if self.following_image:
            self._open(path)

    def _leader_device(self, device: str) -> None:
        if device != self.state.device:
            self.state.set_device(device)

    def _open(self, path: Path) -> None:
        self.image_view.set_placeholder(f"Analysing {path.name}…")
        self.state.open_image(path)

    def _ask_head_count(self, request: HeadCountRequest) -> None:
        heads = questions.ask_head_count(self, request) if self.interactive else None
        if heads is None:
            self.state.model_failed()
            self._show_error(request.message)
        else:
            self.state.load_model(request.path, heads)

    def _on_failed(self, kind: str, message: str) -> None:
        if kind == MODEL:
            self.state.model_failed()
        elif kind == ANALYSIS:
            self.state.analysis_failed()
        self._show_error(message)

    # --- the header's choosers ------------------------------------------------------------------

    def _fill_model_choice(self) -> None:
        """The left's model, this pane's model, the recent ones, and another from a file."""
        combo = self.model_choice
        here = self.state.model
        shown = self.state.requested_model if self.state.model_pending else here and here.path
        with QSignalBlocker(combo):
            combo.clear()
            combo.addItem(SAME_MODEL, FOLLOW)
            for path in dict.fromkeys([*filter(None, [shown]), *self._settings.recent_models]):
                combo.addItem(_model_name(path, here), str(path))
                combo.setItemData(combo.count() - 1, str(path), _TOOLTIP)
            combo.addItem("Other model…", OTHER)
            combo.setCurrentIndex(
                0 if self.following_model or shown is None else combo.findData(str(shown))
            )

    def _fill_image_choice(self) -> None:
        combo = self.image_choice
        with QSignalBlocker(combo):
            combo.clear()
            combo.addItem(SAME_IMAGE, FOLLOW)
            path = self.state.image_path
            if not self.following_image and path is not None:
                combo.addItem(path.name, str(path))
                combo.setItemData(1, str(path), _TOOLTIP)
            combo.addItem("Other image…", OTHER)
            combo.setCurrentIndex(0 if self.following_image else 1)

    def _model_chosen(self, row: int) -> None:
        choice = self.model_choice.itemData(row)
        if choice == FOLLOW:
            self.follow_model()
        elif choice == OTHER:
            path = self._dialogs.model()
            if path is None:
                self._fill_model_choice()  # cancelled: show what is still shown
            else:
                self.load_model(path)
        else:
            self.load_model(Path(choice))

    def _image_chosen(self, row: int) -> None:
        choice = self.image_choice.itemData(row)
        if choice == FOLLOW:
            self.follow_image()
        elif choice == OTHER:
            path = self._dialogs.image()
            if path is None:
                self._fill_image_choice()
            else:
                self.open_image(path)


_TOOLTIP = Qt.ItemDataRole.ToolTipRole  # a listed file's full path


def _model_name(path: Path, shown: ModelSummary | None) -> str:
    """The model's own name once it is loaded here, else its file's."""
    return shown.name if shown is not None and shown.path == path else path.name
