"""The top-level help names every option of the explorer, which has no COMMAND of its own."""

from __future__ import annotations

import pytest

from vit_studio.cli import main


def test_the_top_level_help_lists_every_option_of_the_explorer(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    explorer = text[text.index("Without a COMMAND") :]
    for option in ("IMAGE", "--model PATH", "--device", "--window-size WxH", "--screenshot OUT.png",
                   "--view V", "--num-heads N"):  # fmt: skip
        assert option in explorer, option
    assert "vit-studio IMAGE --help" in explorer


@pytest.mark.parametrize(
    ("typed", "meant"),
    [("analyse", "analyze"), ("fine-tune", "finetune"), ("evalute", "evaluate"),
     ("model", "models")],
)  # fmt: skip
def test_a_mistyped_command_suggests_the_command_and_exits_2(typed, meant, capsys, monkeypatch):
    opened = []
    monkeypatch.setattr("vit_studio.cli.explore.run", opened.append)
    assert main([typed, "cat.jpg"]) == 2
    captured = capsys.readouterr()
    assert captured.err == (f"vit-studio: error: {typed!r} is not a command; did you mean "
                            f"`{meant}`? (vit-studio --help lists them)\n")  # fmt: skip
    assert captured.out == "" and opened == []


@pytest.mark.parametrize("first", ["cat.jpg", "photos/analyse", "models.png", "--split"])
def test_image_names_and_options_still_go_to_the_explorer(first, tmp_path, monkeypatch):
    # A missing image is the explorer's to report, even when its name is close to a command.
    opened = []
    monkeypatch.setattr("vit_studio.cli.explore.run", lambda argv: opened.append(argv) or 0)
    assert main([first]) == 0
    assert opened == [[first]]


def test_a_file_named_like_a_command_opens_in_the_explorer(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "analyse").mkdir()  # a folder of images called "analyse"
    opened = []
    monkeypatch.setattr("vit_studio.cli.explore.run", lambda argv: opened.append(argv) or 0)
    assert main(["analyse"]) == 0 and opened == [["analyse"]]
