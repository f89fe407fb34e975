# Sourced by bin/*: create or refresh .venv from pyproject.toml, then put it first on PATH.
# usage: . bin/_venv.sh EXTRAS   (e.g. "test" or "test,bench")
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
_extras="${1:-test}"
_python="${DEDWEN_PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv with $($_python --version)"
    "$_python" -m venv .venv
fi
_stamp="$(sha256sum pyproject.toml | cut -c1-16)-$_extras"
if [ "$(cat .venv/.dedwen-stamp 2>/dev/null)" != "$_stamp" ]; then
    echo "==> installing dependencies (.[$_extras])"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[$_extras]"
    echo "$_stamp" > .venv/.dedwen-stamp
fi
export PATH="$ROOT/.venv/bin:$PATH"
