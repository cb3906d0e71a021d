# Sourced by the scripts that start bank_server (or the floor server, which
# prints the same line) in the background: scripts/demo.sh, bench/e2e.sh.

# bank_wait_listening LOG PID SECONDS: waits until the server PID, whose
# stdout goes to LOG, has printed its line "bank_server listening on
# HOST:PORT engine=NAME", and echoes HOST:PORT. Fails (status 1, nothing
# echoed) as soon as the server has exited, or once SECONDS have passed.
bank_wait_listening() {
  local log=$1 pid=$2 deadline=$((SECONDS + $3)) address
  while true; do
    address=$(sed -n '/^bank_server listening on /{s/^bank_server listening on \([^ ]*\).*/\1/p;q}' "$log")
    if [[ -n "$address" ]]; then
      echo "$address"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || return 1
    ((SECONDS <= deadline)) || return 1
    sleep 0.05
  done
}
