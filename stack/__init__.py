"""The local stack: a real Kafka broker and a real schema registry as local processes, no Docker."""
