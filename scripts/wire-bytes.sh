#!/usr/bin/env bash
# Bytes on the wire for a first visit: every file the service worker precaches (the pages and the
# static shell: wasm, js, css, icons, manifest) plus /sw.js, fetched once as a browser that accepts
# brotli and gzip would, and once as a client that accepts nothing (what every browser got before
# compression). Needs a running server; prints a table and the totals for BENCHMARKS.md.
#
#   scripts/wire-bytes.sh http://127.0.0.1:3000
set -euo pipefail
base=${1:-http://127.0.0.1:3000}
command -v curl >/dev/null || { echo "curl is needed" >&2; exit 1; }
sw=$(curl -fsS "$base/sw.js")
urls=$(printf '%s' "$sw" | python3 -c '
import json, sys
s = sys.stdin.read()
p = json.loads(s.split("const PRECACHE = ", 1)[1].split(";\n", 1)[0])
for u in ["/sw.js"] + p["pages"] + [p["notFound"]] + p["assets"]:
    print(u)
')
total_plain=0
total_comp=0
printf '%-60s %12s %12s %6s\n' url identity compressed enc
while IFS= read -r url; do
  plain=$(curl -s -o /dev/null -w '%{size_download}' "$base$url")
  read -r comp enc < <(curl -s -o /dev/null -D - -w '%{size_download}\n' -H 'Accept-Encoding: br, gzip' "$base$url" |
    tr -d '\r' | awk 'tolower($1)=="content-encoding:"{e=$2} /^[0-9]+$/{n=$1} END{print n, (e==""?"-":e)}')
  total_plain=$((total_plain + plain))
  total_comp=$((total_comp + comp))
  printf '%-60s %12d %12d %6s\n' "$url" "$plain" "$comp" "$enc"
done <<<"$urls"
printf '%-60s %12d %12d\n' TOTAL "$total_plain" "$total_comp"
