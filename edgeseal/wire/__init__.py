"""What the gateway and the back end must agree on, byte by byte: the neutral layer.

``record``: one signed reading record and the column-wise decoder; ``batch``: the batch
header, the sealed batch and its MQTT payload; ``topics``: MQTT topic names. The agent
(producer) and the verifier (consumer) both import this package and nothing of each
other; it imports nothing of edgeseal but itself. Layouts: docs/formats.md.
"""
