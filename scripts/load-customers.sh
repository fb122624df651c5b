#!/usr/bin/env bash
# Loads customers from a JSON array (default deploy/redis/customers.json) into Redis as hashes
# customer:<id> with every other field of the object, the way the seed deployment preloads them.
# Usage: scripts/load-customers.sh [-u redis://host:port] [customers.json]
#        scripts/load-customers.sh --print [customers.json]   (the redis-cli commands, as in
#        deploy/redis/customers.redis, which docker-compose loads)
set -euo pipefail
url="redis://127.0.0.1:6379"
print=
case "${1:-}" in
  -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  -u) url="$2"; shift 2 ;;
  --print) print=1; shift ;;
esac
file="${1:-$(dirname "$0")/../deploy/redis/customers.json}"
commands() {
python3 - "$file" <<'PY'

import json, sys
def q(s):
    s = str(s)
    return '"' + s.replace('\\', '\\\\').replace('"', '\\"') + '"'
for c in json.load(open(sys.argv[1])):
    fields = " ".join(f"{q(k)} {q(v)}" for k, v in c.items() if k != "id" and v is not None)
    print(f"HSET {q('customer:' + str(c['id']))} {fields}")
PY
}
if [ -n "$print" ]; then commands; exit 0; fi
commands | redis-cli -u "$url" >/dev/null
echo "loaded $(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$file") customers from $file into $url"
