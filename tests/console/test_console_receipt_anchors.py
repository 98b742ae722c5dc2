"""The receipt checker page on the links past the checkpoint, in a real browser opened from
a file with the network cut off: witness cosignatures (C2SP tlog-cosignature), an RFC 3161
token from a real TSA (openssl behind edgeseal.testing.tsa.LocalTsa) and EVM evidence from
the embedded chain, each checked by the browser's own WebCrypto and compared with
check_receipt on the same file."""

from __future__ import annotations

import base64
import copy
import datetime
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms
from console_helpers import save_screenshot
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from log_helpers import ORIGIN, World, full_log, store_at
from test_console_receipt_page import (  # noqa: F401 - offline_page is the page fixture
    check_in_page,
    offline_page,
    page_lines,
)
from tsa_forgery import client_auth_certificate, resigned_token

from edgeseal.anchor.evm import EmbeddedChain
from edgeseal.anchor.tsa import TsaAnchor
from edgeseal.testing import certificates
from edgeseal.testing.tsa import LocalTsa, TsaCertificates, make_certificates
from edgeseal.tlog.checkpoint import Checkpoint
from edgeseal.tlog.cosignature import CosignatureSigner
from edgeseal.verifier.receipt import ReadingRef, build_receipt, check_receipt
from edgeseal.verifier.receipt_log import LogTrust


@dataclass
class Anchored:
    world: World
    receipt: dict[str, Any]


@pytest.fixture(scope="module")
def anchored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Anchored]:
    """A v2 receipt through a real witness, a real TSA and the embedded chain."""
    chain = EmbeddedChain()
    with full_log(tmp_path_factory.mktemp("log"), chain.anchor(), chain.trust(), 4) as world:
        with store_at(world.path) as store:
            receipt = build_receipt(store, ReadingRef("gw-1", 7, 2))
        assert {a["kind"] for a in receipt["anchors"]} == {"rfc3161", "evm"}
        yield Anchored(world, receipt)


def trust_inputs(page: Any, world: World, trust: LogTrust) -> None:
    """Type into the page what ``trust`` says (the keys, the policy, the CA, contracts)."""
    roots = trust.anchors.tsa_roots if trust.anchors else ()
    contracts = trust.anchors.evm_contracts if trust.anchors else ()
    page.fill("#log-key", trust.log_key or "")
    page.fill("#witness-keys", "\n".join(trust.witness_keys))
    needed = trust.witnesses_needed
    page.fill("#witnesses-needed", "" if needed is None else str(needed))
    page.fill("#anchors-needed", str(trust.anchors_needed))
    page.fill("#tsa-ca", b"".join(roots).decode())
    page.fill("#evm-contracts", " ".join(contracts))


def compare(page: Any, tmp_path: Path, anchored: Anchored, receipt: Any, trust: LogTrust):
    """Check ``receipt`` in the page and with check_receipt under the same trust: the same
    checks with the same outcomes. The page's outcome, lines, and check_receipt's checks."""
    world = anchored.world
    trust_inputs(page, world, trust)
    outcome, rows = check_in_page(page, tmp_path, receipt, world.gw.enrolled_key)
    expected = check_receipt(receipt, expected_public_key=world.gw.enrolled_key, log_trust=trust)
    assert rows == [(c.name, c.ok) for c in expected], [c for c in expected if not c.ok]
    if all(c.ok for c in expected):
        assert outcome == "VALID", outcome
    return outcome, page_lines(page), expected


def states(lines: list[tuple[str, str, str]]) -> dict[str, str]:
    return {name: state for name, _link, state in lines}


def test_every_link_of_a_genuine_receipt_passes(
    page: Any, tmp_path: Path, anchored: Anchored
) -> None:
    world = anchored.world
    outcome, lines, _ = compare(page, tmp_path, anchored, anchored.receipt, world.trust())
    assert outcome == "VALID"
    shown = states(lines)
    for name in (
        "log inclusion",
        "witness witness-1",
        "cosignatures",
        "TSA message imprint",
        "TSA signed attributes",
        "TSA signature",
        "TSA certificate",
        "TSA gen time",
        "TSA root",
        "EVM evidence",
        "EVM checkpoint",
        "EVM contract",
        "anchored",
    ):
        assert shown[name] == "ok", (name, page.inner_text("#checks"))
    # The chain is not re-read in the browser, and the page says so.
    assert shown["EVM chain"] == "skipped"
    text = page.inner_text("#checks")
    assert "check-receipt --online" in text
    tsa = next(a for a in anchored.receipt["anchors"] if a["kind"] == "rfc3161")
    evm = next(a for a in anchored.receipt["anchors"] if a["kind"] == "evm")
    assert tsa["gen_time"] in text and evm["tx_hash"] in text and f"chain {evm['chain_id']}" in text
    assert "witness-1+" in text and "cosigned the checkpoint at" in text
    save_screenshot(page, "console-receipt-anchors.png")


def test_without_witness_keys_or_a_ca_the_page_says_what_it_did_not_check(
    page: Any, tmp_path: Path, anchored: Anchored
) -> None:
    world = anchored.world
    bare = LogTrust(log_key=world.log_key.verifier_key(), anchors_needed=2)
    outcome, lines, _ = compare(page, tmp_path, anchored, anchored.receipt, bare)
    shown = states(lines)
    assert shown["cosignatures"] == "skipped" and shown["TSA root"] == "skipped"
    assert shown["EVM contract"] == "skipped"
    text = page.inner_text("#checks")
    assert "not checked: no witness key given" in text and "witness-1" in text
    assert "TSA certificate not checked against a root" in text
    assert outcome == "VALID"  # as check_receipt offline with no witness key and no CA
    assert "Not checked by this page: cosignatures, TSA root, EVM contract, EVM chain" in (
        page.inner_text("#summary")
    )
    # Witnesses asked for without a key to check them: never valid.
    page.fill("#witnesses-needed", "1")
    page.dispatch_event("#witnesses-needed", "change")
    page.wait_for_function("document.getElementById('outcome').className === 'invalid'")
    assert page.inner_text("#outcome").startswith("INVALID: the cosignatures check failed")


def checkpoint_of(receipt: dict[str, Any]) -> Checkpoint:
    note = receipt["log"]["checkpoint"]
    origin, size, root = note[: note.index("\n\n")].split("\n")[:3]
    return Checkpoint(origin, int(size), base64.b64decode(root))


def test_the_witness_policy_counts_witnesses_not_lines(
    page: Any, tmp_path: Path, anchored: Anchored
) -> None:
    world = anchored.world
    receipt = copy.deepcopy(anchored.receipt)
    # witness-1 cosigns a second time, at another time: still one witness.
    again = world.witness_key.sign(checkpoint_of(receipt), 1_700_000_000).line()
    receipt["log"]["checkpoint"] += again
    absent = CosignatureSigner("witness-2", Ed25519PrivateKey.generate()).verifier_key()
    trust = world.trust()
    two_keys = replace(trust, witness_keys=(*trust.witness_keys, absent), witnesses_needed=1)
    outcome, lines, _ = compare(page, tmp_path, anchored, receipt, two_keys)
    assert outcome == "VALID"
    assert states(lines)["witness witness-2"] == "note"
    assert "did not cosign" in page.inner_text("#checks li[data-check='witness witness-2']")
    assert "1700000000 (2023-11-14T22:13:20Z)" in page.inner_text(
        "#checks li[data-check='witness witness-1']"
    )
    trust_inputs(page, world, replace(two_keys, witnesses_needed=2))
    outcome, _rows = check_in_page(page, tmp_path, receipt, world.gw.enrolled_key)
    assert outcome.startswith("INVALID: the cosignatures check failed"), outcome
    assert "1 of the trusted witnesses cosigned" in page.inner_text(
        "#checks li[data-check='cosignatures']"
    )


def flip_cosignature(receipt: dict[str, Any], witness: str) -> None:
    lines = receipt["log"]["checkpoint"].split("\n")
    for i, line in enumerate(lines):
        if line.startswith(f"\u2014 {witness} "):
            raw = bytearray(base64.b64decode(line.split(" ")[2]))
            raw[4 + 8 + 10] ^= 0x01  # inside the Ed25519 signature, after key id and time
            lines[i] = f"\u2014 {witness} {base64.b64encode(bytes(raw)).decode()}"
            break
    else:
        raise AssertionError(f"no cosignature by {witness}")
    receipt["log"]["checkpoint"] = "\n".join(lines)


def evidence(receipt: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(a for a in receipt["anchors"] if a["kind"] == kind)


def broken_token_signature(token_b64: str) -> str:
    # The SignerInfo's signature is the token's last element (no unsigned attributes): its
    # last byte is the ECDSA s value's, so the DER stays well formed.
    token = bytearray(base64.b64decode(token_b64))
    token[-1] ^= 0x01
    return base64.b64encode(bytes(token)).decode()


def test_each_tampered_link_is_named(page: Any, tmp_path: Path, anchored: Anchored) -> None:
    world = anchored.world
    other_hash = TsaAnchor(world.tsa.url).anchor(Checkpoint(ORIGIN, 9, bytes(32)), b"")

    def cosignature(r: dict[str, Any]) -> None:
        flip_cosignature(r, "witness-1")

    def tsa_other_hash(r: dict[str, Any]) -> None:
        evidence(r, "rfc3161")["token"] = other_hash.data["token"]

    def tsa_signature(r: dict[str, Any]) -> None:
        e = evidence(r, "rfc3161")
        e["token"] = broken_token_signature(e["token"])

    def evm_root(r: dict[str, Any]) -> None:
        evidence(r, "evm")["root"] = "0x" + "ab" * 32

    cases = {
        "cosignature byte": (cosignature, "witness witness-1", "cosignatures"),
        "TSA token for another hash": (tsa_other_hash, "TSA message imprint", "anchor rfc3161"),
        "TSA signature broken": (tsa_signature, "TSA signature", "anchor rfc3161"),
        "EVM other root": (evm_root, "EVM checkpoint", "anchor evm"),
    }
    for name, (change, line, link) in cases.items():
        receipt = copy.deepcopy(anchored.receipt)
        change(receipt)
        outcome, lines, expected = compare(page, tmp_path, anchored, receipt, world.trust())
        first = next(c.name for c in expected if not c.ok)
        assert first == link, (name, first)
        shown = states(lines)
        if link == "cosignatures":
            # The witness did not count; the policy line is what fails.
            assert shown[line] == "note" and shown["cosignatures"] == "fail", lines
            assert "does NOT verify" in page.inner_text(f"#checks li[data-check='{line}']")
            assert outcome.startswith("INVALID: the cosignatures check failed"), outcome
        else:
            failed = [n for n, _link, s in lines if s == "fail"]
            assert failed[0] == line, (name, lines)
            assert outcome.startswith(f"INVALID: the {line} check failed ({link})"), outcome
        # With both anchors needed, one broken anchor leaves the receipt unanchored too.
        assert shown.get("anchored") == ("ok" if link == "cosignatures" else "fail")


def test_the_tsa_root_is_checked_against_the_ca_given(
    page: Any, tmp_path: Path, anchored: Anchored
) -> None:
    world = anchored.world
    stranger = make_certificates("another TSA").ca_pem
    trust = world.trust()
    assert trust.anchors is not None
    other_root = replace(trust, anchors=replace(trust.anchors, tsa_roots=(stranger,)))
    outcome, lines, _ = compare(page, tmp_path, anchored, anchored.receipt, other_root)
    assert states(lines)["TSA root"] == "fail", lines
    assert outcome.startswith("INVALID: the TSA root check failed (anchor rfc3161)"), outcome
    # Either of two CAs will do, as for check_receipt.
    both = replace(trust, anchors=replace(trust.anchors, tsa_roots=(stranger, world.tsa.ca_pem)))
    outcome, lines, _ = compare(page, tmp_path, anchored, anchored.receipt, both)
    assert outcome == "VALID" and states(lines)["TSA root"] == "ok"
    # Another contract than the trusted one: refused by both.
    elsewhere = replace(trust, anchors=replace(trust.anchors, evm_contracts=("0x" + "12" * 20,)))
    outcome, lines, _ = compare(page, tmp_path, anchored, anchored.receipt, elsewhere)
    assert outcome.startswith("INVALID: the EVM contract check failed (anchor evm)"), outcome


def tsa_certificates(kind: str, *, ca_is_ca: bool = True) -> TsaCertificates:
    """A CA and a TSA certificate with ``kind`` keys ("rsa": openssl ts then signs with
    PKCS#1 v1.5; "p384": ECDSA on P-384), CA signatures of the same kind. ``ca_is_ca``
    False: the "CA" is an end entity (basic constraints cA false) that signed anyway."""

    def new_key() -> Any:
        if kind == "rsa":
            return rsa.generate_private_key(65537, 2048)
        return ec.generate_private_key(ec.SECP384R1())

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, tsa_key = new_key(), new_key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"edgeseal {kind} test CA")])

    def cert(subject: x509.Name, key: Any, extensions: list[tuple[Any, bool]]) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
        )
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical)
        return builder.sign(ca_key, hashes.SHA384() if kind == "p384" else hashes.SHA256())

    def usage(*, sign: bool, certify: bool) -> x509.KeyUsage:
        return certificates.key_usage(
            digital_signature=sign, content_commitment=sign, key_cert_sign=certify, crl_sign=certify
        )

    # The extensions a TSA chain needs to pass OpenSSL's (rfc3161-client's) path checks.
    ca = cert(
        ca_name,
        ca_key,
        [
            (x509.BasicConstraints(ca=ca_is_ca, path_length=0 if ca_is_ca else None), True),
            (usage(sign=not ca_is_ca, certify=ca_is_ca), True),
            (x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False),
        ],
    )
    tsa_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"edgeseal {kind} test TSA")])
    tsa = cert(
        tsa_name,
        tsa_key,
        [
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (usage(sign=True, certify=False), True),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), True),
            (x509.SubjectKeyIdentifier.from_public_key(tsa_key.public_key()), False),
            (x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False),
        ],
    )
    pem = serialization.Encoding.PEM
    return TsaCertificates(
        ca.public_bytes(pem),
        tsa.public_bytes(pem),
        tsa_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )


def resigned_with_pss(token_b64: str, key_pem: bytes) -> str:
    """The RSA token with its SignerInfo re-signed as RSASSA-PSS (SHA-256, MGF1-SHA-256,
    salt 32): openssl ts signs PKCS#1 v1.5 only, some TSAs sign PSS."""
    key = serialization.load_pem_private_key(key_pem, None)
    assert isinstance(key, rsa.RSAPrivateKey)
    info = cms.ContentInfo.load(base64.b64decode(token_b64))
    signer = info["content"]["signer_infos"][0]
    signer["signature_algorithm"] = {
        "algorithm": "rsassa_pss",
        "parameters": {
            "hash_algorithm": {"algorithm": "sha256"},
            "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": "sha256"}},
            "salt_length": 32,
        },
    }
    to_sign = b"\x31" + signer["signed_attrs"].dump()[1:]
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    signer["signature"] = key.sign(to_sign, pss, hashes.SHA256())
    return base64.b64encode(info.dump(force=True)).decode()


def stamped_by_another_tsa(
    anchored: Anchored, certificates: TsaCertificates
) -> tuple[dict[str, Any], LogTrust]:
    """The receipt with its RFC 3161 token from a TSA holding ``certificates`` (and its EVM
    evidence), and the trust whose only TSA root is that TSA's CA."""
    checkpoint_text = anchored.receipt["log"]["checkpoint"]
    with LocalTsa(certificates=certificates) as other_tsa:
        token = TsaAnchor(other_tsa.url).anchor(
            checkpoint_of(anchored.receipt), checkpoint_text.encode()
        )
    receipt = copy.deepcopy(anchored.receipt)
    receipt["anchors"] = [token.to_json(), evidence(receipt, "evm")]
    trust = anchored.world.trust()
    assert trust.anchors is not None
    own_root = replace(trust, anchors=replace(trust.anchors, tsa_roots=(certificates.ca_pem,)))
    return receipt, own_root


@pytest.mark.parametrize("kind", ["rsa", "p384"])
def test_tsa_tokens_of_other_key_types(
    page: Any, tmp_path: Path, anchored: Anchored, kind: str
) -> None:
    """TSAs with RSA keys (PKCS#1 v1.5 as many public TSAs, and RSA-PSS) and with a P-384
    key: the page checks their tokens and roots as check_receipt does."""
    certificates = tsa_certificates(kind)
    receipt, own_root = stamped_by_another_tsa(anchored, certificates)
    outcome, lines, _ = compare(page, tmp_path, anchored, receipt, own_root)
    assert outcome == "VALID" and states(lines)["TSA root"] == "ok"
    signature_line = page.inner_text("#checks li[data-check='TSA signature']")
    assert ("RSA PKCS#1 v1.5" if kind == "rsa" else "ECDSA SHA-256") in signature_line
    good_token = receipt["anchors"][0]["token"]
    receipt["anchors"][0]["token"] = broken_token_signature(good_token)
    outcome, _lines, _ = compare(page, tmp_path, anchored, receipt, own_root)
    assert outcome.startswith("INVALID: the TSA signature check failed"), outcome
    if kind != "rsa":
        return
    # RSA-PSS, compared without a root: check_receipt's chain step (rfc3161-client, on
    # OpenSSL's PKCS7 code) refuses PSS signatures whatever the CA.
    assert own_root.anchors is not None
    no_root = replace(own_root, anchors=replace(own_root.anchors, tsa_roots=()))
    receipt["anchors"][0]["token"] = resigned_with_pss(good_token, certificates.tsa_key_pem)
    outcome, _lines, _ = compare(page, tmp_path, anchored, receipt, no_root)
    assert outcome == "VALID", page.inner_text("#checks")
    assert "RSA-PSS" in page.inner_text("#checks li[data-check='TSA signature']")
    receipt["anchors"][0]["token"] = broken_token_signature(receipt["anchors"][0]["token"])
    outcome, _lines, _ = compare(page, tmp_path, anchored, receipt, no_root)
    assert outcome.startswith("INVALID: the TSA signature check failed"), outcome


def test_a_root_that_is_no_ca_is_refused(page: Any, tmp_path: Path, anchored: Anchored) -> None:
    receipt, not_a_ca = stamped_by_another_tsa(anchored, tsa_certificates("p384", ca_is_ca=False))
    outcome, _lines, _ = compare(page, tmp_path, anchored, receipt, not_a_ca)
    assert outcome.startswith("INVALID: the TSA root check failed"), outcome
    assert "is not a CA" in page.inner_text("#checks li[data-check='TSA root']")


def forged_token(tsa: LocalTsa, token_b64: str, *, name_new_cert: bool) -> str:
    """The token carrying a certificate of the TSA's own key for client authentication
    instead of time stamping, re-signed with that key (the anchor tests' forgery)."""
    token = base64.b64decode(token_b64)
    forged = resigned_token(tsa, token, client_auth_certificate(tsa), name_new_cert=name_new_cert)
    return base64.b64encode(forged).decode()


def test_a_token_signed_by_a_certificate_not_for_time_stamping(
    page: Any, tmp_path: Path, anchored: Anchored
) -> None:
    world = anchored.world
    good = evidence(anchored.receipt, "rfc3161")["token"]
    for name_new_cert, line, reason in (
        (True, "TSA certificate", "not for time stamping"),
        (False, "TSA signed attributes", "names another signing certificate"),
    ):
        receipt = copy.deepcopy(anchored.receipt)
        token = forged_token(world.tsa, good, name_new_cert=name_new_cert)
        evidence(receipt, "rfc3161")["token"] = token
        outcome, _lines, expected = compare(page, tmp_path, anchored, receipt, world.trust())
        assert outcome.startswith(f"INVALID: the {line} check failed (anchor rfc3161)"), outcome
        assert reason in page.inner_text(f"#checks li[data-check='{line}']")
        assert any(reason in c.detail for c in expected if c.name == "anchor rfc3161")


def test_the_der_reader_is_strict(page: Any, tmp_path: Path, anchored: Anchored) -> None:
    """BER the token must not be in: a length in more octets than needed, an indefinite
    length. The page names the encoding rule, whatever other readers make of it."""
    world = anchored.world
    good = base64.b64decode(evidence(anchored.receipt, "rfc3161")["token"])
    assert good[:2] == b"\x30\x82", good[:4].hex()  # SEQUENCE, length in two octets
    body = good[4:]
    variants = {
        "not minimally encoded": b"\x30\x83\x00" + good[2:],
        "indefinite length": b"\x30\x80" + body + b"\x00\x00",
    }
    trust_inputs(page, world, world.trust())
    for rule, token in variants.items():
        receipt = copy.deepcopy(anchored.receipt)
        evidence(receipt, "rfc3161")["token"] = base64.b64encode(token).decode()
        outcome, _rows = check_in_page(page, tmp_path, receipt, world.gw.enrolled_key)
        assert outcome.startswith("INVALID: the TSA message imprint check failed"), outcome
        assert rule in page.inner_text("#checks li[data-check='TSA message imprint']"), rule


def test_damaged_tokens_get_the_verdict_check_receipt_gives(
    page: Any, tmp_path: Path, anchored: Anchored
) -> None:
    """Bit flips spread over the whole token and truncations: the page's strict DER reader
    never hangs or throws, and its verdict is check_receipt's (a byte outside what is
    signed and read, e.g. the SignedData version, may stay valid in both)."""
    world = anchored.world
    good = base64.b64decode(evidence(anchored.receipt, "rfc3161")["token"])
    damaged = [good[:n] for n in (0, 2, len(good) // 2, len(good) - 1)]
    for at in range(0, len(good), max(1, len(good) // 12)):
        flipped = bytearray(good)
        flipped[at] ^= 0x04
        damaged.append(bytes(flipped))
    trust = world.trust()
    verdicts = []
    for token in damaged:
        receipt = copy.deepcopy(anchored.receipt)
        evidence(receipt, "rfc3161")["token"] = base64.b64encode(token).decode()
        outcome, lines, expected = compare(page, tmp_path, anchored, receipt, trust)
        verdicts.append(all(c.ok for c in expected))
        assert outcome == "VALID" if verdicts[-1] else outcome.startswith("INVALID"), outcome
        assert "checker" not in states(lines), page.inner_text("#checks")
    assert verdicts.count(False) >= len(damaged) - 3, verdicts
