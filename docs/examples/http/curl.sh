#!/usr/bin/env bash
# cairn serve from the shell: append with an expected version and an event id, retry it
# harmlessly, read the stream back. CAIRN_URL (default http://127.0.0.1:8080); CAIRN_TOKEN
# when the server has --tokens. Run by tests/http_examples_test.sh.
set -euo pipefail
url=${CAIRN_URL:-http://127.0.0.1:8080}
auth=()
[[ -n "${CAIRN_TOKEN:-}" ]] && auth=(-H "Authorization: Bearer $CAIRN_TOKEN")
stream="order-curl-$RANDOM$RANDOM"
id=$(cat /proc/sys/kernel/random/uuid)

append() {  # a 201 prints the answer; anything else fails with the server's message
  curl -sS --fail-with-body "${auth[@]}" -X POST "$url/v1/streams/$stream/events" \
    -H 'Content-Type: application/json' -H 'Cairn-Expected-Version: no-stream' \
    -d "{\"type\":\"OrderPlaced\",\"id\":\"$id\",\"data\":{\"total\":99.5}}"
}
first=$(append)
echo "appended: $first"
# The same request again (a timeout, a lost answer): the original result, nothing stored twice.
again=$(append)
echo "retried:  $again"
grep -q '"deduplicated":true' <<<"$again"
# A stale writer is refused with 409 and told the actual version.
code=$(curl -sS -o /dev/null -w '%{http_code}' "${auth[@]}" -X POST "$url/v1/streams/$stream/events" \
  -H 'Content-Type: application/json' -H 'Cairn-Expected-Version: no-stream' -d '{"type":"OrderPlaced"}')
[[ "$code" == 409 ]] || { echo "expected 409, got $code" >&2; exit 1; }
curl -sS --fail-with-body "${auth[@]}" "$url/v1/streams/$stream"
echo
