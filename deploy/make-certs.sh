#!/usr/bin/env bash
# Makes the certificates and keys of a trial deployment with openssl: a CA,
# then a certificate and key per host, each usable as a TLS server and as a
# TLS client (NATS routes are both; services present theirs to NATS).
#
#   deploy/make-certs.sh OUT_DIR [NAME[=IP]...]
#
# Without names: nats-1 nats-2 nats-3 postgres identity inventory registry
# matching impact notify web. Each certificate names NAME, NAME.internal,
# localhost and 127.0.0.1, plus IP when given (e.g. nats-1=10.0.0.11).
# The CA is kept (OUT_DIR/ca.pem, ca.key) and reused by later runs, so
# hosts can be added; an existing host's files are left alone.
#
# For a trial only: in production, certificates come from your own PKI,
# and the CA key never sits beside the services.
set -euo pipefail

if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
out=$1
shift
if [ $# -eq 0 ]; then
    set -- nats-1 nats-2 nats-3 postgres identity inventory registry matching impact notify web
fi
command -v openssl >/dev/null 2>&1 || { echo "make-certs: openssl is required" >&2; exit 1; }

umask 077
mkdir -p "$out"
days=${CERT_DAYS:-365}

if [ ! -f "$out/ca.pem" ]; then
    openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
        -keyout "$out/ca.key" -out "$out/ca.pem" -days "$days" \
        -subj "/CN=reemploi trial CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    echo "make-certs: CA $out/ca.pem"
fi

for spec in "$@"; do
    name=${spec%%=*}
    ip=""
    [ "$spec" != "$name" ] && ip=${spec#*=}
    case $name in
        '' | *[!a-z0-9.-]*) echo "make-certs: bad host name: $name" >&2; exit 2 ;;
    esac
    if [ -f "$out/$name.pem" ]; then
        echo "make-certs: $out/$name.pem exists, kept"
        continue
    fi
    san="DNS:$name,DNS:$name.internal,DNS:localhost,IP:127.0.0.1"
    [ -n "$ip" ] && san="$san,IP:$ip"
    ext=$(mktemp)
    trap 'rm -f "$ext"' EXIT
    printf '%s\n' \
        "basicConstraints=critical,CA:FALSE" \
        "keyUsage=critical,digitalSignature,keyEncipherment" \
        "extendedKeyUsage=serverAuth,clientAuth" \
        "subjectAltName=$san" >"$ext"
    # PKCS#8 keys: rustls, nats-server and PostgreSQL all read them.
    openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
        -keyout "$out/$name.key" -out "$out/$name.csr" -subj "/CN=$name" 2>/dev/null
    openssl x509 -req -in "$out/$name.csr" -CA "$out/ca.pem" -CAkey "$out/ca.key" \
        -CAcreateserial -out "$out/$name.pem" -days "$days" -extfile "$ext" 2>/dev/null
    rm -f "$out/$name.csr" "$ext"
    echo "make-certs: $out/$name.pem ($san)"
done
chmod 644 "$out"/*.pem
