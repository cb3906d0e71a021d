#!/usr/bin/env bash
# dev-certs.sh: a throwaway CA and certificates for trying TLS, mutual TLS
# and the authorization policy by hand (docs/SERVER.md, docs/COMPOSE.md).
# For development only: the CA key sits next to the certificates, nothing
# is protected by a passphrase, and everything expires after 30 days.
#
# Usage: scripts/dev-certs.sh DIR [SERVER_NAME ...]
#   DIR/ca.pem (+ ca.key)              the CA, for --tls_ca / --tls_client_ca
#   DIR/server.pem, DIR/server.key     for bank_server; SANs: localhost,
#                                      127.0.0.1, bank and SERVER_NAME...
#   DIR/{admin,teller,auditor}.pem/.key  client certificates, subject
#                                      CN=admin etc. (docker/authz-policy.json)
set -euo pipefail
dir=${1:?usage: scripts/dev-certs.sh DIR [SERVER_NAME ...]}
shift
mkdir -p "$dir"
cd "$dir"
days=30
newkey=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)

openssl req -x509 "${newkey[@]}" -keyout ca.key -out ca.pem -days "$days" \
  -subj "/CN=bank dev CA" -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

# issue NAME COMMON_NAME EXTENSIONS
issue() {
  openssl req -new "${newkey[@]}" -keyout "$1.key" -out "$1.csr" \
    -subj "/CN=$2" 2>/dev/null
  printf '%b' "$3" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
    -days "$days" -out "$1.pem" -extfile "$1.ext" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}

sans="DNS:localhost,IP:127.0.0.1,DNS:bank"
for name in "$@"; do sans+=",DNS:$name"; done
issue server bank-server "subjectAltName=$sans\nextendedKeyUsage=serverAuth\n"
for role in admin teller auditor; do
  issue "$role" "$role" "extendedKeyUsage=clientAuth\n"
done
chmod 644 ./*.key  # So a container user can read them: throwaway keys only.
echo "dev-certs: CA, server and admin/teller/auditor certificates in $PWD"
