"""The gateway agent: readings -> signed records -> durable outbox -> sealed, chained
batches -> MQTT. Read docs/agent.md first; modules follow the data path:
record, signer, outbox, batcher, batch, publisher, pipeline, daemon (plus config,
identity, keys, linkkeys, metrics, keygen).
"""
