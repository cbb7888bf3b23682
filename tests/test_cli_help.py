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
