"""Every command and option of the CLI says what it does; defaults are shown (ArgumentDefaultsHelpFormatter)."""

from __future__ import annotations

import argparse

from pipeline.cli import parser


def _subparsers(p: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_every_command_and_option_has_help_text() -> None:
    # Subcommand --help once listed options with no description, default or unit.
    top = parser()
    commands = _subparsers(top)
    assert len(commands) >= 12
    for name, sub in commands.items():
        assert sub.description, name
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help and action.help.strip(), f"pipeline {name} {action.dest}: no help text"
        assert isinstance(sub.formatter_class, type) and issubclass(
            sub.formatter_class, argparse.ArgumentDefaultsHelpFormatter
        )


def test_help_shows_defaults_with_their_units() -> None:
    text = _subparsers(parser())["upload"].format_help()
    assert "seconds --wait waits at most (default: 120)" in " ".join(text.split())


def test_status_watch_says_settled_only_when_both_queues_are_empty() -> None:
    # `status --watch` once showed 91/91 and an empty queue while 6 AVIF variants were still to come.
    from pipeline.cli import _watch_lines
    from pipeline.settings import Settings

    settings = Settings.from_env({"AWS_ENDPOINT_URL": "http://127.0.0.1:4566"})
    counts = {"processed": 91, "failed": 0, "processing": 0, "deleted": 0}
    idle = {"visible": 0, "in_flight": 0, "delayed": 0}
    busy = {"visible": 2, "in_flight": 4, "delayed": 0}
    coming = _watch_lines(settings, counts, {"jobs": idle, "variants": busy}, idle)
    assert "variants  waiting      2  in flight      4" in coming
    assert coming[4].endswith("91/91  variants still coming")
    done = _watch_lines(settings, counts, {"jobs": idle, "variants": idle}, idle)
    assert done[4].endswith("91/91  settled")
    moving = _watch_lines(settings, {**counts, "processing": 3}, {"jobs": busy, "variants": idle}, idle)
    assert not moving[4].endswith(("settled", "coming"))
