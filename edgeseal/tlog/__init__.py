"""A transparency log in the C2SP formats: signed notes, checkpoints, cosignatures, tiles.

Everything here is bytes in, bytes out (no storage of its own), so the verifier's store,
a witness and an auditor share one implementation of the formats:

- :mod:`.note`: signed-note (https://c2sp.org/signed-note), Ed25519 note signatures;
- :mod:`.checkpoint`: tlog-checkpoint, the log's signed tree head;
- :mod:`.cosignature`: tlog-cosignature, Ed25519 cosignature/v1 with a timestamp;
- :mod:`.tiles`: tlog-tiles paths, entry bundles, building and reading tiles, proofs;
- :mod:`.client` and :mod:`.audit`: fetching a tiled log over HTTP and auditing it.

Merkle hashing and proof checking are RFC 9162's, from :mod:`edgeseal.native.merkle`.
"""
