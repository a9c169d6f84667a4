"""The command line's own parsing: NAME=VALUE options, the front-end kinds it offers, the --demo help."""

from __future__ import annotations

import pytest

from strfviewer.backend.errors import ConfigurationError
from strfviewer.backend.frontends import KINDS
from strfviewer.cli import _named_values, build_gui_parser, build_parser


def test_values_are_json_when_they_are_json_else_text():
    values = _named_values(["n=34", "f_max=null", "learn=true", "compression=pcen", "x=1.5", "s=\"q\"",
                            "deep=" + "[" * 100_000, "big=1" + "0" * 5000], "--frontend-arg")
    assert values["n"] == 34 and values["f_max"] is None and values["learn"] is True and values["x"] == 1.5
    assert values["compression"] == "pcen" and values["s"] == "q"
    assert values["deep"].startswith("[[[") and values["big"].startswith("10")  # not JSON Python can take: text


def test_a_value_without_a_name_is_refused():
    with pytest.raises(ConfigurationError, match="NAME=VALUE"):
        _named_values(["34"], "--frontend-arg")


def test_the_window_and_render_offer_every_kind():
    assert build_gui_parser().parse_args(["--frontend", KINDS[-1]]).frontend == [KINDS[-1]]
    args = build_parser().parse_args(["render", "--out", "x.png", *[a for k in KINDS for a in ("--frontend", k)]])
    assert args.frontend == list(KINDS)
    with pytest.raises(SystemExit):
        build_gui_parser().parse_args(["--frontend", "nosuch"])


def test_the_demo_help_says_it_opens_the_bundled_session():
    text = " ".join(build_gui_parser().format_help().split())
    assert "open the bundled demo session" in text
