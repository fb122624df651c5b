#!/usr/bin/env bash
# The walcast demo: throwaway PostgreSQL + Redis + tansu (the test kit's), walcast started the way
# Kafka Connect is (`walcast standalone worker.properties`), the connector created with curl from
# deploy/postgres-connector.json, a few orders written, and the change events read back from Kafka.
# Stops everything on exit. `make demo` builds the release binaries first.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release
tansu="${WALCAST_TANSU:-${WALCAST_TOOLS_DIR:-$HOME/.cache/walcast/tools}/tansu}"
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "starting PostgreSQL (wal_level=logical), Redis and tansu on free ports"
"$bin/walcast-services" "$work/services.env" &
pids+=($!)
for _ in $(seq 1 300); do [ -f "$work/services.env" ] && break; sleep 0.1; done
[ -f "$work/services.env" ] || { echo "services did not start" >&2; exit 1; }
set -a; . "$work/services.env"; set +a
echo "PostgreSQL 127.0.0.1:$PGPORT, Redis $REDIS_URL, Kafka API (tansu) $BOOTSTRAP_SERVERS"
psql -X -q -v ON_ERROR_STOP=1 -f sql/seed.sql
psql -X -q -c "INSERT INTO customers VALUES (1, 'Alice', 'alice@example.com'), (2, 'Bob', NULL);
               INSERT INTO orders (customer_id, amount, note) VALUES (1, 19.99, 'first order');"

port="${WALCAST_DEMO_PORT:-8083}"
cat > "$work/worker.properties" <<PROPS
bootstrap.servers=$BOOTSTRAP_SERVERS
listeners=http://127.0.0.1:$port
key.converter=org.apache.kafka.connect.json.JsonConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
walcast.state.dir=$work/state
PROPS
say "walcast standalone worker.properties"
"$bin/walcast" standalone "$work/worker.properties" > "$work/walcast.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -fsS "localhost:$port/health" >/dev/null 2>&1 && break; sleep 0.1; done

# The connector JSON users POST to Kafka Connect, pointed at the throwaway server.
sed -e "s/\"database.hostname\": \"postgres\"/\"database.hostname\": \"127.0.0.1\"/" \
    -e "s/\"database.port\": \"5432\"/\"database.port\": \"$PGPORT\"/" \
    deploy/postgres-connector.json > "$work/postgres-connector.json"
say "curl -X POST localhost:$port/connectors -d @postgres-connector.json"
curl -sS -X POST -H 'Content-Type: application/json' "localhost:$port/connectors" -d @"$work/postgres-connector.json"
echo
for _ in $(seq 1 100); do
  curl -fsS "localhost:$port/connectors/inventory-connector/status" | grep -q '"state":"RUNNING"' && break
  sleep 0.1
done
say "curl localhost:$port/connectors/inventory-connector/status"
curl -sS "localhost:$port/connectors/inventory-connector/status"; echo

say "writing changes: insert, update, delete"
sleep 1
psql -X -q -c "INSERT INTO orders (customer_id, amount, note) VALUES (2, 5.00, 'second order');
               UPDATE orders SET status = 'paid' WHERE id = 1;
               DELETE FROM customers WHERE id = 2;"
sleep 2

for topic in dbserver1.public.customers dbserver1.public.orders; do
  say "events in $topic (key -> op, before, after)"
  "$bin/walcast-topic" "$BOOTSTRAP_SERVERS" "$topic"
done

say "metrics (excerpt)"
curl -sS "localhost:$port/metrics" | grep -E '^walcast_source_(events_total|confirmed_lsn)' | head -12 || true

if [ -t 0 ] && [ -z "${WALCAST_DEMO_EXIT:-}" ]; then
  say "walcast is running on :$port — try the REST API; Ctrl-C stops everything"
  wait "${pids[1]}"
fi
