"""Regenerate packaging/homebrew/memento-syncd.rb from pyproject.toml and PyPI.

The formula installs memento-syncd into a virtualenv with
``virtualenv_install_with_resources``: every runtime dependency, direct or not, needs a
``resource`` block with the URL and sha256 of its sdist (Homebrew builds from source).
This script resolves the dependency set with pip (for Python 3.11, the formula's
``python@3.11``), reads each sdist's URL and sha256 from PyPI's simple JSON API
(PEP 691), and writes the formula. Homebrew's own
``brew update-python-resources memento-syncd`` does the same on a Mac; this script works
wherever pip reaches PyPI.

Usage, from the repository root, with Python 3.11:

    python packaging/homebrew/update_formula.py
    python packaging/homebrew/update_formula.py --sdist dist/memento_syncd-0.1.0.tar.gz

Without ``--sdist`` the formula's own ``sha256`` is a placeholder that is not a sha256,
so the formula cannot install until it is replaced (on purpose: no accidental release).
At release, after uploading the sdist to PyPI, run it again with ``--sdist`` pointing at
the very file that was uploaded.

Platform markers are evaluated for the machine running the script; none of the current
dependencies has a macOS-only or Linux-only requirement.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tempfile
import tomllib
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FORMULA = ROOT / "packaging" / "homebrew" / "memento-syncd.rb"
PYTHON_FORMULA = "python@3.11"
PYTHON_VERSION = (3, 11)
SHA256_PLACEHOLDER = "REPLACE_WITH_SHA256_OF_THE_RELEASED_SDIST"
# Distributions Homebrew provides as formulae of its own: a `depends_on`, not a resource
# (numpy is built there against Homebrew's BLAS, and `brew audit` asks for the formula).
BREWED = {"numpy": "numpy"}
SDIST_URL = (
    "https://files.pythonhosted.org/packages/source/m/memento-syncd/memento_syncd-{version}.tar.gz"
)


def normalize(name: str) -> str:
    """A distribution name as PyPI and Homebrew spell it (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def resolve(requirements: list[str]) -> list[tuple[str, str]]:
    """The (name, version) of every distribution pip installs for the requirements."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed"]
        command += ["--quiet", "--report", str(report), *requirements]
        # Our own interpreter running pip with requirements from our pyproject.toml.
        subprocess.run(command, check=True)  # noqa: S603
        data: dict[str, Any] = json.loads(report.read_text())
    found = {
        normalize(item["metadata"]["name"]): item["metadata"]["version"] for item in data["install"]
    }
    return sorted(found.items())


def pypi_sdist(name: str, version: str) -> tuple[str, str]:
    """The URL and sha256 of the sdist of ``name==version`` on PyPI (simple JSON API)."""
    request = urllib.request.Request(
        f"https://pypi.org/simple/{name}/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    )
    # A fixed https URL on pypi.org, not user input.
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        index: dict[str, Any] = json.load(response)
    for file in index["files"]:
        filename: str = file["filename"]
        stem = filename.removesuffix(".tar.gz").removesuffix(".zip")
        if stem == filename or "-" not in stem:
            continue  # a wheel or something else that is not an sdist
        dist, _, file_version = stem.rpartition("-")
        if normalize(dist) == name and file_version == version and not file.get("yanked"):
            return str(file["url"]), str(file["hashes"]["sha256"])
    raise SystemExit(f"{name} {version} has no sdist on PyPI; Homebrew needs one")


def render(project: dict[str, Any], sha256: str, resources: list[tuple[str, str, str]]) -> str:
    """The formula's text."""
    version = project["version"]
    blocks = "".join(
        f'  resource "{name}" do\n    url "{url}"\n    sha256 "{digest}"\n  end\n\n'
        for name, url, digest in resources
    )
    brewed = "".join(f'  depends_on "{formula}"\n' for formula in sorted(BREWED.values()))
    return f"""# Homebrew formula for memento-syncd, generated from pyproject.toml and PyPI by
# packaging/homebrew/update_formula.py: edit that script, not this file, and run it again
# when a dependency changes (tests/packaging checks the resources against pyproject.toml).
#
# RELEASE: `sha256` below is a placeholder until the sdist is on PyPI; then run
#   python packaging/homebrew/update_formula.py --sdist dist/memento_syncd-{version}.tar.gz
# with the file that was uploaded, and commit the result to the tap.
class MementoSyncd < Formula
  include Language::Python::Virtualenv

  desc "{project["description"]}"
  homepage "https://pypi.org/project/memento-syncd/"
  url "{SDIST_URL.format(version=version)}"
  sha256 "{sha256}"
  license "{project["license"]["text"]}"

  depends_on "{PYTHON_FORMULA}"
{brewed}
{blocks}  def install
    virtualenv_install_with_resources
  end

  # `brew services start memento-syncd` runs the sync daemon as a launchd agent of the
  # user (`memento-syncd service install` is the alternative without Homebrew).
  service do
    run [opt_bin/"memento-syncd", "run"]
    keep_alive true
    environment_variables MEMENTO_HOME: "#{{Dir.home}}/.memento", PYTHONUNBUFFERED: "1"
    log_path var/"log/memento-syncd.log"
    error_log_path var/"log/memento-syncd.log"
  end

  test do
    assert_match "memento-syncd #{{version}}", shell_output("#{{bin}}/memento-syncd --version")
    assert_match "usage: memento", shell_output("#{{bin}}/memento --help")
  end
end
"""


def main() -> int:
    """Write the formula; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sdist", type=Path, help="the released sdist, for the sha256")
    parser.add_argument("--output", type=Path, default=FORMULA, help="where to write")
    args = parser.parse_args()
    if sys.version_info[:2] != PYTHON_VERSION:
        raise SystemExit(
            f"run this with Python {PYTHON_VERSION[0]}.{PYTHON_VERSION[1]}, the formula's "
            f"{PYTHON_FORMULA}: dependency markers depend on the Python version"
        )
    project: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    sha256 = SHA256_PLACEHOLDER
    if args.sdist is not None:
        sha256 = hashlib.sha256(args.sdist.read_bytes()).hexdigest()
    pinned = [(n, v) for n, v in resolve(list(project["dependencies"])) if n not in BREWED]
    resources = [(name, *pypi_sdist(name, version)) for name, version in pinned]
    args.output.write_text(render(project, sha256, resources))
    print(f"wrote {args.output} with {len(resources)} resources")
    return 0


if __name__ == "__main__":
    sys.exit(main())
