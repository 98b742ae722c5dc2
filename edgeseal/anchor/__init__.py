"""External anchors of the transparency log's checkpoints (issue 13).

``evidence``: the evidence JSON and ``check_evidence``; ``tsa``: RFC 3161 timestamps;
``evm``: the CheckpointAnchor contract on an EVM chain (embedded eth-tester or JSON-RPC).
The modules import their third-party libraries at the top, so import the one you use.
"""
