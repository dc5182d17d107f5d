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
