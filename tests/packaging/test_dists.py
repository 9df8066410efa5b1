"""The wheel and sdist: what they carry, and that pipx installs working commands."""

from __future__ import annotations

import configparser
import os
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import memento_syncd
from tests.packaging.conftest import ROOT, Dists, run

pytestmark = pytest.mark.slow

# The service templates (systemd units, launchd plist) that `memento-syncd service`
# renders; the package reads them from memento_syncd/units/.
TEMPLATES = sorted(path.name for path in (ROOT / "service").iterdir() if path.is_file())


def test_templates_exist() -> None:
    """The checkout has the systemd and launchd templates that the packages must carry."""
    assert {
        "memento-syncd.service",
        "memento-syncd-server.service",
        "io.memento.syncd.plist",
    } <= set(TEMPLATES)


def test_wheel_carries_typing_marker_templates_and_commands(dists: Dists) -> None:
    """The wheel ships py.typed, every service template, both commands and the licence."""
    with zipfile.ZipFile(dists.wheel) as wheel:
        names = set(wheel.namelist())
        info = f"memento_syncd-{memento_syncd.__version__}.dist-info"
        entry_points = wheel.read(f"{info}/entry_points.txt").decode()
        metadata = wheel.read(f"{info}/METADATA").decode()
    assert "memento_syncd/py.typed" in names
    for template in TEMPLATES:
        assert f"memento_syncd/units/{template}" in names
    assert any(name.startswith(info) and name.endswith("/LICENSE") for name in names)
    scripts = configparser.ConfigParser()
    scripts.read_string(entry_points)
    assert dict(scripts["console_scripts"]) == {
        "memento": "memento_syncd.cli.memento:main",
        "memento-syncd": "memento_syncd.cli.syncd:main",
    }
    assert f"\nVersion: {memento_syncd.__version__}\n" in metadata
    assert not any("__pycache__" in name or name.startswith("tests/") for name in names)


def test_wheel_carries_the_compiled_speedups_and_their_stub(dists: Dists) -> None:
    """The wheel, built here with a C compiler, holds the compiled speed-ups and their
    type stub, and is tagged for this platform, not as pure Python."""
    with zipfile.ZipFile(dists.wheel) as wheel:
        names = set(wheel.namelist())
    assert "memento_syncd/core/_speedups.pyi" in names
    assert any(
        name.startswith("memento_syncd/core/_speedups.") and name.endswith((".so", ".pyd"))
        for name in names
    ), sorted(name for name in names if "speedups" in name)
    assert not dists.wheel.name.endswith("-none-any.whl")


def test_sdist_carries_docs_templates_and_packaging(dists: Dists) -> None:
    """The sdist has README, CHANGELOG, LICENSE, the templates, py.typed, the C sources and
    packaging/."""
    top = f"memento_syncd-{memento_syncd.__version__}"
    with tarfile.open(dists.sdist) as sdist:
        names = {name.removeprefix(f"{top}/") for name in sdist.getnames()}
    expected = {
        "README.md",
        "CHANGELOG.md",
        "LICENSE",
        "pyproject.toml",
        "PKG-INFO",
        "memento_syncd/py.typed",
        "setup.py",
        "memento_syncd/core/_speedups.c",
        "memento_syncd/core/_speedups.pyi",
        "memento_syncd/core/csrc/sort.h",
        "memento_syncd/core/csrc/wordkeys.h",
        "packaging/deb/build-deb.sh",
        "packaging/homebrew/memento-syncd.rb",
        "tests/conftest.py",
    }
    expected |= {f"service/{template}" for template in TEMPLATES}
    assert expected <= names, sorted(expected - names)
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in names)


def test_pipx_install_gives_both_commands(dists: Dists, tmp_path: Path) -> None:
    """``pipx install`` of the wheel (homes in tmp) exposes working memento and memento-syncd."""
    env = dict(os.environ)
    env.update(
        PIPX_HOME=str(tmp_path / "pipx"),
        PIPX_BIN_DIR=str(tmp_path / "bin"),
        PIPX_MAN_DIR=str(tmp_path / "man"),
        USE_EMOJI="0",
    )
    env.pop("VIRTUAL_ENV", None)
    done = run([sys.executable, "-m", "pipx", "install", str(dists.wheel)], env=env)
    assert "memento-syncd" in done.stdout
    bin_dir = tmp_path / "bin"
    # From a directory outside the checkout, so that the checkout is not on sys.path.
    version = run([str(bin_dir / "memento-syncd"), "--version"], env=env, cwd=tmp_path)
    assert version.stdout.strip() == f"memento-syncd {memento_syncd.__version__}"
    usage = run([str(bin_dir / "memento"), "--help"], env=env, cwd=tmp_path)
    assert usage.stdout.startswith("usage: memento")
    # The installed package is the wheel's, not this checkout.
    python = tmp_path / "pipx" / "venvs" / "memento-syncd" / "bin" / "python"
    where = run(
        [str(python), "-c", "import memento_syncd; print(memento_syncd.__file__)"], cwd=tmp_path
    )
    assert Path(where.stdout.strip()).is_relative_to(tmp_path)
