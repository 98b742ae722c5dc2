"""A C2SP tlog-witness: cosigns a log's checkpoints only while the log stays append-only.

- :mod:`.protocol`: the ``add-checkpoint`` request and response bodies (tlog-witness);
- :mod:`.state`: the last cosigned checkpoint per log, durably, in SQLite;
- :mod:`.core`: the checks and the cosignature, with the spec's status codes (no I/O);
- :mod:`.server` and :mod:`.cli`: ``edgeseal witness --config witness.toml``;
- :mod:`.client`: ``request_cosignature`` for a log asking a witness.
"""
