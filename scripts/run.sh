#!/usr/bin/env bash
# One command for a new user: install what is missing, build, create the demo
# data set once, and serve it on http://127.0.0.1:8080 (embedded default: a
# local directory, no database).
#   STREAMHOUSE_LISTEN  (default 127.0.0.1:8080)
#   DEMO_DIR            (default ./demo-data)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

scripts/install-deps.sh
# A plain Release build with the defaults alone, as a packager would type it.
cmake -S . -B build/run -G Ninja -DCMAKE_BUILD_TYPE=Release -DSH_BUILD_TESTS=OFF -DSH_BUILD_BENCH=OFF >/dev/null
cmake --build build/run --target streamhouse
bin="$root/build/run/service/streamhouse"

demo="${DEMO_DIR:-$root/demo-data}"
if [[ ! -f "$demo/.complete" ]]; then
  echo "Creating the demo data set in $demo (about 190,000 records) ..."
  rm -rf "$demo"
  scripts/make-demo-data.sh "$bin" "$demo"
  touch "$demo/.complete"
fi

listen="${STREAMHOUSE_LISTEN:-127.0.0.1:8080}"
url="http://${listen}"
cat <<MSG

StreamHouse Reader is starting on $url with the demo data in $demo. Try:
  curl -s $url/topics
  curl -s $url/topics/orders
  curl -s '$url/topics/orders/partitions/0/records?offset=0&max_records=2'
  curl -s '$url/topics/orders/partitions/1/records?timestamp=1767226000000&max_records=1&format=json'
  curl -s '$url/topics/audit/partitions/0/records?offset=latest&timeout_ms=5000'
  curl -s $url/metrics | grep streamhouse_
Open $url/ in a browser for the dashboard. Ctrl-C stops the server.

MSG
exec "$bin" serve --store "file://$demo" --listen "$listen"
