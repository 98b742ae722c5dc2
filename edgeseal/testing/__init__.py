"""Scaffolding for tests, benchmarks and the demo: real services on loopback and simulated devices.

Nothing in the agent or the verifier imports it.
"""
