#!/usr/bin/env bash
# Install what `make up` and `make test` need on a fresh Debian 12/13 machine, then sync the
# Python environment. Idempotent: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

pg_major() {
  # The distro's default PostgreSQL major (15 on Debian 12, 17 on Debian 13).
  apt-cache depends postgresql 2>/dev/null | sed -n 's/.*Depends: postgresql-\([0-9]\+\)$/\1/p' | head -n1
}

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || ! ls /usr/share/postgresql/*/extension/pg_trgm.control >/dev/null 2>&1; then
  need+=(postgresql postgresql-contrib)
fi
if [ -n "${DATABASE_URL:-}" ] && [ -n "${REDIS_URL:-}" ]; then need=(); fi

if [ ${#need[@]} -gt 0 ] || ! ls /usr/lib/postgresql/*/lib/pgaudit.so >/dev/null 2>&1; then
  if [ ! -d /var/lib/apt/lists ] || [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v lock || true)" ] || [ ${#need[@]} -gt 0 ]; then
    $SUDO apt-get update -qq
  fi
  major="$(pg_major)"
  extra=()
  if [ -n "$major" ]; then
    for pkg in "postgresql-$major-pgaudit" "postgresql-$major-timescaledb"; do
      if apt-cache show "$pkg" >/dev/null 2>&1; then extra+=("$pkg"); fi
    done
  fi
  echo "bootstrap: installing ${need[*]} ${extra[*]}"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" "${extra[@]}" >/dev/null
fi

# uv from PyPI (no other download source is reachable); use it as a module so no shim is needed.
if ! python3 -m uv --version >/dev/null 2>&1; then
  python3 -m pip install -q uv
fi
UV_PYTHON_DOWNLOADS=never python3 -m uv sync --frozen --compile-bytecode --python "$(command -v python3.11 || command -v python3)" -q
