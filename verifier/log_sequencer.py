"""The log's sequencer: new entries -> tiles -> signed checkpoint -> cosignatures -> anchors.

Every worker runs one (a thread with its own store connection); the store's write lock
makes them take turns. ``issue`` integrates the entries appended since the last
checkpoint into tiles and signs the new checkpoint inside one write transaction, so
only one worker ever issues a checkpoint for a given size. ``complete`` then gathers
what needs the network, outside the lock: a cosignature from each witness (C2SP
tlog-witness, with a consistency proof from the size that witness last cosigned) and
the anchors' evidence (RFC 3161 token, EVM transaction) once it has enough cosignatures
(``witness_policy``). Such a checkpoint is published: served at /log/checkpoint, put in
receipts and sent retained to ``<prefix>/log/checkpoint``. Whatever failed (a witness,
the TSA or the chain down) is logged, counted, and tried again an interval later by
whichever worker gets to it first; accepting batches never waits for any of it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from edgeseal.anchor.evidence import Anchor, AnchorError, AnchorEvidence
from edgeseal.plumbing.metrics_http import PrivateMetrics
from edgeseal.tlog.checkpoint import Checkpoint
from edgeseal.tlog.cosignature import CosignatureVerifier
from edgeseal.tlog.note import NoteSignature, NoteSigner, add_signatures, parse_note, sign_note
from edgeseal.tlog.tiles import TileIntegrator, consistency_proof_from_tiles
from edgeseal.verifier.log_config import LogConfig, WitnessConfig
from edgeseal.verifier.log_store import StoredCheckpoint, tile_reader
from edgeseal.verifier.store import VerifierStore, now_us
from edgeseal.witness.client import WitnessRefused, request_cosignature

log = logging.getLogger(__name__)

# At most this many entries go into one checkpoint (a backlog is integrated in steps, so
# one write transaction never holds the lock for long).
MAX_ENTRIES_PER_CHECKPOINT = 1 << 16


@dataclass(frozen=True)
class Completion:
    """What one ``complete`` gathered for a checkpoint."""

    size: int
    cosignatures: int
    published: bool
    pending: str  # what is still missing, "" when nothing


class LogMetrics:
    def __init__(self, metrics: PrivateMetrics) -> None:
        self.checkpoints = metrics.counter("log_checkpoints", "Checkpoints this worker issued")
        self.size = metrics.gauge("log_size", "Entries in the newest checkpoint this worker saw")
        self.witness_failures = metrics.counter(
            "log_witness_failures", "Cosignature requests that failed, by witness", ["witness"]
        )
        self.anchor_failures = metrics.counter(
            "log_anchor_failures", "Anchoring attempts that failed, by kind", ["kind"]
        )
        self.unpublished = metrics.gauge(
            "log_checkpoint_unpublished",
            "1 while the newest checkpoint lacks the cosignatures the witness policy needs",
        )


class LogSequencer:
    """Issues and completes checkpoints on one store connection (not thread-safe)."""

    def __init__(
        self,
        store: VerifierStore,
        config: LogConfig,
        signer: NoteSigner,
        *,
        worker: str,
        anchors: Sequence[Anchor] = (),
        publish: Callable[[bytes], None] | None = None,
        metrics: LogMetrics | None = None,
    ) -> None:
        self._store = store
        self._log = store.log
        self._config = config
        self._signer = signer
        self._worker = worker
        self._anchors = tuple(anchors)
        self._publish = publish
        self._metrics = metrics
        self._witnesses = [(w, CosignatureVerifier.from_vkey(w.vkey)) for w in config.witnesses]

    # -- issuing -----------------------------------------------------------------------

    def due(self, now_us_: int) -> bool:
        """New entries are waiting and enough of them, or long enough, for a checkpoint."""
        waiting = self._log.size() - self._log.integrated_size()
        if waiting <= 0:
            return False
        if waiting >= self._config.checkpoint_entries:
            return True
        latest = self._log.latest_checkpoint(published=False)
        interval_us = int(self._config.checkpoint_interval_s * 1e6)
        return latest is None or now_us_ - latest.issued_us >= interval_us

    def issue(self) -> StoredCheckpoint | None:
        """Integrate the waiting entries and sign their checkpoint; None if none waited."""
        with self._store.write():
            old_size = self._log.integrated_size()
            leaves = self._log.leaf_hashes(old_size, old_size + MAX_ENTRIES_PER_CHECKPOINT)
            if not leaves:
                return None  # another worker issued it first
            tiles, root = TileIntegrator().integrate(old_size, leaves, tile_reader(self._log))
            self._log.put_tiles([(t.level, t.index, data) for t, data in tiles.items()])
            size = old_size + len(leaves)
            checkpoint = Checkpoint(self._config.origin, size, root)
            note = sign_note(checkpoint.body(), [self._signer])
            self._log.add_checkpoint(size, root, note, issued_us=now_us(), issued_by=self._worker)
            self._log.set_log_keys(
                self._signer.verifier_key(), [w.vkey for w in self._config.witnesses]
            )
            stored = self._log.checkpoint(size)
        assert stored is not None
        log.info("log checkpoint %d issued (root %s)", size, root.hex())
        if self._metrics is not None:
            self._metrics.checkpoints.inc()
            self._metrics.size.set(size)
        return stored

    # -- completing --------------------------------------------------------------------

    def _cosign(
        self,
        witness: WitnessConfig,
        verifier: CosignatureVerifier,
        cp: StoredCheckpoint,
        checkpoint: Checkpoint,
    ) -> NoteSignature | None:
        """One witness's cosignature of ``cp``, or None (logged and counted)."""
        old = self._log.witness_size(witness.name)
        for _attempt in range(2):  # a 409 names the size the witness has: once more with it
            if old > cp.size:
                log.warning(
                    "witness %s already cosigned size %d; checkpoint %d is older, not sent",
                    witness.name,
                    old,
                    cp.size,
                )
                return None
            proof = (
                consistency_proof_from_tiles(old, cp.size, tile_reader(self._log))
                if 0 < old < cp.size
                else []
            )
            try:
                sigs = request_cosignature(
                    witness.url, old, proof, cp.note, self._config.witness_timeout_s
                )
            except WitnessRefused as exc:
                if exc.status == 409 and exc.old_size is not None and exc.old_size != old:
                    log.info(
                        "witness %s has size %d, not %d; sending the proof from there",
                        witness.name,
                        exc.old_size,
                        old,
                    )
                    old = exc.old_size
                    continue
                self._witness_failed(witness, f"refused checkpoint {cp.size}: {exc}")
                return None
            except OSError as exc:
                self._witness_failed(witness, f"unreachable at {witness.url}: {exc}")
                return None
            for sig in sigs:
                if verifier.verify(checkpoint, sig) is not None:
                    with self._store.write():
                        if self._log.witness_size(witness.name) < cp.size:
                            self._log.set_witness_size(witness.name, cp.size)
                    return sig
            self._witness_failed(witness, f"answered without a valid cosignature of {cp.size}")
            return None
        self._witness_failed(witness, "keeps naming another size (409)")
        return None

    def _witness_failed(self, witness: WitnessConfig, why: str) -> None:
        log.warning("witness %s %s; trying again next interval", witness.name, why)
        if self._metrics is not None:
            self._metrics.witness_failures.labels(witness.name).inc()

    def _anchor(self, anchor: Anchor, checkpoint: Checkpoint, note: bytes) -> AnchorEvidence | None:
        try:
            return anchor.anchor(checkpoint, note)
        except (AnchorError, OSError) as exc:  # none may stop the log
            log.warning(
                "anchor %s of checkpoint %d failed: %s; trying again next interval",
                anchor.kind,
                checkpoint.size,
                exc,
            )
            if self._metrics is not None:
                self._metrics.anchor_failures.labels(anchor.kind).inc()
            return None

    def complete(self, cp: StoredCheckpoint) -> Completion:
        """Gather the missing cosignatures and anchors of ``cp`` (outside the write lock)."""
        checkpoint = Checkpoint(self._config.origin, cp.size, cp.root_hash)
        have: dict[str, NoteSignature] = {}
        if cp.cosigned_note is not None:  # cosignatures gathered by an earlier attempt
            for earlier in parse_note(cp.cosigned_note).signatures:
                have[earlier.name] = earlier
        for witness, verifier in self._witnesses:
            if witness.name in have:
                continue
            sig = self._cosign(witness, verifier, cp, checkpoint)
            if sig is not None:
                have[witness.name] = sig
        cosigs = [have[w.name] for w, _v in self._witnesses if w.name in have]
        published = len(cosigs) >= self._config.witness_policy
        evidence = list(cp.evidence)
        kinds = {e.get("kind") for e in evidence}
        # Only what the witnesses accepted is anchored: a checkpoint they refuse (a split
        # view, a truncated log) must not get a timestamp or a record on the chain.
        for anchor in self._anchors if published else ():
            if anchor.kind in kinds:
                continue
            found = self._anchor(anchor, checkpoint, cp.note)
            if found is not None:
                evidence.append(found.to_json())
        missing = []
        if len(cosigs) < len(self._witnesses):
            missing.append("witnesses")
        if {e.get("kind") for e in evidence} < {a.kind for a in self._anchors}:
            missing.append("anchors")
        pending = " ".join(missing)
        note = add_signatures(cp.note, cosigs) if cosigs else None
        with self._store.write():
            self._log.complete_checkpoint(
                cp.size,
                cosigned_note=note,
                cosignatures=len(cosigs),
                evidence=evidence,
                published=published,
                pending=pending,
                attempt_us=now_us(),
            )
            if published:
                self._log.supersede_before(cp.size)
        if not published:
            log.error(
                "checkpoint %d has %d cosignature(s), the witness policy needs %d: not "
                "published yet; trying again next interval",
                cp.size,
                len(cosigs),
                self._config.witness_policy,
            )
        if self._metrics is not None:
            self._metrics.unpublished.set(0 if published else 1)
        if published and not cp.published and self._publish is not None:
            self._publish(note if note is not None else cp.note)
        return Completion(cp.size, len(cosigs), published, pending)

    def step(self) -> Completion | None:
        """One round: issue a checkpoint if due, then complete the newest one that needs it."""
        now = now_us()
        if self.due(now):
            self.issue()
        interval_us = int(self._config.checkpoint_interval_s * 1e6)
        with self._store.write():
            cp = self._log.claim_incomplete(now - interval_us, now)
        if cp is None:
            return None
        return self.complete(cp)


class SequencerThread:
    """Runs ``LogSequencer.step`` about every second on its own store connection."""

    def __init__(
        self, make: Callable[[], LogSequencer], close: Callable[[], None], *, tick_s: float = 1.0
    ) -> None:
        self._make = make
        self._close = close
        self._tick_s = tick_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="log-sequencer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        sequencer = self._make()
        try:
            while not self._stop.wait(self._tick_s):
                try:
                    sequencer.step()
                except Exception:  # the log must never stop the verifier; said loudly
                    log.exception("the log sequencer failed a step; trying again")
                    time.sleep(1.0)
        finally:
            self._close()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join()
