"""EVM anchor: checkpoints recorded by the CheckpointAnchor contract, through web3.py.

The contract (contracts/CheckpointAnchor.sol, compiled by scripts/compile-contract) keeps
one append-only history per log origin and refuses a smaller size or a second, different
root for a size it holds, so a log that shows two histories cannot anchor both. It runs on
any EVM chain reached over JSON-RPC (Ethereum, Hyperledger Besu, EVM consortium chains),
or in process on an eth-tester chain (py-evm), :class:`EmbeddedChain`, the default that
needs no node.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_tester.exceptions import TransactionFailed
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.exceptions import ContractLogicError, TimeExhausted, TransactionNotFound, Web3Exception

from edgeseal.anchor.evidence import AnchorError, AnchorEvidence, AnchorTrust

if TYPE_CHECKING:
    from web3.contract import Contract

    from edgeseal.tlog.checkpoint import Checkpoint

log = logging.getLogger(__name__)

KIND = "evm"
CONTRACT_NAME = "CheckpointAnchor"
ARTIFACT = Path(__file__).with_name("contracts") / f"{CONTRACT_NAME}.json"
EVENT = "CheckpointAnchored"
# The revert reason of a retry that finds its own checkpoint already there.
ALREADY_ANCHORED = "already anchored"
_HEX32 = re.compile(r"0x[0-9a-fA-F]{64}")


class AnchorRefused(AnchorError):
    """The contract refused the checkpoint; ``reason`` is its revert reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the anchor contract refused the checkpoint: {reason}")
        self.reason = reason


@cache
def artifact() -> dict[str, Any]:
    """The committed ABI and bytecode of the contract."""
    loaded: dict[str, Any] = json.loads(ARTIFACT.read_text(encoding="utf-8"))
    return loaded


def connect(rpc_url: str, *, timeout_s: float = 30.0) -> Web3:
    """A Web3 on a JSON-RPC endpoint (http or https)."""
    if not rpc_url.startswith(("http://", "https://")):
        raise ValueError(f"EVM RPC URL must be http:// or https://, not {rpc_url!r}")
    return Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout_s}))


def contract_at(w3: Web3, address: str) -> Contract:
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=artifact()["abi"])


def _revert_reason(error: Exception) -> str:
    message = getattr(error, "message", None) or str(error)
    message = str(message)
    for prefix in ("execution reverted: ", "CheckpointAnchor: "):
        if prefix in message:
            message = message.split(prefix, 1)[1]
    return message.strip()


@dataclass(frozen=True)
class _Sender:
    """Who pays for anchoring: an account the node unlocks, or a key signed with here."""

    address: ChecksumAddress
    key: LocalAccount | None

    @classmethod
    def of(cls, w3: Web3, account: str | LocalAccount | None) -> _Sender:
        if account is None:
            accounts = w3.eth.accounts
            if not accounts:
                raise AnchorError("the EVM node unlocks no account; pass a private key")
            return cls(Web3.to_checksum_address(accounts[0]), None)
        if isinstance(account, LocalAccount):
            return cls(account.address, account)
        if _HEX32.fullmatch(account):  # a private key
            local = Account.from_key(account)
            return cls(local.address, local)
        return cls(Web3.to_checksum_address(account), None)

    def send(self, w3: Web3, call: Any, timeout_s: float) -> Any:
        """Send a contract call as a transaction; its receipt, or AnchorRefused."""
        try:
            if self.key is None:
                tx_hash = call.transact({"from": self.address})
            else:
                tx = call.build_transaction(
                    {
                        "from": self.address,
                        "nonce": w3.eth.get_transaction_count(self.address, "pending"),
                        "chainId": w3.eth.chain_id,
                    }
                )
                signed = self.key.sign_transaction(tx)
                tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
        except (ContractLogicError, TransactionFailed) as e:
            raise AnchorRefused(_revert_reason(e)) from e
        try:
            receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout_s)
        except TimeExhausted as e:
            raise AnchorError(f"transaction {tx_hash.hex()} not mined in {timeout_s} s") from e
        if receipt["status"] != 1:
            raise AnchorRefused(f"transaction {tx_hash.hex()} reverted")
        return receipt


def deploy_contract(
    w3: Web3, account: str | LocalAccount | None = None, *, timeout_s: float = 60.0
) -> str:
    """Deploy CheckpointAnchor from ``account`` (default: the node's first); its address."""
    return str(_deploy(w3, account, timeout_s)["contractAddress"])


def _deploy(w3: Web3, account: str | LocalAccount | None, timeout_s: float) -> Any:
    sender = _Sender.of(w3, account)
    factory = w3.eth.contract(abi=artifact()["abi"], bytecode=artifact()["bytecode"])
    try:
        receipt = sender.send(w3, factory.constructor(), timeout_s)
    except Web3Exception as e:
        raise AnchorError(f"could not deploy the anchor contract: {e}") from e
    log.info(
        "deployed %s at %s (gas %d)", CONTRACT_NAME, receipt["contractAddress"], receipt["gasUsed"]
    )
    return receipt


class EmbeddedChain:
    """An in-process EVM chain (eth-tester on py-evm) with the contract deployed once.

    Nothing is persisted: the chain lives as long as this object. ``w3`` also serves
    online checks (``AnchorTrust(evm_web3=chain.w3)``).
    """

    def __init__(self) -> None:
        from eth_tester import EthereumTester, PyEVMBackend
        from web3 import EthereumTesterProvider

        self.w3 = Web3(EthereumTesterProvider(EthereumTester(PyEVMBackend())))
        self.account = Web3.to_checksum_address(self.w3.eth.accounts[0])
        receipt = _deploy(self.w3, self.account, 60.0)
        self.contract_address = str(receipt["contractAddress"])
        self.deploy_gas = int(receipt["gasUsed"])

    def anchor(self) -> EvmAnchor:
        return EvmAnchor(self.w3, self.contract_address, self.account)

    def trust(self) -> AnchorTrust:
        return AnchorTrust(evm_web3=self.w3, evm_contracts=(self.contract_address,))


class EvmAnchor:
    """Anchors checkpoints in the contract at ``contract_address``.

    ``chain``: a Web3, a JSON-RPC URL, or ``"embedded"`` (a new :class:`EmbeddedChain`,
    which deploys the contract; ``contract_address`` is then ignored). ``account``: an
    address the node unlocks, a private key (0x + 64 hex digits) or an eth-account
    LocalAccount; default the node's first account. ``from_block``: where a retry starts
    looking for an earlier anchoring's event (the contract's deployment block keeps the
    log query small on a long chain; public RPC providers limit its range).
    """

    kind = KIND

    def __init__(
        self,
        chain: Web3 | str,
        contract_address: str | None = None,
        account: str | LocalAccount | None = None,
        *,
        timeout_s: float = 60.0,
        from_block: int = 0,
    ) -> None:
        self.embedded: EmbeddedChain | None = None
        if isinstance(chain, str) and chain == "embedded":
            self.embedded = EmbeddedChain()
            self.w3 = self.embedded.w3
            contract_address = self.embedded.contract_address
            account = account or self.embedded.account
        elif isinstance(chain, str):
            self.w3 = connect(chain, timeout_s=timeout_s)
        else:
            self.w3 = chain
        if contract_address is None:
            raise ValueError("EvmAnchor needs the contract's address (deploy_contract makes one)")
        self.contract = contract_at(self.w3, contract_address)
        self.sender = _Sender.of(self.w3, account)
        self.timeout_s = timeout_s
        self.from_block = from_block
        self.last_gas_used: int | None = None

    def anchor(self, checkpoint: Checkpoint, note: bytes) -> AnchorEvidence:
        """Record the checkpoint; its evidence. A checkpoint anchored before (a retry)
        gets the evidence of that first anchoring; a refused one raises AnchorRefused."""
        call = self.contract.functions.anchor(
            checkpoint.origin, checkpoint.size, checkpoint.root_hash
        )
        try:
            receipt = self.sender.send(self.w3, call, self.timeout_s)
        except AnchorRefused as e:
            if e.reason == ALREADY_ANCHORED:
                found = self.find_evidence(checkpoint)
                if found is not None:
                    return found
            raise
        except Web3Exception as e:
            raise AnchorError(f"could not anchor on the EVM chain: {e}") from e
        self.last_gas_used = int(receipt["gasUsed"])
        evidence = self._evidence(receipt)
        log.debug(
            "anchored %s size %d in block %d (gas %d)",
            checkpoint.origin,
            checkpoint.size,
            receipt["blockNumber"],
            self.last_gas_used,
        )
        return evidence

    def find_evidence(self, checkpoint: Checkpoint) -> AnchorEvidence | None:
        """The evidence of an earlier anchoring of this checkpoint, read from the chain."""
        origin_hash = Web3.keccak(text=checkpoint.origin)
        topics = [
            self.contract.events.CheckpointAnchored().topic,
            "0x" + origin_hash.hex().removeprefix("0x"),
            "0x" + checkpoint.size.to_bytes(32, "big").hex(),
        ]
        logs = self.w3.eth.get_logs(
            {
                "address": self.contract.address,
                "fromBlock": self.from_block,
                "toBlock": "latest",
                "topics": topics,
            }
        )
        for entry in logs:
            receipt = self.w3.eth.get_transaction_receipt(entry["transactionHash"])
            evidence = self._evidence(receipt, log_index=int(entry["logIndex"]))
            if evidence.data["root"] == "0x" + checkpoint.root_hash.hex():
                return evidence
        return None

    def _evidence(self, receipt: Any, log_index: int | None = None) -> AnchorEvidence:
        events = self.contract.events.CheckpointAnchored().process_receipt(receipt)
        event = next(e for e in events if log_index is None or e["logIndex"] == log_index)
        args = event["args"]
        return AnchorEvidence(
            KIND,
            {
                "chain_id": int(self.w3.eth.chain_id),
                "contract": self.contract.address,
                "tx_hash": "0x" + bytes(receipt["transactionHash"]).hex(),
                "block_number": int(receipt["blockNumber"]),
                "block_hash": "0x" + bytes(receipt["blockHash"]).hex(),
                "log_index": int(event["logIndex"]),
                "origin": str(args["origin"]),
                "size": int(args["size"]),
                "root": "0x" + bytes(args["root"]).hex(),
                "gas_used": int(receipt["gasUsed"]),
            },
        )


@dataclass(frozen=True)
class GasFigures:
    """Gas used by the contract on a fresh chain."""

    deploy: int
    first_anchor: int  # the first checkpoint of an origin (new head slot)
    later_anchor: int  # each later checkpoint of the same origin


def measure_gas(origin: str = "example.org/edgeseal/log") -> GasFigures:
    """Deploy on a fresh embedded chain and anchor two checkpoints of one origin."""
    chain = EmbeddedChain()
    contract = contract_at(chain.w3, chain.contract_address)
    used = []
    for size in (1, 2):
        root = size.to_bytes(32, "big")
        tx = contract.functions.anchor(origin, size, root).transact({"from": chain.account})
        used.append(int(chain.w3.eth.wait_for_transaction_receipt(tx)["gasUsed"]))
    return GasFigures(chain.deploy_gas, used[0], used[1])


def _field(data: dict[str, Any], name: str, kind: type) -> Any:
    value = data.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ValueError(f"field {name!r} missing or not {kind.__name__}")  # noqa: TRY004
    return value


def check_evm_evidence(
    evidence: AnchorEvidence,
    checkpoint: Checkpoint,
    *,
    online: bool = False,
    trust: AnchorTrust | None = None,
) -> str | None:
    """None if the evm evidence records this checkpoint; else the reason.

    Offline: the evidence names this checkpoint's origin, size and root (and a trusted
    contract, if ``trust.evm_contracts`` is set). Online: the chain has that transaction
    in that block, its event says the same, and the contract holds that root now.
    """
    data = evidence.data
    try:
        chain_id = _field(data, "chain_id", int)
        contract = Web3.to_checksum_address(_field(data, "contract", str))
        tx_hash = _field(data, "tx_hash", str)
        block_hash = _field(data, "block_hash", str)
        _field(data, "block_number", int)
        _field(data, "log_index", int)
        origin = _field(data, "origin", str)
        size = _field(data, "size", int)
        root = _field(data, "root", str)
        for name, value in (("tx_hash", tx_hash), ("block_hash", block_hash), ("root", root)):
            if not _HEX32.fullmatch(value):
                raise ValueError(f"field {name!r} is not 0x and 64 hex digits")
    except ValueError as e:
        return f"the evm evidence is malformed: {e}"
    if origin != checkpoint.origin:
        return f"the evm evidence anchors origin {origin!r}, not {checkpoint.origin!r}"
    if size != checkpoint.size:
        return f"the evm evidence anchors tree size {size}, not {checkpoint.size}"
    if root.lower() != "0x" + checkpoint.root_hash.hex():
        return f"the evm evidence anchors root {root}, not this checkpoint's root"
    allowed = {a.lower() for a in trust.evm_contracts} if trust is not None else set()
    if allowed and contract.lower() not in allowed:
        return f"the evm evidence names contract {contract}, which is not a trusted one"
    if not online:
        return None
    w3 = None
    if trust is not None:
        w3 = trust.evm_web3
        if w3 is None and trust.evm_rpc_url:
            try:
                w3 = connect(trust.evm_rpc_url)
            except ValueError as e:
                return str(e)
    if w3 is None:
        return "an online check of an evm anchor needs the chain (an RPC URL in trust)"
    try:
        return _check_on_chain(w3, data, checkpoint, contract, chain_id)
    except Web3Exception as e:
        return f"the chain could not be read: {e}"
    except OSError as e:
        return f"the chain could not be reached: {e}"


def _check_on_chain(
    w3: Web3, data: dict[str, Any], checkpoint: Checkpoint, contract: str, chain_id: int
) -> str | None:
    if int(w3.eth.chain_id) != chain_id:
        return f"the chain's id is {w3.eth.chain_id}, not the evidence's {chain_id}"
    try:
        receipt = w3.eth.get_transaction_receipt(data["tx_hash"])
    except TransactionNotFound:
        return f"the chain has no transaction {data['tx_hash']}"
    if receipt["status"] != 1:
        return f"transaction {data['tx_hash']} failed on the chain"
    if (
        int(receipt["blockNumber"]) != data["block_number"]
        or "0x" + bytes(receipt["blockHash"]).hex() != data["block_hash"].lower()
    ):
        return (
            f"transaction {data['tx_hash']} is in block {receipt['blockNumber']}"
            f" {bytes(receipt['blockHash']).hex()}, not the evidence's block"
        )
    anchor = contract_at(w3, contract)
    events = [
        e
        for e in anchor.events.CheckpointAnchored().process_receipt(receipt)
        if e["logIndex"] == data["log_index"] and e["address"] == contract
    ]
    if not events:
        return f"transaction {data['tx_hash']} has no {EVENT} event of {contract} at that index"
    args = events[0]["args"]
    if (
        args["origin"] != checkpoint.origin
        or int(args["size"]) != checkpoint.size
        or bytes(args["root"]) != checkpoint.root_hash
        or bytes(args["originHash"]) != Web3.keccak(text=checkpoint.origin)
    ):
        return f"the {EVENT} event on the chain records another checkpoint"
    stored = bytes(anchor.functions.rootAt(checkpoint.origin, checkpoint.size).call())
    if stored != checkpoint.root_hash:
        return f"the contract holds root {stored.hex()} for this size, not the checkpoint's"
    return None
