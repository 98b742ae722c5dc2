"""Plumbing the agent and the verifier share: metrics endpoint, configuration, SQLite, MQTT settings."""
