#!/usr/bin/env bash
# Build dist/memento-syncd_<version>_<arch>.deb: a self-contained virtualenv under
# /opt/memento-syncd on the system's python3, the two commands linked into /usr/bin,
# and the systemd units rendered from service/.
#
# Usage: packaging/deb/build-deb.sh [--wheel FILE] [--out DIR]
#   --wheel FILE  install this memento_syncd wheel (default: build one from the checkout)
#   --out DIR     where the .deb goes (default: dist/)
# Environment:
#   PYTHON          the interpreter the package runs on (default /usr/bin/python3); it
#                   must be the distribution's own python3, because the package depends
#                   on Debian's python3 and the venv points at /usr/bin.
#   DEB_MAINTAINER  the Maintainer field (default: a placeholder address).
#   PIP_*           the usual pip settings (index, find-links, ...) for the dependencies.
#
# Why the venv is built at a staging root and then rewritten:
# A virtualenv is not relocatable in general, but only a few things in it hold absolute
# paths, and none of them points into the venv from the interpreter's side:
#   - bin/python* are symlinks to /usr/bin/python3, the same path on the target;
#   - pyvenv.cfg's `home = /usr/bin` is the same on the target; Python finds the venv
#     (sys.prefix, site-packages) from where pyvenv.cfg sits next to bin/, so the tree
#     works wherever it is unpacked;
#   - what does hold the venv's own path: the console scripts' `#!` lines, the activate
#     scripts' VIRTUAL_ENV, and pyvenv.cfg's informational `command =` line.
# So the venv is created with `python3 -m venv` at <staging>/opt/memento-syncd, the
# packages are installed with that venv's pip (--no-compile: no .pyc holding staging
# paths), and then every occurrence of <staging> is deleted from those text files, which
# turns <staging>/opt/memento-syncd into /opt/memento-syncd. The build then fails if the
# staging path is still anywhere in the tree, so a file we did not think of cannot ship
# a wrong path. (The alternative, `pip install --prefix` into a tree, would write the
# same staging-path shebangs, and building at the real /opt needs root and dirties the
# build machine.)
#
# The .deb ships no .pyc: postinst byte-compiles the venv with the installed interpreter
# and prerm deletes the caches again, as Debian's py3compile/py3clean do for python3-*
# packages.
set -euo pipefail

readonly PREFIX=/opt/memento-syncd
readonly PACKAGE=memento-syncd

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
python=${PYTHON:-/usr/bin/python3}
maintainer=${DEB_MAINTAINER:-"memento-syncd developers <maintainers@memento-syncd.invalid>"}
wheel=""
out="$root/dist"

die() {
    printf 'build-deb.sh: %s\n' "$*" >&2
    exit 1
}

while [ $# -gt 0 ]; do
    case "$1" in
        --wheel)
            [ $# -ge 2 ] || die "--wheel needs a file"
            wheel=$(realpath "$2")
            shift 2
            ;;
        --out)
            [ $# -ge 2 ] || die "--out needs a directory"
            out=$2
            shift 2
            ;;
        -h | --help)
            sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            die "unknown argument '$1' (see --help)"
            ;;
    esac
done

for tool in dpkg-deb dpkg realpath; do
    command -v "$tool" >/dev/null || die "$tool not found: run this on Debian or Ubuntu (apt-get install dpkg coreutils)"
done
[ -x "$python" ] || die "$python not found: install python3 and python3-venv, or set PYTHON"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    die "$python is older than 3.11; memento-syncd needs Python 3.11 or newer"
[ "$("$python" -c 'import sys; print(sys.base_prefix)')" = /usr ] ||
    die "$python is not the system python (its prefix is not /usr): the package would point at a path that the target does not have; set PYTHON=/usr/bin/python3"
"$python" -c 'import ensurepip, venv' 2>/dev/null ||
    die "$python cannot create virtualenvs: apt-get install python3-venv"
for unit in memento-syncd.service memento-syncd-server.service; do
    [ -f "$root/service/$unit" ] || die "service/$unit is missing"
done

umask 022
work=$(mktemp -d "${TMPDIR:-/tmp}/memento-syncd-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
stage="$work/root"
venv="$stage$PREFIX"

# 1. The virtualenv at the staging root, with pip only long enough to install.
"$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check --no-input)
if [ -z "$wheel" ]; then
    "${pip[@]}" wheel --quiet --no-deps --wheel-dir "$work/wheel" "$root"
    wheel=$(find "$work/wheel" -name 'memento_syncd-*.whl' | head -n 1)
    [ -n "$wheel" ] || die "pip wheel produced no memento_syncd wheel"
fi
[ -f "$wheel" ] || die "wheel $wheel not found"
"${pip[@]}" install --quiet --no-compile --no-warn-script-location "$wheel"
"${pip[@]}" uninstall --quiet --yes pip setuptools

# 2. Relocate: drop the staging root from the files that hold the venv's path.
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
# direct_url.json records where the wheel came from on the build machine: not ours to ship.
find "$site" -path '*.dist-info/direct_url.json' -delete
find "$site" -path '*.dist-info/RECORD' -exec sed -i '/\.dist-info\/direct_url\.json,/d' {} +
find "$venv" -name __pycache__ -prune -exec rm -rf {} +
# The staging path as a sed pattern: its regex characters and the `/` delimiter escaped.
stage_re=$(printf '%s' "$stage" | sed 's/[]\/$*.^[]/\\&/g')
grep -rlIF -- "$stage" "$venv" | while IFS= read -r file; do
    sed -i "s/$stage_re//g" "$file"
done
if leaked=$(grep -rlF -- "$stage" "$stage"); then
    die "the staging path is still in: $leaked"
fi
for link in "$venv"/bin/python*; do
    target=$(readlink "$link")
    case "$target" in
        /usr/bin/* | python*) ;;
        *) die "$link points to $target, which the target system does not have" ;;
    esac
done

# 3. Commands, units, documentation.
mkdir -p "$stage/usr/bin"
for command in memento memento-syncd; do
    [ -x "$venv/bin/$command" ] || die "the wheel did not install the $command command"
    head -n 1 "$venv/bin/$command" | grep -qx "#!$PREFIX/bin/python" ||
        die "$command has the wrong #! line: $(head -n 1 "$venv/bin/$command")"
    ln -s "$PREFIX/bin/$command" "$stage/usr/bin/$command"
done
render() { # template destination [sed expression...]
    local template=$1 destination=$2
    shift 2
    mkdir -p "$(dirname "$destination")"
    sed "$@" "$template" >"$destination"
    if grep -n '@[A-Z_][A-Z_]*@' "$destination"; then
        die "$template has placeholders that build-deb.sh does not fill"
    fi
}
render "$root/service/memento-syncd.service" \
    "$stage/usr/lib/systemd/user/memento-syncd.service" \
    -e 's|@EXECUTABLE@|/usr/bin/memento-syncd|g' -e 's|@MEMENTO_HOME@|%h/.memento|g'
render "$root/service/memento-syncd-server.service" \
    "$stage/usr/lib/systemd/system/memento-syncd-server.service" \
    -e 's|@EXECUTABLE@|/usr/bin/memento-syncd|g'
doc="$stage/usr/share/doc/$PACKAGE"
mkdir -p "$doc"
cp "$here/README.Debian" "$doc/README.Debian"
{
    printf 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n'
    printf 'Upstream-Name: memento-syncd\n\nFiles: *\nCopyright: 2026 memento-syncd developers\n'
    printf 'License: MIT\n'
    sed -e 's/^$/./' -e 's/^/ /' "$root/LICENSE"
    printf '\nFiles: opt/memento-syncd/lib/*\n'
    printf 'Copyright: the authors of each bundled Python distribution\n'
    printf 'License: various\n See the licence files in each *.dist-info directory.\n'
} >"$doc/copyright"

# 4. Package metadata and maintainer scripts.
version=$("$venv/bin/python" - "$wheel" <<'PY'
import sys
import zipfile
from email.parser import HeaderParser

with zipfile.ZipFile(sys.argv[1]) as whl:
    name = next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
    print(HeaderParser().parsestr(whl.read(name).decode())["Version"])
PY
)
# PEP 440 pre-releases sort before the release; in Debian that needs `~` (0.2.0~rc1).
deb_version=$(printf '%s' "$version" | sed -E 's/^([0-9.]+)\.?(a|b|rc|dev)/\1~\2/')
arch=$(dpkg --print-architecture)
py_minor=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
py_next=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1] + 1}")')
installed_size=$(du -sk --apparent-size "$stage" | cut -f1)
mkdir -p "$stage/DEBIAN"
# Depends: the venv lives in lib/python<minor>/ and holds C extensions (aiohttp, yarl,
# multidict, ...) built for that minor version, so it runs only on the same python3
# minor version it was built with: an upper bound as well as the lower one.
cat >"$stage/DEBIAN/control" <<CONTROL
Package: $PACKAGE
Version: $deb_version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $installed_size
Depends: python3 (>= $py_minor), python3 (<< $py_next)
Suggests: systemd
Section: net
Priority: optional
Description: sync daemon and cloud sync server for Memento
 memento-syncd keeps the memories of Memento, the AI-agent memory store, in sync
 across devices: a background daemon pushes local changes and pulls remote ones,
 and the same package runs the cloud sync server.
 .
 The package bundles its Python dependencies in a virtualenv under
 /opt/memento-syncd. Enable the per-user daemon with
 'systemctl --user enable --now memento-syncd'.
CONTROL
for script in postinst prerm postrm; do
    install -m 0755 "$here/$script" "$stage/DEBIAN/$script"
done

# 5. The archive: files owned by root, modes as on the staging tree.
mkdir -p "$out"
deb="$out/${PACKAGE}_${deb_version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$stage" "$deb" >/dev/null
printf '%s\n' "$deb"
