# Sourced by bin/*: create or refresh .venv from pyproject.toml, then put it first on PATH.
# usage: . bin/_venv.sh [EXTRAS]   (e.g. "" for the server alone, "test", "test,bench")
# Reinstalls only when pyproject.toml changed or an extra is asked for that is not installed yet.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
_python="${DEDWEN_PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv with $($_python --version)"
    "$_python" -m venv .venv
fi
_hash="$(sha256sum pyproject.toml | cut -c1-16)"
read -r _old_hash _old_extras 2>/dev/null < .venv/.dedwen-stamp || true
_extras="$(printf '%s' "${1:-},${_old_extras:-}" | tr ',' '\n' | sed '/^$/d' | sort -u | paste -sd, -)"
[ "${_old_hash:-}" = "$_hash" ] || _extras="$(printf '%s' "${1:-}" | tr ',' '\n' | sed '/^$/d' | sort -u | paste -sd, -)"
if [ "${_old_hash:-}" != "$_hash" ] || [ "${_old_extras:-}" != "$_extras" ]; then
    echo "==> installing dependencies (.${_extras:+[$_extras]})"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${_extras:+[$_extras]}"
    echo "$_hash $_extras" > .venv/.dedwen-stamp
fi
unset _python _hash _old_hash _old_extras _extras
export PATH="$ROOT/.venv/bin:$PATH"
