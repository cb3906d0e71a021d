#!/bin/sh
# postgres-entrypoint: first start creates the cluster, the `bank` role and
# database; every start then execs postgres (PID 1) listening on all
# addresses of the container. BANK_DB_PASSWORD is required on first start.
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${BANK_DB_PASSWORD:?set BANK_DB_PASSWORD for the first start}"
  pwfile="$(mktemp)"
  printf '%s\n' "$BANK_DB_PASSWORD" >"$pwfile"
  initdb -D "$PGDATA" -U bank --pwfile="$pwfile" -E UTF8 \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$pwfile"
  echo "host all all 0.0.0.0/0 scram-sha-256" >>"$PGDATA/pg_hba.conf"
  echo "CREATE DATABASE bank OWNER bank;" |
    postgres --single -D "$PGDATA" -c listen_addresses='' postgres >/dev/null
  echo "postgres-entrypoint: created the cluster and the bank database"
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -c max_connections=200
