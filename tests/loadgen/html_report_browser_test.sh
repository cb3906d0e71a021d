#!/usr/bin/env bash
# Goal: bank_loadgen --html writes a self-contained page that a real browser
# renders: no network reference, the verdict, both charts, and a PNG that is
# not blank.
# Method: a real bank_server (port 0) and a short --batch run with --html;
# Debian's chromium renders the file headless to a PNG; python3 decodes the
# PNG with zlib (no extra library) and counts pixels that are not white.
# Skips (exit 77) when chromium is not installed.
# Usage: html_report_browser_test.sh BANK_SERVER BANK_LOADGEN
set -euo pipefail
server_bin=$1; loadgen_bin=$2
browser=$(command -v chromium || true)
if [[ -z "$browser" ]]; then
  echo "SKIP: chromium not installed (scripts/install-deps.sh installs it)"
  exit 77
fi
work=$(mktemp -d)
server=""
cleanup() {
  [[ -n "$server" ]] && kill "$server" 2>/dev/null && wait "$server" || true
  rm -rf "$work"
}
trap cleanup EXIT

"$server_bin" --listen=127.0.0.1:0 >"$work/server.out" 2>&1 &
server=$!
for _ in $(seq 1 300); do
  grep -qs "listening on" "$work/server.out" && break
  sleep 0.1
done
address=$(sed -n 's/^bank_server listening on \([^ ]*\) .*/\1/p' "$work/server.out")
[[ -n "$address" ]] || { echo "FAIL: server did not start"; exit 1; }

"$loadgen_bin" --target="$address" --accounts=20 --batch=50 --total=200 \
  --concurrency=4 --html="$work/report.html" >"$work/loadgen.out"

html=$work/report.html
for needle in "Invariant: PASS" "<svg" "Throughput over time" \
  "Latency histogram" "p99.9" "Per operation kind" "Operations/s"; do
  grep -q -- "$needle" "$html" || { echo "FAIL: no '$needle' in the page"; exit 1; }
done
if grep -Eq "(src|href)=['\"]?(https?:)?//" "$html"; then
  echo "FAIL: the page loads something from the network"; exit 1
fi

profile=$work/profile
timeout 120 "$browser" --headless --no-sandbox --disable-gpu \
  --disable-background-networking --disable-component-update --disable-sync \
  --no-first-run --user-data-dir="$profile" \
  --screenshot="$work/report.png" --window-size=900,1600 \
  "file://$html" >"$work/chromium.log" 2>&1 || true
[[ -s "$work/report.png" ]] || { echo "FAIL: no screenshot"; cat "$work/chromium.log"; exit 1; }

python3 - "$work/report.png" <<'PY'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, width = 8, b"", 0
while pos < len(data):
    length, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + length]
    if kind == b"IHDR":
        width, height, depth, color = struct.unpack(">IIBB", body[:10])
        assert depth == 8 and color in (2, 6), (depth, color)
        channels = 3 if color == 2 else 4
    elif kind == b"IDAT":
        idat += body
    pos += 12 + length
raw = zlib.decompress(idat)
stride = width * channels
prev = bytearray(stride)
non_white = 0
i = 0
for _ in range(height):
    ftype = raw[i]; line = bytearray(raw[i + 1:i + 1 + stride]); i += 1 + stride
    for x in range(stride):
        a = line[x - channels] if x >= channels else 0
        b = prev[x]; c = prev[x - channels] if x >= channels else 0
        if ftype == 1: line[x] = (line[x] + a) & 255
        elif ftype == 2: line[x] = (line[x] + b) & 255
        elif ftype == 3: line[x] = (line[x] + (a + b) // 2) & 255
        elif ftype == 4:
            p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for x in range(0, stride, channels):
        if line[x] < 240 or line[x + 1] < 240 or line[x + 2] < 240:
            non_white += 1
    prev = line
share = non_white / (width * height)
print(f"{width}x{height} PNG, {non_white} non-white pixels ({share:.1%})")
# Text, tables, the green verdict and two charts: well above 1% of the page.
assert share > 0.01, "the page rendered blank"
PY
echo "PASS"
