"""The user's documentation agrees with the code: README.md and docs/config.sample.jsonc."""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from memento_syncd.cli import memento, syncd
from memento_syncd.core.config import SYNC_KEYS, SyncConfig, parse_config

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SAMPLE = ROOT / "docs" / "config.sample.jsonc"
# The README's one-liner that turns the sample into config.json.
STRIP_COMMAND = "grep -v '^[[:space:]]*//' docs/config.sample.jsonc > ~/.memento/config.json"
COMMENT_LINE = re.compile(r"^\s*//")
KEY_LINE = re.compile(r'^\s*"(?P<key>[^"]+)"\s*:')
DEFAULT_LINE = re.compile(r"^\s*//\s*default:\s*(?P<value>.+?)\s*$")
# Fenced blocks whose lines are commands; other blocks (text, json) hold sample output.
COMMAND_FENCES = frozenset({"sh", "shell", "bash", "console"})
PROGRAMS = ("memento-syncd", "memento")
# A program in command position: first in a line or span (after sudo, a shell operator
# or a directory), or run by absolute path; not an argument (`journalctl -u memento-syncd`)
# nor part of a file or unit name (`memento-syncd.service`).
MENTION = re.compile(
    r"(?:(?:^|&&|;|\|\||\$\()\s*(?:sudo\s+)?(?:\S*/)?|(?<=\s)/\S*/)"
    r"(?P<prog>memento-syncd|memento)(?=\s|$)"
)
SHELL_STOP = frozenset({"#", ";", "&&", "||", "|", ">", ">>", "2>&1", "\\"})


def sample_lines() -> list[str]:
    """The sample's lines."""
    return SAMPLE.read_text(encoding="utf-8").splitlines()


def stripped_sample() -> str:
    """The sample without its comment lines, as the README's one-liner makes it."""
    return "\n".join(line for line in sample_lines() if not COMMENT_LINE.match(line)) + "\n"


def sync_section_keys() -> dict[str, list[str]]:
    """Each key of the sample's ``sync`` section with the comment lines just above it."""
    found: dict[str, list[str]] = {}
    comments: list[str] = []
    depth = 0
    for line in sample_lines():
        if COMMENT_LINE.match(line):
            comments.append(line)
            continue
        match = KEY_LINE.match(line)
        if match and depth == 2:  # inside {"sync": {...}}
            found[match["key"]] = comments
        if line.strip():
            comments = []
        depth += line.count("{") - line.count("}")
    return found


def default_of(name: str) -> Any:
    """The default of a ``SyncConfig`` field, as plain JSON data."""
    value = getattr(SyncConfig(), name)
    return dict(value) if name == "projects" else value


def test_sample_strips_to_valid_config() -> None:
    """The sample without its comment lines is JSON that parse_config accepts, no key unknown."""
    text = stripped_sample()
    json.loads(text)
    config = parse_config(text, str(SAMPLE))
    assert config.unknown_keys == ()


def test_sample_has_whole_line_comments_only() -> None:
    """Every comment in the sample is a whole line, so the grep one-liner removes them all."""
    for number, line in enumerate(stripped_sample().splitlines(), 1):
        assert "//" not in line or "://" in line, f"line {number} keeps a comment: {line!r}"


def test_readme_gives_the_strip_command() -> None:
    """The README shows the one-liner that strips the comments, with the same pattern."""
    assert STRIP_COMMAND in README.read_text(encoding="utf-8")


def test_sample_has_every_sync_key() -> None:
    """Every key of SyncConfig is set in the sample's sync section, and no other."""
    assert set(sync_section_keys()) == set(SYNC_KEYS)


def test_sample_states_each_default() -> None:
    """Each key's comment has a 'default:' line equal to the SyncConfig default."""
    for key, comments in sync_section_keys().items():
        stated = [m["value"] for line in comments if (m := DEFAULT_LINE.match(line))]
        assert len(stated) == 1, f"{key}: want one '// default: VALUE' line"
        assert json.loads(stated[0]) == default_of(key), key


def test_sample_values_are_defaults_unless_examples() -> None:
    """A sample value equals its default unless its comment calls it an example value."""
    config = parse_config(stripped_sample(), str(SAMPLE))
    examples = []
    for key, comments in sync_section_keys().items():
        if any("Example value" in line for line in comments):
            examples.append(key)
            continue
        shown = getattr(config, key)
        shown = dict(shown) if key == "projects" else shown
        assert shown == default_of(key), key
    assert sorted(examples) == ["enabled", "projects", "server_url"]


def readme_table_keys() -> list[str]:
    """The keys in the first column of the README's config table."""
    keys = []
    for line in README.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\|\s*`(?P<key>[a-z_]+)`\s*\|", line)
        if match:
            keys.append(match["key"])
    return keys


def test_readme_config_table_matches_sync_config() -> None:
    """The README's config table has one row per SyncConfig key, none invented."""
    keys = readme_table_keys()
    assert sorted(keys) == sorted(SYNC_KEYS)
    assert len(keys) == len(set(keys))
    assert {f.name for f in fields(SyncConfig)} - set(keys) == {"unknown_keys"}


def test_readme_config_table_gives_defaults() -> None:
    """Each row's default column is the SyncConfig default, written as JSON."""
    for line in README.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\|\s*`(?P<key>[a-z_]+)`\s*\|[^|]*\|\s*`(?P<default>[^`]*)`\s*\|", line)
        if match:
            assert json.loads(match["default"]) == default_of(match["key"]), match["key"]


def command_texts(markdown: str) -> list[str]:
    """Text that holds commands: lines of shell code blocks and inline code spans.

    Blocks fenced as ``text`` or ``json`` hold sample output and messages, which name the
    programs in prose ("memento-syncd server listening on ..."), so they are left out.
    """
    texts: list[str] = []
    fence: str | None = None
    for line in markdown.splitlines():
        opening = re.match(r"^\s*```(?P<info>\S*)", line)
        if opening:
            fence = None if fence is not None else opening["info"] or "plain"
            continue
        if fence is not None:
            if fence in COMMAND_FENCES:
                texts.append(line.split(" # ")[0])
            continue
        texts.extend(re.findall(r"`([^`\n]+)`", line))
    return texts


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The subcommands of ``parser`` by name (empty when it has none)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def options(parser: argparse.ArgumentParser) -> set[str]:
    """Every option string ``parser`` accepts (``--json``, ``-h``, ...)."""
    return {name for action in parser._actions for name in action.option_strings}


def words_after(text: str, end: int) -> list[str]:
    """The words of the command that starts at ``end``, up to a shell operator or comment."""
    words = []
    for word in text[end:].split():
        if word in SHELL_STOP or word.startswith(("#", ">")):
            break
        words.append(word.strip("[]()'\"`,"))
    return words


def check_mention(parsers: dict[str, argparse.ArgumentParser], prog: str, words: list[str]) -> None:
    """Walk ``prog words...`` down the parsers: each subcommand and option must exist.

    A word that is not a plain lowercase name (a placeholder like ``ID`` or ``URL``, a
    value, ``<subcommand>``) ends the walk; ``a|b|c`` must all exist.
    """
    parser = parsers[prog]
    path = [prog]
    for word in words:
        if word.startswith("-"):
            name = word.split("=")[0]
            assert name in options(parser), f"{' '.join(path)}: no option {name}"
            continue
        commands = subparsers(parser)
        if not commands or not re.fullmatch(r"[a-z][a-z-]*(\|[a-z][a-z-]*)*", word):
            continue  # a value or a placeholder, not a subcommand
        names = word.split("|")
        for name in names:
            assert name in commands, f"{' '.join(path)}: no subcommand {name!r}"
        parser = commands[names[0]]
        path.append(names[0])


def readme_mentions() -> list[tuple[str, list[str]]]:
    """Every ``memento-syncd ...`` and ``memento ...`` command the README shows."""
    found = []
    for text in command_texts(README.read_text(encoding="utf-8")):
        for match in MENTION.finditer(text):
            found.append((match["prog"], words_after(text, match.end())))
    return found


def test_readme_commands_exist() -> None:
    """Every memento-syncd and memento command in the README's code exists, with its options."""
    parsers = {"memento-syncd": syncd.build_parser(), "memento": memento.build_parser()}
    mentions = readme_mentions()
    assert len(mentions) > 30  # the extraction works at all
    for prog, words in mentions:
        check_mention(parsers, prog, words)


@pytest.mark.parametrize(
    ("prog", "words"),
    [
        ("memento-syncd", ["frobnicate"]),
        ("memento-syncd", ["service", "install|reinstall"]),
        ("memento-syncd", ["status", "--yaml"]),
        ("memento", ["sync", "purge"]),
    ],
)
def test_command_check_catches_mistakes(prog: str, words: list[str]) -> None:
    """The command check fails on a subcommand or option that does not exist."""
    parsers = {"memento-syncd": syncd.build_parser(), "memento": memento.build_parser()}
    with pytest.raises(AssertionError):
        check_mention(parsers, prog, words)


def test_readme_names_every_command() -> None:
    """Every memento-syncd and memento subcommand is shown somewhere in the README."""
    firsts = {(prog, words[0]) for prog, words in readme_mentions() if words}
    parsers = {"memento-syncd": syncd.build_parser(), "memento": memento.build_parser()}
    for prog in PROGRAMS:
        for name in subparsers(parsers[prog]):
            assert any(prog == p and name in first.split("|") for p, first in firsts), (
                f"{prog} {name}"
            )
