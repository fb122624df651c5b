#!/usr/bin/env bash
# The walcast demo: the seed pipeline on this machine, end to end.
#
#   orders PostgreSQL ──WAL──▶ walcast source ──▶ Kafka (tansu) ──▶ walcast sinks ──▶ results PostgreSQL
#                                                                     │  (RedisLookup: customer:<id>)
#                                                                     └──────────────▶ Redis order:<id>
#
# Starts throwaway services on free ports (never the ports of your own databases), walcast with
# the three connectors of deploy/connect/ (POSTed with curl exactly as to Kafka Connect), inserts
# orders and shows each step. Ctrl-C stops and removes everything it started.
#
# Environment: WALCAST_DEMO_PORT (REST port, default 8083; a free one is picked when taken),
# DEMO_ONESHOT=1 (show everything once and exit, for tests), WALCAST_DEMO_DIR (state and log
# folder, default target/demo; the log stays there after exit).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${WALCAST_DEMO_BIN_DIR:-target/release}"
demo_dir="${WALCAST_DEMO_DIR:-target/demo}"
oneshot="${DEMO_ONESHOT:-}"
rm -rf "$demo_dir"
mkdir -p "$demo_dir"
demo_dir="$(cd "$demo_dir" && pwd)"
log="$demo_dir/walcast.log"
pids=()
cleanup() {
  trap - EXIT INT TERM
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo
  echo "stopped walcast and the services; walcast's log is kept at $log"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -t 1 ]; then bold=$'\033[1m'; dim=$'\033[2m'; off=$'\033[0m'; else bold=; dim=; off=; fi
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$off"; }
run() { printf '%s$ %s%s\n' "$dim" "$*" "$off"; "$@"; }

say "1. starting the services: orders PostgreSQL (wal_level=logical), results PostgreSQL, Redis, a Kafka-API broker (tansu)"
"$bin/walcast-services" --results-db "$demo_dir/services.env" &
pids+=($!)
for _ in $(seq 1 600); do [ -f "$demo_dir/services.env" ] && break; sleep 0.1; done
[ -f "$demo_dir/services.env" ] || { echo "the services did not start" >&2; exit 1; }
set -a; . "$demo_dir/services.env"; set +a
echo "orders PostgreSQL 127.0.0.1:$PGPORT, results PostgreSQL 127.0.0.1:$RESULTS_PGPORT, Redis $REDIS_URL, Kafka API $BOOTSTRAP_SERVERS"
run psql -X -q -v ON_ERROR_STOP=1 -f sql/init-orders.sql
run psql -X -q -v ON_ERROR_STOP=1 -p "$RESULTS_PGPORT" -f sql/init-results.sql
run scripts/load-customers.sh -u "$REDIS_URL" deploy/redis/customers.json

port="${WALCAST_DEMO_PORT:-8083}"
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  taken="$port"
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  echo "port $taken is taken; the REST API uses $port instead (set WALCAST_DEMO_PORT to choose)"
fi
cat > "$demo_dir/worker.properties" <<PROPS
bootstrap.servers=$BOOTSTRAP_SERVERS
listeners=http://127.0.0.1:$port
key.converter=org.apache.kafka.connect.json.JsonConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
walcast.state.dir=$demo_dir/state
PROPS

say "2. walcast standalone worker.properties   (log: $log)"
"$bin/walcast" standalone "$demo_dir/worker.properties" >"$log" 2>&1 &
pids+=($!)
walcast_pid=$!
for _ in $(seq 1 100); do curl -fsS "localhost:$port/health" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "localhost:$port/health" >/dev/null || { echo "walcast did not start; its log:" >&2; cat "$log" >&2; exit 1; }

# deploy/connect/*.json name the compose services (orders-db, results-db, redis); point them at
# the throwaway ones.
for c in orders-source results-sink orders-cache; do
  python3 - "deploy/connect/$c.json" "$demo_dir/$c.json" <<PY
import json, sys
doc = json.load(open(sys.argv[1]))
text = json.dumps(doc, indent=2)
text = (text.replace('"orders-db"', '"127.0.0.1"')
            .replace('"database.port": "5432"', '"database.port": "$PGPORT"')
            .replace("results-db:5432", "127.0.0.1:$RESULTS_PGPORT")
            .replace("redis://redis:6379", "$REDIS_URL")
            # The throwaway servers' password; deploy/ takes it from the environment instead.
            .replace("\${env:ORDERS_DB_PASSWORD}", "postgres")
            .replace("\${env:RESULTS_DB_PASSWORD}", "postgres"))
open(sys.argv[2], "w").write(text)
PY
  run curl -sS -o /dev/null -w "%{http_code}\n" -X POST -H 'Content-Type: application/json' \
    "localhost:$port/connectors" -d @"$demo_dir/$c.json"
done

status_of() { curl -fsS "localhost:$port/connectors/$1/status" 2>/dev/null || true; }
for _ in $(seq 1 200); do
  all=1
  for c in orders-source results-sink orders-cache; do
    status_of "$c" | grep -q '"tasks":\[{"id":0,"state":"RUNNING"' || all=0
  done
  [ "$all" = 1 ] && break
  sleep 0.1
done
say "3. connector status"
for c in orders-source results-sink orders-cache; do
  printf '%s: ' "$c"; status_of "$c" | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["connector"]["state"], "/ task", s["tasks"][0]["state"] if s["tasks"] else "-", ("— " + s["tasks"][0].get("trace","").splitlines()[0]) if s["tasks"] and s["tasks"][0]["state"]=="FAILED" else "")'
done

say "4. a new order in the orders database"
run psql -X -q -c "INSERT INTO orders (customer_id, product_id, quantity, price, status) VALUES ('CUST005','PROD500',7,19.99,'PENDING')"
new_id="$(psql -X -qAt -c 'SELECT max(id) FROM orders')"
for _ in $(seq 1 100); do
  [ "$(psql -X -qAt -p "$RESULTS_PGPORT" -c "SELECT count(*) FROM results WHERE order_id = $new_id")" = 1 ] && break
  sleep 0.05
done

say "5. its change event in Kafka (topic shop.public.orders), as Debezium writes it"
"$bin/walcast-topic" --last 1 --raw "$BOOTSTRAP_SERVERS" shop.public.orders
echo "${dim}price is a precise decimal (decimal.handling.mode=precise): base64 of the unscaled integer, scale 2 in its schema."
echo "decoded, every event of the topic (key -> op, before, after):${off}"
"$bin/walcast-topic" --decode "$BOOTSTRAP_SERVERS" shop.public.orders | tail -6

say "6. the enriched rows in the results database (order + customer name, email, tier from Redis)"
run psql -X -p "$RESULTS_PGPORT" -c "SELECT * FROM results ORDER BY order_id"

say "7. the same order cached in Redis"
run redis-cli -u "$REDIS_URL" HGETALL "order:$new_id"

say "8. walcast's log (important lines)"
grep -E "WARN|ERROR|snapshot completed|streaming changes|sink" "$log" | sed -E 's/^[^ ]+ +//' | tail -12 || true

metrics_line() {
  curl -fsS "localhost:$port/metrics" | awk '
    /^walcast_source_events_total/ {ev += $NF}
    /^walcast_sink_records_written_total/ {w += $NF}
    /^walcast_sink_partition_lag/ {lag += $NF}
    END {printf "source events %d   sink writes %d   sink lag %d", ev, w, lag}'
}
say "9. try it yourself"
cat <<EOF
  insert an order:   psql -h 127.0.0.1 -p $PGPORT -U postgres -c "INSERT INTO orders (customer_id, product_id, quantity, price) VALUES ('CUST002','PROD900',1,5.00)"
  see the results:   psql -h 127.0.0.1 -p $RESULTS_PGPORT -U postgres -c "SELECT * FROM results ORDER BY order_id"
  see the cache:     redis-cli -u $REDIS_URL HGETALL order:$new_id
  REST API:          curl localhost:$port/connectors?expand=status
  metrics:           curl localhost:$port/metrics
  (password: postgres)
EOF
if [ -n "$oneshot" ]; then
  echo "live: $(metrics_line)"
  exit 0
fi
say "live throughput and lag (Ctrl-C stops and removes everything)"
prev=""
while kill -0 "$walcast_pid" 2>/dev/null; do
  line="$(metrics_line 2>/dev/null || echo "metrics unavailable")"
  if [ -t 1 ]; then printf '\r%s   ' "$line"; elif [ "$line" != "$prev" ]; then echo "$line"; fi
  prev="$line"
  sleep 1
done
echo "walcast exited; its log:" >&2
tail -20 "$log" >&2
exit 1
