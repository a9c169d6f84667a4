"""The command line's own parsing: the front-end kinds it offers, the --demo help."""

from __future__ import annotations

import pytest

from strfviewer.backend.frontends import KINDS
from strfviewer.cli import build_gui_parser, build_parser


def test_the_window_and_render_offer_every_kind():
    assert build_gui_parser().parse_args(["--frontend", KINDS[-1]]).frontend == [KINDS[-1]]
    args = build_parser().parse_args(["render", "--out", "x.png", *[a for k in KINDS for a in ("--frontend", k)]])
    assert args.frontend == list(KINDS)
    with pytest.raises(SystemExit):
        build_gui_parser().parse_args(["--frontend", "nosuch"])


def test_the_demo_help_says_it_opens_the_bundled_session():
    text = " ".join(build_gui_parser().format_help().split())
    assert "open the bundled demo session" in text
