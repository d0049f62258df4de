"""The Kafka and schema-registry plumbing, once, for every service."""
