"""EVM anchor on two real chains: the in-process eth-tester (py-evm) chain and a ganache
node over JSON-RPC. Every test runs on both."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from web3 import Web3

from edgeseal.anchor.evidence import AnchorEvidence, AnchorTrust, check_evidence
from edgeseal.anchor.evm import (
    AnchorRefused,
    EmbeddedChain,
    EvmAnchor,
    artifact,
    connect,
    deploy_contract,
    measure_gas,
)
from edgeseal.testing.broker import free_port
from edgeseal.testing.evm_node import GanacheNode
from edgeseal.tlog.checkpoint import Checkpoint

MakeCheckpoint = Callable[..., tuple[Checkpoint, bytes]]


@dataclass
class Chain:
    name: str
    w3: Web3
    contract: str
    anchor: EvmAnchor
    trust: AnchorTrust


@pytest.fixture(scope="module", params=["embedded", "ganache"])
def chain(request: pytest.FixtureRequest) -> Iterator[Chain]:
    if request.param == "embedded":
        embedded: EmbeddedChain = request.getfixturevalue("embedded_chain")
        yield Chain(
            "embedded", embedded.w3, embedded.contract_address, embedded.anchor(), embedded.trust()
        )
        return
    node: GanacheNode = request.getfixturevalue("ganache")
    w3 = connect(node.url)
    # Deployed and anchored with a key signed here, as on a public chain.
    address = deploy_contract(w3, node.private_key)
    anchor = EvmAnchor(node.url, address, node.private_key)
    yield Chain("ganache", w3, address, anchor, AnchorTrust(evm_rpc_url=node.url))


def _origin(request: pytest.FixtureRequest, chain: Chain) -> str:
    return f"example.org/{request.node.originalname}/{chain.name}"


def test_anchor_records_and_emits_the_checkpoint(
    chain: Chain, make_checkpoint: MakeCheckpoint, request: pytest.FixtureRequest
) -> None:
    origin = _origin(request, chain)
    checkpoint, note = make_checkpoint(7, origin=origin)
    evidence = chain.anchor.anchor(checkpoint, note)
    data = evidence.to_json()
    assert data["kind"] == "evm" and data["version"] == 1
    assert data["chain_id"] == chain.w3.eth.chain_id
    assert data["contract"] == chain.contract
    assert (data["origin"], data["size"]) == (origin, 7)
    assert data["root"] == "0x" + checkpoint.root_hash.hex()
    assert data["gas_used"] == chain.anchor.last_gas_used and data["gas_used"] > 21000
    # The event, read back from the chain by its topics.
    contract = chain.w3.eth.contract(address=chain.contract, abi=artifact()["abi"])
    events = contract.events.CheckpointAnchored().get_logs(
        from_block=data["block_number"],
        argument_filters={"originHash": Web3.keccak(text=origin)},
    )
    assert [(e["args"]["origin"], e["args"]["size"], bytes(e["args"]["root"])) for e in events] == [
        (origin, 7, checkpoint.root_hash)
    ]
    assert events[0]["transactionHash"].hex().removeprefix("0x") == data["tx_hash"][2:]
    assert tuple(contract.functions.latest(origin).call()) == (7, checkpoint.root_hash)
    # A retry of the same checkpoint gets the first anchoring's evidence back.
    assert chain.anchor.anchor(checkpoint, note) == evidence


def test_a_smaller_size_is_refused(
    chain: Chain, make_checkpoint: MakeCheckpoint, request: pytest.FixtureRequest
) -> None:
    origin = _origin(request, chain)
    chain.anchor.anchor(*make_checkpoint(100, origin=origin))
    with pytest.raises(AnchorRefused, match=r"smaller than the latest anchored size") as refused:
        chain.anchor.anchor(*make_checkpoint(99, origin=origin))
    assert "truncated log" in refused.value.reason
    # Another origin has its own history.
    chain.anchor.anchor(*make_checkpoint(99, origin=origin + "/other"))


def test_a_second_root_for_a_recorded_size_is_refused(
    chain: Chain, make_checkpoint: MakeCheckpoint, request: pytest.FixtureRequest
) -> None:
    # A split view: the log shows two different trees of the same size.
    origin = _origin(request, chain)
    honest, honest_note = make_checkpoint(12, origin=origin)
    chain.anchor.anchor(honest, honest_note)
    forked, forked_note = make_checkpoint(12, origin=origin, root=b"\x42" * 32)
    with pytest.raises(AnchorRefused, match=r"split view"):
        chain.anchor.anchor(forked, forked_note)
    contract = chain.w3.eth.contract(address=chain.contract, abi=artifact()["abi"])
    assert bytes(contract.functions.rootAt(origin, 12).call()) == honest.root_hash
    # Growing the tree is fine.
    chain.anchor.anchor(*make_checkpoint(13, origin=origin))


def test_evidence_checks_offline_and_online(
    chain: Chain, make_checkpoint: MakeCheckpoint, request: pytest.FixtureRequest
) -> None:
    origin = _origin(request, chain)
    checkpoint, note = make_checkpoint(5, origin=origin)
    evidence = AnchorEvidence.from_json(chain.anchor.anchor(checkpoint, note).to_json())
    assert check_evidence(evidence, checkpoint, note) is None
    assert check_evidence(evidence, checkpoint, note, online=True, trust=chain.trust) is None
    reason = check_evidence(evidence, checkpoint, note, online=True)
    assert reason is not None and "needs the chain" in reason

    # Evidence shown for another checkpoint (another size, root or origin).
    for other, other_note in (
        make_checkpoint(6, origin=origin),
        make_checkpoint(5, origin=origin, root=b"\x01" * 32),
        make_checkpoint(5, origin=origin + "/x"),
    ):
        assert check_evidence(evidence, other, other_note) is not None


def _edited(evidence: AnchorEvidence, **changes: object) -> AnchorEvidence:
    return AnchorEvidence(evidence.kind, {**evidence.data, **changes})


def test_forged_evidence_is_refused_online(
    chain: Chain, make_checkpoint: MakeCheckpoint, request: pytest.FixtureRequest
) -> None:
    origin = _origin(request, chain)
    checkpoint, note = make_checkpoint(5, origin=origin)
    evidence = chain.anchor.anchor(checkpoint, note)
    later, later_note = make_checkpoint(6, origin=origin)
    later_evidence = chain.anchor.anchor(later, later_note)
    cases = {
        # another transaction of the same contract, relabelled as this checkpoint's
        "another transaction": _edited(evidence, tx_hash=later_evidence.data["tx_hash"]),
        "no transaction": _edited(evidence, tx_hash="0x" + "ab" * 32),
        "another block": _edited(evidence, block_hash="0x" + "cd" * 32),
        "another log index": _edited(evidence, log_index=evidence.data["log_index"] + 1),
        "another chain": _edited(evidence, chain_id=evidence.data["chain_id"] + 1),
    }
    for name, forged in cases.items():
        # Offline the fields still agree with the checkpoint ...
        assert check_evidence(forged, checkpoint, note) is None, name
        # ... online the chain says otherwise.
        reason = check_evidence(forged, checkpoint, note, online=True, trust=chain.trust)
        assert reason is not None, name
    malformed = _edited(evidence, tx_hash="0x12")
    assert "malformed" in (check_evidence(malformed, checkpoint, note) or "")


def test_a_contract_the_log_deployed_itself_is_not_trusted(
    chain: Chain, make_checkpoint: MakeCheckpoint, request: pytest.FixtureRequest
) -> None:
    # A log that forked its history anchors the fork in a fresh contract of its own.
    origin = _origin(request, chain)
    own = deploy_contract(chain.w3, chain.anchor.sender.key or chain.anchor.sender.address)
    rogue = EvmAnchor(chain.w3, own, chain.anchor.sender.key or chain.anchor.sender.address)
    checkpoint, note = make_checkpoint(3, origin=origin)
    evidence = rogue.anchor(checkpoint, note)
    trusted = AnchorTrust(
        evm_web3=chain.w3, evm_rpc_url=chain.trust.evm_rpc_url, evm_contracts=(chain.contract,)
    )
    reason = check_evidence(evidence, checkpoint, note, online=True, trust=trusted)
    assert reason is not None and "not a trusted one" in reason


def test_gas_per_anchor_is_measured() -> None:
    figures = measure_gas()
    assert figures.first_anchor > figures.later_anchor > 21000
    assert figures.deploy > figures.first_anchor


def test_the_node_unlocked_account_path(
    ganache: GanacheNode, make_checkpoint: MakeCheckpoint
) -> None:
    # No key here: the node signs with the account it unlocks (a development node, Besu
    # with an unlocked account, or a consortium chain's node-side signer).
    w3 = connect(ganache.url)
    address = deploy_contract(w3)
    anchor = EvmAnchor(w3, address)
    checkpoint, note = make_checkpoint(1, origin="example.org/unlocked")
    evidence = anchor.anchor(checkpoint, note)
    trust = AnchorTrust(evm_rpc_url=ganache.url, evm_contracts=(address.lower(),))
    assert check_evidence(evidence, checkpoint, note, online=True, trust=trust) is None
    # The embedded chain's evidence does not check against ganache.
    embedded = EmbeddedChain().anchor()
    other = embedded.anchor(checkpoint, note)
    reason = check_evidence(other, checkpoint, note, online=True, trust=trust)
    assert reason is not None and "not a trusted one" in reason
    reason = check_evidence(
        other, checkpoint, note, online=True, trust=AnchorTrust(evm_rpc_url=ganache.url)
    )
    assert reason is not None and reason.startswith("the chain's id is 1337")


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("contract", "zz", "malformed"),
        ("contract", 5, "malformed"),
        ("chain_id", True, "malformed"),
        ("root", None, "malformed"),
        ("origin", ["x"], "malformed"),
        ("log_index", "0", "malformed"),
        ("size", -1, "tree size -1"),
        ("size", 2**70, "tree size 1180591620717411303424"),
    ],
)
def test_hostile_evidence_fields_are_refused_with_a_reason(
    embedded_chain: EmbeddedChain,
    make_checkpoint: MakeCheckpoint,
    field: str,
    value: object,
    expected: str,
) -> None:
    checkpoint, note = make_checkpoint(4, origin=f"example.org/hostile/{field}/{value!r}")
    evidence = embedded_chain.anchor().anchor(checkpoint, note)
    reason = check_evidence(_edited(evidence, **{field: value}), checkpoint, note)
    assert reason is not None and expected in reason


def test_an_unreachable_or_odd_rpc_url_is_a_reason(
    embedded_chain: EmbeddedChain, make_checkpoint: MakeCheckpoint
) -> None:
    checkpoint, note = make_checkpoint(4, origin="example.org/unreachable")
    evidence = embedded_chain.anchor().anchor(checkpoint, note)
    closed = AnchorTrust(evm_rpc_url=f"http://127.0.0.1:{free_port()}")
    reason = check_evidence(evidence, checkpoint, note, online=True, trust=closed)
    assert reason is not None and reason.startswith("the chain could not be reached")
    odd = AnchorTrust(evm_rpc_url="ftp://127.0.0.1/")
    reason = check_evidence(evidence, checkpoint, note, online=True, trust=odd)
    assert reason is not None and "http" in reason
