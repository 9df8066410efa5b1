"""The Homebrew formula: its structure, and resources that match pyproject.toml.

Homebrew itself is not run here (it needs macOS or Linuxbrew and network). The formula
is checked as text, its resources against pyproject.toml and the dependency tree
installed in this environment, and its Ruby syntax with ``ruby -c`` (``make test``
installs ruby when it can; CI fails rather than skips without it).
"""

from __future__ import annotations

import os
import re
import shutil
import tomllib
from importlib import metadata

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.packaging.conftest import ROOT, run

FORMULA = ROOT / "packaging" / "homebrew" / "memento-syncd.rb"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
RESOURCE = re.compile(
    r'^  resource "(?P<name>[^"]+)" do\n'
    r'    url "(?P<url>https://files\.pythonhosted\.org/packages/[^"]+)"\n'
    r'    sha256 "(?P<sha256>[0-9a-f]{64})"\n'
    r"  end\n",
    re.M,
)


def formula() -> str:
    """The formula's text."""
    return FORMULA.read_text()


def resources() -> dict[str, str]:
    """Resource name -> version, the version read from the sdist's file name."""
    found: dict[str, str] = {}
    for match in RESOURCE.finditer(formula()):
        filename = match["url"].rsplit("/", 1)[1].removesuffix(".tar.gz").removesuffix(".zip")
        dist, _, version = filename.rpartition("-")
        assert canonicalize_name(dist) == match["name"], match["url"]
        found[match["name"]] = version
    return found


def brewed() -> set[str]:
    """Dependencies the formula takes from Homebrew formulae (``depends_on``), not resources."""
    found = set(re.findall(r'^  depends_on "([^"@]+)"$', formula(), re.M))
    return {canonicalize_name(name) for name in found}


def runtime_closure() -> set[str]:
    """Every distribution the runtime dependencies pull in, as installed here."""
    seen: set[str] = set()
    todo = [Requirement(spec) for spec in PROJECT["dependencies"]]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        for spec in metadata.requires(name) or []:
            child = Requirement(spec)
            if child.marker is None or child.marker.evaluate({"extra": ""}):
                todo.append(child)
    return seen


def test_formula_declares_virtualenv_install() -> None:
    """The formula is a virtualenv install on python@3.11 from the sdist, MIT, with a test."""
    text = formula()
    version = PROJECT["version"]
    assert "class MementoSyncd < Formula\n  include Language::Python::Virtualenv\n" in text
    assert 'depends_on "python@3.11"' in text
    assert f'memento-syncd/memento_syncd-{version}.tar.gz"' in text
    assert re.search(
        r'^  sha256 "([0-9a-f]{64}|REPLACE_WITH_SHA256_OF_THE_RELEASED_SDIST)"$', text, re.M
    )
    assert "update_formula.py --sdist" in text  # how to fill in the sha256 is documented
    assert 'license "MIT"' in text
    assert "  def install\n    virtualenv_install_with_resources\n  end\n" in text
    assert re.search(r'  test do\n.*"#\{bin\}/memento-syncd --version"', text, re.S)


def test_formula_service_block() -> None:
    """`brew services` runs `memento-syncd run` kept alive, with MEMENTO_HOME and a log file."""
    match = re.search(r"^  service do\n(?P<body>.*?)^  end\n", formula(), re.M | re.S)
    assert match is not None
    body = match["body"]
    assert 'run [opt_bin/"memento-syncd", "run"]' in body
    assert "keep_alive true" in body
    assert re.search(r'environment_variables MEMENTO_HOME: "#\{Dir\.home\}/\.memento"', body)
    assert 'log_path var/"log/memento-syncd.log"' in body
    assert 'error_log_path var/"log/memento-syncd.log"' in body


def test_resources_satisfy_pyproject() -> None:
    """Each runtime dependency has a resource whose version its pyproject specifier allows."""
    found = resources()
    for spec in PROJECT["dependencies"]:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        if name in brewed():
            continue
        assert name in found, f"{name} has no resource: run packaging/homebrew/update_formula.py"
        assert requirement.specifier.contains(found[name]), (name, found[name], spec)


def test_resources_cover_the_dependency_tree() -> None:
    """The resources and brewed formulae are exactly the runtime dependencies and what they
    pull in, with nothing twice."""
    assert set(resources()) | brewed() == runtime_closure()
    assert not set(resources()) & brewed()
    assert formula().count('  resource "') == len(resources())  # none malformed


def test_formula_is_valid_ruby() -> None:
    """``ruby -c`` accepts the formula."""
    if shutil.which("ruby") is None:
        if os.environ.get("MEMENTO_SYNCD_CI"):  # .ci/run: `make test` installs it, so a gap
            pytest.fail("ruby is not installed: `make test-tools` installs it (as root)")
        pytest.skip("ruby is not installed (`make test-tools` as root, or apt-get install ruby)")
    assert run(["ruby", "-c", str(FORMULA)]).stdout.strip() == "Syntax OK"
