"""Starting the log's sequencer inside a verifier worker, from the ``[log]`` configuration.

The worker's MQTT client publishes each newly published checkpoint, retained, on
``<prefix>/log/checkpoint``, so a subscriber gets the newest one at once. The sequencer
thread has its own store connection.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from edgeseal.anchor.evidence import EVM_EXTRA_MISSING, Anchor
from edgeseal.plumbing.keyfile import KeyFileError, load_private_key
from edgeseal.plumbing.metrics_http import PrivateMetrics
from edgeseal.tlog.note import NoteSigner
from edgeseal.verifier.config import VerifierConfig
from edgeseal.verifier.log_config import LogConfig
from edgeseal.verifier.log_sequencer import LogMetrics, LogSequencer, SequencerThread
from edgeseal.verifier.store import VerifierStore

log = logging.getLogger(__name__)


class LogStartError(RuntimeError):
    """The log cannot start as configured (the message says what to fix)."""


def checkpoint_topic(prefix: str) -> str:
    return f"{prefix}/log/checkpoint"


def log_signer(config: LogConfig) -> NoteSigner:
    assert config.key_path is not None
    try:
        key = load_private_key(config.key_path, what="log key")
    except KeyFileError as exc:
        raise LogStartError(str(exc)) from None
    # C2SP tlog-checkpoint: the log's key is named after its origin.
    return NoteSigner(config.origin, key)


def make_anchors(config: LogConfig) -> list[Anchor]:
    """The configured anchors; LogStartError when one cannot be set up."""
    anchors: list[Anchor] = []
    if config.tsa is not None:
        from edgeseal.anchor.tsa import TsaAnchor

        try:
            anchors.append(
                TsaAnchor(
                    config.tsa.url,
                    ca_certs=list(config.tsa.ca_certs),
                    timeout_s=config.tsa.timeout_s,
                )
            )
        except (OSError, ValueError) as exc:
            raise LogStartError(f"log.anchors.tsa: {exc}") from None
    if config.evm is not None:
        # web3 is big: imported only when an EVM anchor is configured.
        try:
            from edgeseal.anchor.evm import EvmAnchor
        except ImportError as exc:
            raise LogStartError(f"log.anchors.evm: {EVM_EXTRA_MISSING} ({exc})") from None

        account = None
        if config.evm.account_key_path is not None:
            try:
                account = config.evm.account_key_path.read_text(encoding="ascii").strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise LogStartError(
                    f"log.anchors.evm.account_key_path {config.evm.account_key_path}: {exc}"
                ) from None
        try:
            anchors.append(EvmAnchor(config.evm.rpc_url, config.evm.contract or None, account))
        except Exception as exc:  # web3 raises many kinds; all mean "cannot anchor there"
            raise LogStartError(f"log.anchors.evm ({config.evm.rpc_url}): {exc}") from exc
    return anchors


def start_sequencer(
    config: VerifierConfig,
    *,
    worker: str,
    publish: Callable[[bytes], None],
    metrics: PrivateMetrics | None = None,
) -> SequencerThread | None:
    """The running sequencer thread of this worker, or None when the log is off."""
    cfg = config.log
    if not cfg.enabled:
        return None
    signer = log_signer(cfg)
    anchors = make_anchors(cfg)
    log_metrics = LogMetrics(metrics) if metrics is not None else None
    stores: list[VerifierStore] = []

    def make() -> LogSequencer:
        store = VerifierStore(
            config.store.location,
            synchronous=config.store.synchronous,
            busy_timeout_s=config.store.busy_timeout_s,
        )
        stores.append(store)
        return LogSequencer(
            store,
            cfg,
            signer,
            worker=worker,
            anchors=anchors,
            publish=publish,
            metrics=log_metrics,
        )

    def close() -> None:
        for store in stores:
            store.close()

    thread = SequencerThread(make, close, tick_s=min(1.0, cfg.checkpoint_interval_s))
    thread.start()
    log.info(
        "transparency log %s: key %s; a checkpoint every %.0f s or %d entries, "
        "%d witness(es) (%d needed), %d anchor(s)",
        cfg.origin,
        signer.verifier_key(),
        cfg.checkpoint_interval_s,
        cfg.checkpoint_entries,
        len(cfg.witnesses),
        cfg.witness_policy,
        len(anchors),
    )
    return thread
