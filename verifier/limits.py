"""How much of the store a publisher can fill: bounds on held and quarantined batches.

Anyone who can publish on a batch topic can send bytes; only a gateway's key can sign
them. So the store keeps in full only what a trusted key signed, and caps even that:

* a batch is held (ahead of its chain) only after its signatures verified under the
  chain's key or a key announced by a held batch before it, at most ``max_seq_jump``
  seqs ahead of the head, and within ``held_batches_per_gateway`` /
  ``held_bytes_per_gateway`` / ``held_bytes_total``;
* the quarantine keeps the raw payload only of a batch whose signatures verified and
  that is at most ``quarantine_payload_bytes`` long; of anything else the SHA-256 of
  the payload, its length and its first ``QUARANTINE_PREFIX_BYTES`` bytes; the same
  payload refused again for the same reason counts up one row;
* once a gateway's quarantine (all unenrolled gateway ids share one) holds
  ``quarantine_bytes_per_gateway``, or the whole quarantine ``quarantine_bytes_total``,
  further refusals are counted per (gateway, reason) in ``quarantine_overflow``, not
  stored one by one.

A refused batch still gets its verdict; nothing already held or accepted is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from edgeseal.plumbing.config_toml import Section

# What the quarantine keeps of a payload it does not keep whole: enough for the header
# (gateway id, seq, key id) to be read by an investigator.
QUARANTINE_PREFIX_BYTES = 256

_MIB = 1024 * 1024


@dataclass(frozen=True)
class StoreLimits:
    """``[limits]`` of verifier.toml (docs/verifier.md, "Limits")."""

    held_batches_per_gateway: int = 1024
    held_bytes_per_gateway: int = 64 * _MIB
    held_bytes_total: int = 512 * _MIB
    # A held batch is at most this many seqs ahead of the gateway's accepted head.
    max_seq_jump: int = 4096
    quarantine_bytes_per_gateway: int = 16 * _MIB
    quarantine_bytes_total: int = 256 * _MIB
    # A verified batch's payload is kept whole up to this size; else digest and prefix.
    quarantine_payload_bytes: int = 64 * 1024
    # Not a bound on the store: a hole in a device's account is reported as an
    # unexplained gap once the chain is this many batches past it (accounts_store.py).
    gap_margin_batches: int = 16


LIMIT_KEYS = frozenset(f.name for f in fields(StoreLimits))


def parse_limits(section: Section) -> StoreLimits:
    """The ``[limits]`` table; every value is a positive integer (bytes or counts)."""
    defaults = StoreLimits()
    values = {name: section.get_int(name, getattr(defaults, name), 1, 2**62) for name in LIMIT_KEYS}
    return StoreLimits(**values)
