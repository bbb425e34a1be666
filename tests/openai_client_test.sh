#!/usr/bin/env bash
# Runs tests/openai_client_test.mjs (the official `openai` npm package) against a real
# `sculpt serve` on a free loopback port, then stops the server with SIGTERM and checks that it
# exits cleanly. Skipped (exit 77) only when npm is absent. Usage: openai_client_test.sh SCULPT WORKDIR
set -euo pipefail
SCULPT=$1
WORK=$2
HERE=$(cd "$(dirname "$0")" && pwd)
if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
  echo "SKIPPED: npm/node are not installed (apt-get install -y npm)"; exit 77
fi
mkdir -p "$WORK"
if [ ! -f "$WORK/node_modules/openai/package.json" ]; then
  (cd "$WORK" && npm install --no-audit --no-fund --silent openai@4 >npm.log 2>&1) \
    || { echo "npm install openai failed:"; cat "$WORK/npm.log"; exit 1; }
fi
cp "$HERE/openai_client_test.mjs" "$WORK/"
log=$WORK/serve.log
"$SCULPT" serve --port 0 -t 1 --api-key test-key 2>"$log" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
port=""
for _ in $(seq 1 200); do
  port=$(sed -n 's/.*on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log")
  [ -n "$port" ] && break
  kill -0 $pid 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.05
done
[ -n "$port" ] || { echo "the server did not start"; cat "$log"; exit 1; }
(cd "$WORK" && SCULPT_URL="http://127.0.0.1:$port" node openai_client_test.mjs)
kill -TERM $pid
wait $pid
status=$?
trap - EXIT
grep -q "stopped" "$log" || { echo "no clean stop:"; cat "$log"; exit 1; }
exit $status
