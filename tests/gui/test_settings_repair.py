"""A damaged settings file never stops the window nor changes what it shows quietly: the values
it cannot use start at their defaults, one line says which, and the rest are kept."""

from __future__ import annotations

from tests.gui.conftest import WAIT_MS, make_settings, open_window

DAMAGED = """[files]
last_folder=/home/someone/photos
recent_models=@Variant(\\0\\0\\0\\x7f\\0\\0\\0\\x13garbage)
[overlay]
opacity=banana
grid=maybe
kind=nonsense
[rollout]
start_layer=xx
[run]
device=tpu9
"""


def test_unusable_values_start_at_their_defaults_and_one_line_names_them(qtbot, tmp_path):
    file = tmp_path / "settings.ini"
    file.write_text(DAMAGED)
    settings = make_settings(file)
    window = open_window(qtbot, settings)
    try:
        assert window.split_view.pane.banner.text() == (
            "Reset the recent models, the device, the overlay opacity, the patch grid, the "
            f"overlay, the rollout settings to the defaults: {file} held values that could not "
            "be read"
        )
        # Read quietly, "banana" was an opacity of 0 (no map), "maybe" a grid that is on.
        assert window.image_view.opacity() == 0.6 and window.state.device == "auto"
        assert window.overlay_kind() == "rollout" and window.state.rollout.start_layer == 0
        assert settings.recent_models == []
        assert str(settings.last_folder) == "/home/someone/photos"  # a good value stays
    finally:
        window.close()
        assert window.shutdown()


def test_the_note_stays_while_a_model_loads_and_an_image_is_analysed(
    qtbot, tmp_path, model_file, images
):
    file = tmp_path / "settings.ini"
    file.write_text("[overlay]\nopacity=7\n[run]\ndevice=cpu\n")
    window = open_window(qtbot, make_settings(file))
    try:
        with qtbot.waitSignal(window.analysisReady, timeout=WAIT_MS):
            window.load_model(model_file)
            window.open_image(images[0])
        banner = window.split_view.pane.banner
        assert banner.text().startswith("Reset the overlay opacity to the defaults")
        assert banner.isVisible() and window.error_text() == ""
    finally:
        window.close()
        assert window.shutdown()


def test_a_file_that_cannot_be_parsed_is_kept_aside_and_every_setting_starts_fresh(
    qtbot, tmp_path
):
    file = tmp_path / "settings.ini"
    damaged = "[overlay\nopacity=0.3\n[run]\ndevice=cpu\n"  # a section header never closed
    file.write_text(damaged)
    window = open_window(qtbot, make_settings(file))
    try:
        assert window.split_view.pane.banner.text() == (
            f"The settings file {file} could not be read (kept as settings.ini.unreadable); "
            "started with the defaults"
        )
        assert (tmp_path / "settings.ini.unreadable").read_text() == damaged
        assert window.image_view.opacity() == 0.6 and window.state.device == "auto"
    finally:
        window.close()
        assert window.shutdown()


def test_a_sound_file_is_used_as_it_is_and_nothing_is_said(qtbot, tmp_path):
    file = tmp_path / "settings.ini"
    file.write_text("[overlay]\nopacity=0.3\ngrid=false\n[run]\ndevice=cpu\n")
    window = open_window(qtbot, make_settings(file))
    try:
        assert window.split_view.pane.banner.isHidden()
        assert window.image_view.opacity() == 0.3 and window.state.device == "cpu"
    finally:
        window.close()
        assert window.shutdown()
