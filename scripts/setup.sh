#!/usr/bin/env bash
# Set up groundswell in ./.venv from the project's own files.
#   scripts/setup.sh          the application (demo, CLI, review UI)
#   scripts/setup.sh --test   also the test tools and the Debian packages the tests use
# Safe to run again: it skips work that is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1
python=${PYTHON:-python3}

if [ "$want_test" = 1 ]; then
    # Debian packages for the browser tests (headless Chromium + driver) and PostgreSQL tests.
    need=()
    command -v chromium >/dev/null 2>&1 || need+=(chromium)
    command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
    if [ ${#need[@]} -gt 0 ]; then
        if [ "$(id -u)" = 0 ]; then apt_get=(apt-get); elif command -v sudo >/dev/null; then apt_get=(sudo apt-get); else apt_get=(); fi
        if [ ${#apt_get[@]} -gt 0 ]; then
            echo "setup: installing Debian packages: ${need[*]}"
            "${apt_get[@]}" update -qq
            DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y -qq --no-install-recommends "${need[@]}" >/dev/null
        else
            echo "setup: cannot install ${need[*]} (not root, no sudo); browser and PostgreSQL tests will be skipped" >&2
        fi
    fi
fi

if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv"
    "$python" -m venv .venv
fi

extras="app"
[ "$want_test" = 1 ] && extras="dev"
stamp=".venv/.groundswell-$(cat pyproject.toml | sha256sum | cut -c1-16)-$extras"
if [ ! -f "$stamp" ]; then
    export PIP_DISABLE_PIP_VERSION_CHECK=1
    # The CPU build of PyTorch first: an open-ended torch requirement would pull a multi-GB CUDA build.
    echo "setup: installing torch==2.13.0 (CPU)"
    .venv/bin/pip install -q "torch==2.13.0"
    echo "setup: installing groundswell ($extras)"
    if [ "$extras" = dev ]; then .venv/bin/pip install -q -e ".[dev]"; else .venv/bin/pip install -q -e .; fi
    rm -f .venv/.groundswell-*
    touch "$stamp"
fi
echo "setup: ready (.venv/bin/groundswell)"
