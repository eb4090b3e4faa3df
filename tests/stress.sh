#!/usr/bin/env bash
# tests/stress.sh N [--load]: run the whole suite N times in a row and count the green runs.
# --load: two CPU hogs (`while True: pass`, normal priority) run beside every run, as on a
# busy CI machine or a laptop in a video call. Prints one line per run and a summary; exits
# non-zero if any run failed. Extra arguments after -- go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10}
shift || true
load=0
if [ "${1:-}" = "--load" ]; then
  load=1
  shift
fi
[ "${1:-}" = "--" ] && shift
python=.venv/bin/python
hog=$(command -v python3)
hogs=()
stop_hogs() {
  for p in "${hogs[@]}"; do kill "$p" 2>/dev/null; done
  hogs=()
}
trap stop_hogs EXIT
if [ "$load" = 1 ]; then
  for _ in 1 2; do
    "$hog" -c 'while True: pass' &
    hogs+=($!)
  done
fi
log=$(mktemp -d /tmp/gilscope-stress.XXXXXX)
green=0
for i in $(seq 1 "$runs"); do
  start=$(date +%s)
  "$python" -m pytest -q -p no:cacheprovider "$@" >"$log/run-$i.txt" 2>&1
  rc=$?
  took=$(($(date +%s) - start))
  summary=$(tail -n 1 "$log/run-$i.txt")
  if [ "$rc" = 0 ]; then
    green=$((green + 1))
  else
    grep -E '^(FAILED|ERROR) ' "$log/run-$i.txt" | sed 's/^/    /'
  fi
  printf 'run %d/%d: %s in %d s (%s)\n' "$i" "$runs" "$([ "$rc" = 0 ] && echo green || echo RED)" \
    "$took" "$summary"
done
printf '%d of %d runs green%s; logs in %s\n' "$green" "$runs" \
  "$([ "$load" = 1 ] && echo ' with two CPU hogs beside them')" "$log"
[ "$green" = "$runs" ]
