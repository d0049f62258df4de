#!/bin/sh
# Makes what compose/compose.yaml needs and git must never hold, once, before the first `make up STACK=compose`:
#
#   compose/.env        a password per principal (kept when it exists: edit it, then run this again)
#   compose/secrets/    a local CA and the brokers' certificate, and, from compose/.env, the files the
#                       registry and provisioning read the passwords from
#
# Run from anywhere: `sh compose/secrets.sh`. Needs openssl (1.1.1 or later). Both paths are in .gitignore and
# .dockerignore. The files the containers read are world-readable because the images run as their own users
# (appuser, uid 10001), which a bind-mounted file keeps its host owner and mode for; the folder itself is 0700,
# so on the host only you can reach them.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
secrets="$here/secrets"
umask 077
mkdir -p "$secrets/credentials"

# The principals, as on the local stack (stack/security.py): admin (provisioning, operators), controller (between
# the brokers' controllers), registry (the registry's storage topic), and one per service of contracts/topics.toml.
principals="ADMIN CONTROLLER REGISTRY DASHBOARD INVOICE SCORE"
if [ ! -f "$here/.env" ]; then
    for principal in $principals; do
        echo "${principal}_PASSWORD=$(openssl rand -hex 24)"
    done > "$here/.env"
    echo "wrote $here/.env"
fi
. "$here/.env"
for principal in $principals; do
    eval "password=\${${principal}_PASSWORD:-}"
    [ -n "$password" ] || { echo "error: $here/.env gives no ${principal}_PASSWORD" >&2; exit 1; }
done

# A CA, and one certificate for every broker's name and for clients on the host (127.0.0.1): a Kafka PEM keystore
# holds the PKCS#8 key, then the certificate chain. Kept when they exist, so clients keep trusting the CA.
if [ ! -f "$secrets/broker.pem" ]; then
    cd "$secrets"
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
        -subj "/CN=accounting-events compose CA" -keyout ca-key.pem -out ca.pem \
        -addext "basicConstraints=critical,CA:TRUE,pathlen:0" -addext "keyUsage=critical,keyCertSign,cRLSign"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=kafka" \
        -keyout broker-key.pem -out broker.csr
    printf 'subjectAltName=DNS:kafka,DNS:kafka-2,DNS:kafka-3,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' \
        > broker.ext
    openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca-key.pem -set_serial "0x$(openssl rand -hex 16)" \
        -days 3650 -extfile broker.ext -out broker-cert.pem
    { openssl pkcs8 -topk8 -nocrypt -in broker-key.pem; cat broker-cert.pem ca.pem; } > broker.pem
    rm broker-key.pem broker.csr broker.ext broker-cert.pem
    echo "wrote a CA and the brokers' certificate in $secrets"
fi

# The registry's users (HTTP basic auth, Jetty's PropertyFileLoginModule: "user: password,role") and its JAAS file.
cat > "$secrets/registry-users.properties" <<EOF
admin: $ADMIN_PASSWORD,admin
dashboard: $DASHBOARD_PASSWORD,service
invoice: $INVOICE_PASSWORD,service
score: $SCORE_PASSWORD,service
EOF
cat > "$secrets/registry.jaas" <<EOF
SchemaRegistry {
  org.eclipse.jetty.security.jaas.spi.PropertyFileLoginModule required file="/run/secrets/registry-users.properties";
};
EOF

# Each service's password where provisioning looks for it (CREDENTIALS_DIR/<principal>.env) to create its SCRAM user.
echo "KAFKA_SASL_PASSWORD=$DASHBOARD_PASSWORD" > "$secrets/credentials/dashboard.env"
echo "KAFKA_SASL_PASSWORD=$INVOICE_PASSWORD" > "$secrets/credentials/invoice.env"
echo "KAFKA_SASL_PASSWORD=$SCORE_PASSWORD" > "$secrets/credentials/score.env"

chmod 700 "$secrets"
chmod 644 "$secrets/ca.pem" "$secrets/broker.pem" "$secrets/registry-users.properties" "$secrets/registry.jaas" \
    "$secrets"/credentials/*.env
chmod 755 "$secrets/credentials"
echo "compose/secrets is up to date with $here/.env"
