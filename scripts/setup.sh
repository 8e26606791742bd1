#!/usr/bin/env bash
# Make this checkout ready to run: system packages, Python >= 3.12 in .venv with the locked
# dependencies, npm assets, compiled translations. Idempotent and quick when nothing changed.
#
#   scripts/setup.sh run    what `make run` needs
#   scripts/setup.sh test   plus what the test suite needs (slapd, Chromium)
set -euo pipefail

mode="${1:-run}"
cd "$(dirname "$0")/.."
say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] %s\n' "$*" >&2; exit 1; }

# --- System packages (Debian/Ubuntu) -------------------------------------------------------
packages=(
  postgresql postgresql-contrib redis-server gettext build-essential
  libldap2-dev libsasl2-dev libpq5
  libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core fonts-liberation2
  libmagic1
  nodejs npm
)
if [ "$mode" = test ]; then
  packages+=(slapd ldap-utils chromium)
elif [ "${LDAP:-}" = demo ]; then
  packages+=(slapd ldap-utils)  # `make run LDAP=demo` starts a demo directory
fi

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for package in "${packages[@]}"; do
    case "$package" in
      # A Node.js from elsewhere (nodesource, nvm) is as good as Debian's.
      nodejs) command -v node >/dev/null 2>&1 && continue ;;
      npm) command -v npm >/dev/null 2>&1 && continue ;;
    esac
    status=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
    [ "$status" = installed ] || missing+=("$package")
  done
else
  say "No dpkg here: install by hand the equivalents of: ${packages[*]}"
fi

if [ "${#missing[@]}" -gt 0 ]; then
  install=(apt-get install -y --no-install-recommends "${missing[@]}")
  if [ "$(id -u)" -eq 0 ]; then
    sudo_=()
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo_=(sudo)
  else
    die "Missing system packages: ${missing[*]}
Install them with:
    sudo apt-get update && sudo ${install[*]}
then run this command again."
  fi
  say "Installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_[@]}" apt-get update -q >/dev/null
  "${sudo_[@]}" "${install[@]}" -q >/dev/null
fi

# --- Python >= 3.12 ------------------------------------------------------------------------
python_ok() { "$1" -c 'import sys, venv; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; }

find_python() {
  local candidate
  for candidate in ${PYTHON:-} python3.13 python3.12 python3 \
      "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[3-9]*/bin/python3 \
      "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3 \
      /usr/local/bin/python3.1[2-9] /usr/bin/python3.1[2-9]; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 && python_ok "$candidate"; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

if [ ! -x .venv/bin/python ] || ! python_ok .venv/bin/python; then
  python=$(find_python) || die "Python 3.12 or newer was not found. Install it (for example
python3.12 from your distribution, or pyenv), or name it: make run PYTHON=/path/to/python3.12"
  say "Creating .venv with $python ($("$python" --version))"
  rm -rf .venv
  "$python" -m venv .venv
fi

lock=requirements-dev.lock
stamp=.venv/.installed-$(sha256sum "$lock" | cut -c1-16)
if [ ! -f "$stamp" ]; then
  say "Installing Python dependencies from $lock ..."
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q --require-hashes --no-deps -r "$lock"
  rm -f .venv/.installed-*
  touch "$stamp"
fi

# --- Front-end libraries from npm ----------------------------------------------------------
npm_stamp=node_modules/.installed-$(sha256sum package-lock.json | cut -c1-16)
if [ ! -f "$npm_stamp" ]; then
  say "Installing front-end libraries from npm ..."
  npm ci --no-audit --no-fund --loglevel=error
  touch "$npm_stamp"
fi

# --- Translations --------------------------------------------------------------------------
stale=yes
if [ ! -d locale ]; then
  stale=no  # nothing to compile
elif [ -f locale/.compiled ] && [ -z "$(find locale -name '*.po' -newer locale/.compiled)" ]; then
  stale=no
fi
if [ "$stale" = yes ]; then
  say "Compiling translations ..."
  .venv/bin/python manage.py compilemessages -v 0 --ignore=.venv --ignore=node_modules
  touch locale/.compiled
fi
