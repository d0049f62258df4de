#!/usr/bin/env bash
# Run in Confluent's cp-kafka image by compose/compose.yaml (mounted at /usr/local/bin/compose-kafka):
#
#   compose-kafka start           the image's own start (/etc/confluent/docker/run: configure, ensure, launch), but
#                                 formatting the storage with the SCRAM users admin and registry, as stack/broker.py
#                                 does: SCRAM users live in the cluster's metadata, and the first clients (provisioning
#                                 as admin, the registry) need theirs before anyone could create them
#
# Both write the admin's client settings to /etc/kafka/admin.properties; the brokers' healthcheck uses them.
set -euo pipefail

admin_properties() {
    cat > /etc/kafka/admin.properties <<EOF
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$ADMIN_PASSWORD";
ssl.truststore.type=PEM
ssl.truststore.location=/run/secrets/ca.pem
EOF
}

case "${1:-}" in
start)
    /etc/confluent/docker/configure
    admin_properties
    kafka-storage format --ignore-formatted --cluster-id "$CLUSTER_ID" --config /etc/kafka/kafka.properties \
        --add-scram "SCRAM-SHA-512=[name=admin,password=$ADMIN_PASSWORD]" \
        --add-scram "SCRAM-SHA-512=[name=registry,password=$REGISTRY_PASSWORD]"
    exec /etc/confluent/docker/launch
    ;;
*)
    echo "usage: compose-kafka start" >&2
    exit 2
    ;;
esac
