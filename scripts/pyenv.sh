#!/usr/bin/env bash
# Create .venv with the Python packages the query tests need (DuckDB, pyarrow, pandas,
# pytest). Idempotent. Works on a fresh Debian machine that has only python3: it falls back
# to bootstrapping pip, and to installing python3-venv with apt when running as root.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
req=tests/python/requirements.txt
stamp=$venv/.installed-$(sha256sum "$req" | cut -c1-16)
[ -f "$stamp" ] && exit 0

if ! python3 -m venv "$venv" 2>/dev/null; then
    rm -rf "$venv"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "pyenv: python3 -m venv is unavailable; installing python3-venv with apt" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv "$venv"
    else
        echo "pyenv: cannot create a virtualenv (install python3-venv: apt-get install python3-venv)" >&2
        exit 1
    fi
fi
if ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
    "$venv/bin/python" -m ensurepip --upgrade >/dev/null
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
touch "$stamp"
