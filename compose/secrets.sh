#!/bin/sh
# Makes what compose/compose.yaml needs and git must never hold, once, before the first `make up STACK=compose`:
#
#   compose/.env        a password per principal, and the registry's keystore password (kept when they exist:
#                       edit them, then run this again)
#   compose/secrets/    a local CA, the brokers' certificate, the registry's keystore, and, from compose/.env, the
#                       files the registry and provisioning read the passwords from
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

# A password for each principal, as on the local stack (stack/security.py): admin (provisioning, operators),
# controller (between the brokers' controllers), registry (the registry's storage topic), one per service of
# contracts/topics.toml; and REGISTRY_TLS, the registry's keystore's. One missing from compose/.env is added.
passwords="ADMIN CONTROLLER REGISTRY DASHBOARD INVOICE SCORE REGISTRY_TLS"
touch "$here/.env"
for name in $passwords; do
    grep -q "^${name}_PASSWORD=" "$here/.env" || echo "${name}_PASSWORD=$(openssl rand -hex 24)" >> "$here/.env"
done
. "$here/.env"
for name in $passwords; do
    eval "password=\${${name}_PASSWORD:-}"
    [ -n "$password" ] || { echo "error: $here/.env gives no ${name}_PASSWORD" >&2; exit 1; }
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

# The registry's certificate (for the compose network's name and for clients on the host) in a PKCS#12 keystore
# under REGISTRY_TLS_PASSWORD, remade when that password changes.
if [ ! -f "$secrets/registry.p12" ] || ! openssl pkcs12 -in "$secrets/registry.p12" -noout \
        -passin "pass:$REGISTRY_TLS_PASSWORD" 2>/dev/null; then
    cd "$secrets"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=schema-registry" \
        -keyout registry-key.pem -out registry.csr
    printf 'subjectAltName=DNS:schema-registry,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > registry.ext
    openssl x509 -req -in registry.csr -CA ca.pem -CAkey ca-key.pem -set_serial "0x$(openssl rand -hex 16)" \
        -days 3650 -extfile registry.ext -out registry-cert.pem
    openssl pkcs12 -export -in registry-cert.pem -inkey registry-key.pem -certfile ca.pem -name schema-registry \
        -passout "pass:$REGISTRY_TLS_PASSWORD" -out registry.p12
    rm registry-key.pem registry.csr registry.ext registry-cert.pem
    echo "wrote the registry's keystore in $secrets"
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
chmod 644 "$secrets/ca.pem" "$secrets/broker.pem" "$secrets/registry.p12" "$secrets/registry-users.properties" "$secrets/registry.jaas" \
    "$secrets"/credentials/*.env
chmod 755 "$secrets/credentials"
echo "compose/secrets is up to date with $here/.env"
