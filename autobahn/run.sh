#!/usr/bin/env bash
# Autobahn TestSuite server cases 1.* to 10.*, 12.* and 13.* against /echo,
# driven by PyPI's kosoku (the original case files under Python 3). Fails if
# any case does worse than autobahn/expected.json. The server runs with
# compression on; only 12.* and 13.* offer permessage-deflate, and /echo
# answers a compressed message compressed (kosoku's port of those cases
# cannot read an uncompressed answer to a compressed message). Pass
# case patterns to run fewer: autobahn/run.sh '12.1.*'.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v kosoku >/dev/null || python3 -m pip install --quiet 'kosoku==0.1.0'
out=autobahn/reports
rm -rf "$out" && mkdir -p "$out"
# shellcheck source=../tests/start-roomcast.sh
. tests/start-roomcast.sh
start_roomcast --max-message-size 16777216 --max-backpressure 67108864 --compression true
cases=()
if [ $# -gt 0 ]; then
    for c in "$@"; do cases+=(-i "$c"); done
else
    for c in 1 2 3 4 5 6 7 9 10 12 13; do cases+=(-i "$c.*"); done
fi
kosoku -m fuzzingclient "ws://$addr/echo" "${cases[@]}" -p 2 -o "$out" >"$out/kosoku.log" 2>&1 || true
python3 autobahn/check.py "$out/index.json" autobahn/expected.json ${1:+--only-run}
