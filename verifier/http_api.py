"""The console's read-only JSON API under ``/api/v1/`` (documented in verifier/openapi.json).

Public: the OpenAPI document itself. Everything else needs ``Authorization: Bearer
<token>`` with one of the ``[http] tokens``, compared in constant time. Every mistake a
client can make (unknown id, malformed number or range, page too large, unknown or
repeated parameter, missing or wrong token) is a 4xx with a JSON ``{"error": ...}``
that says what to change.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeseal.verifier.api_queries import ApiQueries, QueryError, parse_cursor
from edgeseal.verifier.gateway_status import StatusBoard
from edgeseal.verifier.http_types import Handler, HttpRequest, HttpResponse
from edgeseal.verifier.receipt import ReadingRef, ReceiptError, build_receipt
from edgeseal.verifier.store import StoreError, VerifierStore
from edgeseal.verifier.store_postgres import describe
from edgeseal.wire.record import GATEWAY_ID_RE

log = logging.getLogger(__name__)

PREFIX = "/api/v1/"
OPENAPI_PATH = Path(__file__).with_name("openapi.json")
MAX_PAGE = 1000
DEFAULT_PAGE = 100
MAX_LATEST = 100
# SQLite stores u64 times bit for bit in signed 64-bit integers: ranges stay below 2^63.
MAX_TIME_US = 2**63 - 1
_U32 = 2**32 - 1


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: tuple[tuple[str, str], ...] = ()):
        super().__init__(message)
        self.status = status
        self.headers = headers


def json_response(
    status: int, data: Any, headers: tuple[tuple[str, str], ...] = ()
) -> HttpResponse:
    body = (json.dumps(data, separators=(",", ":"), sort_keys=False) + "\n").encode()
    return HttpResponse(
        status,
        body,
        "application/json",
        (
            ("Cache-Control", "no-store"),
            ("Content-Security-Policy", "default-src 'none'"),
            *headers,
        ),
    )


def error_response(exc: ApiError) -> HttpResponse:
    return json_response(exc.status, {"error": str(exc)}, exc.headers)


@dataclass
class Receipts:
    """Builds receipts on one store connection, one at a time (verifier/receipt.py)."""

    store_path: Path | str  # the SQLite file or a PostgreSQL URL
    _store: VerifierStore | None = None

    @property
    def where(self) -> str:
        return describe(self.store_path)

    _lock: threading.Lock = field(default_factory=threading.Lock)

    def build(self, ref: ReadingRef) -> dict[str, Any]:
        with self._lock:
            if self._store is None:
                self._store = VerifierStore(self.store_path, synchronous="normal")
            return build_receipt(self._store, ref)

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None


@dataclass
class ApiContext:
    queries: ApiQueries
    enrolled: Mapping[str, bytes]
    tokens: tuple[str, ...]
    receipts: Receipts
    status: StatusBoard | None = None
    # Wall clock in microseconds (tests may pin it).
    clock_us: Callable[[], int] = field(default=lambda: time.time_ns() // 1000)


# -- parameters -------------------------------------------------------------------------


class Params:
    """The query string of one request: every name known, none repeated."""

    def __init__(self, query: Mapping[str, list[str]], known: frozenset[str]) -> None:
        unknown = sorted(set(query) - known)
        if unknown:
            names = ", ".join(sorted(known)) or "none"
            raise ApiError(400, f"unknown query parameter(s) {', '.join(unknown)}; known: {names}")
        for name, values in query.items():
            if len(values) != 1:
                raise ApiError(
                    400, f"query parameter {name} given {len(values)} times; give it once"
                )
        self._q = {k: v[0] for k, v in query.items()}

    def text(self, name: str) -> str | None:
        return self._q.get(name)

    def integer(self, name: str, default: int | None, low: int, high: int) -> int | None:
        raw = self._q.get(name)
        if raw is None:
            return default
        if not re.fullmatch(r"[0-9]{1,20}", raw):
            raise ApiError(400, f"{name}={raw!r}: give a whole number from {low} to {high}")
        value = int(raw)
        if not low <= value <= high:
            raise ApiError(400, f"{name}={value} is outside {low}..{high}")
        return value


def _path_int(text: str, what: str, high: int) -> int:
    if not re.fullmatch(r"[0-9]{1,10}", text) or int(text) > high:
        raise ApiError(400, f"{what} {text!r}: give a whole number from 0 to {high}")
    return int(text)


def _gateway_id(text: str) -> str:
    if GATEWAY_ID_RE.fullmatch(text) is None:
        raise ApiError(400, f"gateway id {text!r}: 1 to 64 characters from A-Z a-z 0-9 _ -")
    return text


# -- the handler ---------------------------------------------------------------------


def make_api_handler(context: ApiContext) -> Handler:
    """The Handler for ``/api/v1/...``; None for every other path."""
    openapi = OPENAPI_PATH.read_bytes()
    api = _Api(context)

    def handle(request: HttpRequest) -> HttpResponse | None:
        if not (request.path + "/").startswith(PREFIX):
            return None
        try:
            if request.method != "GET":
                raise ApiError(
                    405,
                    f"{request.method} is not allowed: the API is read-only (GET, HEAD)",
                    (("Allow", "GET, HEAD"),),
                )
            rest = request.path[len(PREFIX) :]
            if rest == "openapi.json":
                Params(request.query, frozenset())
                return HttpResponse(
                    200, openapi, "application/json", (("Cache-Control", "no-cache"),)
                )
            _authorize(request, context.tokens)
            return api.route(rest, request)
        except ApiError as exc:
            return error_response(exc)
        except QueryError as exc:
            return error_response(ApiError(503, str(exc)))

    return handle


def _authorize(request: HttpRequest, tokens: tuple[str, ...]) -> None:
    challenge = (("WWW-Authenticate", 'Bearer realm="edgeseal"'),)
    if not tokens:
        raise ApiError(
            403, "the API's data is off: the verifier's [http] section configures no tokens"
        )
    header = request.headers.get("authorization")
    if header is None:
        raise ApiError(
            401, "this needs a bearer token: send 'Authorization: Bearer <token>'", challenge
        )
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise ApiError(401, "the Authorization header must be 'Bearer <token>'", challenge)
    presented = given.strip().encode()
    # Compare with every configured token, without stopping at the first match, so the
    # time taken says nothing about which token (or how much of one) was right.
    matched = False
    for token in tokens:
        matched |= hmac.compare_digest(presented, token.encode())
    if not matched:
        raise ApiError(
            401, "the bearer token is not one of the verifier's [http] tokens", challenge
        )


class _Api:
    def __init__(self, context: ApiContext) -> None:
        self.c = context

    def route(self, rest: str, request: HttpRequest) -> HttpResponse:
        parts = rest.split("/")
        q = request.query
        match parts:
            case ["gateways"]:
                Params(q, frozenset())
                return json_response(200, {"gateways": self._gateways()})
            case ["gateways", gw]:
                Params(q, frozenset())
                return json_response(200, self._gateway(_gateway_id(gw)))
            case ["gateways", gw, "devices"]:
                Params(q, frozenset())
                return json_response(200, self._devices(_gateway_id(gw)))
            case ["quarantine"]:
                return json_response(
                    200, self._quarantine(Params(q, frozenset({"gateway", "latest"})))
                )
            case ["readings"]:
                return json_response(200, self._readings(Params(q, _READING_PARAMS)))
            case ["throughput"]:
                return json_response(
                    200, self._throughput(Params(q, frozenset({"window_s", "step_s"})))
                )
            case ["receipts", gw, device, seq]:
                params = Params(q, frozenset({"boot"}))
                return self._receipt(gw, device, seq, params)
        raise ApiError(404, f"no API endpoint {PREFIX}{rest}; see {PREFIX}openapi.json")

    # -- gateways and devices -----------------------------------------------------------

    def _with_status(self, view: dict[str, Any]) -> dict[str, Any]:
        board = self.c.status
        view["status"] = (
            board.get(view["gateway_id"])
            if board is not None
            else {"state": "unknown", "reason": "status topics not watched", "heard_us": None}
        )
        return view

    def _gateways(self) -> list[dict[str, Any]]:
        views = self.c.queries.gateways(self.c.enrolled, self.c.clock_us())
        return [self._with_status(v) for v in views]

    def _known(self, gateway_id: str) -> None:
        if gateway_id not in self.c.enrolled and not self.c.queries.has_gateway(gateway_id):
            raise ApiError(404, f"no gateway {gateway_id!r}: not enrolled and no batch stored")

    def _gateway(self, gateway_id: str) -> dict[str, Any]:
        self._known(gateway_id)
        views = self.c.queries.gateways(
            {gateway_id: self.c.enrolled[gateway_id]} if gateway_id in self.c.enrolled else {},
            self.c.clock_us(),
        )
        view = next((v for v in views if v["gateway_id"] == gateway_id), None)
        if view is None:
            raise ApiError(404, f"no gateway {gateway_id!r}")
        view = self._with_status(view)
        view["key_history"] = self.c.queries.key_history(
            gateway_id, self.c.enrolled.get(gateway_id)
        )
        return view

    def _devices(self, gateway_id: str) -> dict[str, Any]:
        self._known(gateway_id)
        kept, boots = self.c.queries.device_boots(gateway_id)
        return {"gateway_id": gateway_id, "accounts_kept": kept, "boots": boots}

    # -- quarantine, readings, throughput ---------------------------------------------

    def _quarantine(self, p: Params) -> dict[str, Any]:
        gw = p.text("gateway")
        latest = p.integer("latest", 20, 1, MAX_LATEST)
        assert latest is not None
        return self.c.queries.quarantine(
            latest=latest, gateway_id=_gateway_id(gw) if gw is not None else None
        )

    def _readings(self, p: Params) -> dict[str, Any]:
        gw_text = p.text("gateway")
        if gw_text is None:
            raise ApiError(
                400, "readings need gateway=<id> (and optionally device, from_us, to_us)"
            )
        gw = _gateway_id(gw_text)
        self._known(gw)
        device = p.integer("device", None, 0, _U32)
        from_us = p.integer("from_us", 0, 0, MAX_TIME_US)
        to_us = p.integer("to_us", MAX_TIME_US, 0, MAX_TIME_US)
        limit = p.integer("limit", DEFAULT_PAGE, 1, MAX_PAGE)
        assert from_us is not None and to_us is not None and limit is not None
        if from_us > to_us:
            raise ApiError(400, f"from_us={from_us} is after to_us={to_us}: give from_us <= to_us")
        after_text = p.text("after")
        try:
            after = parse_cursor(after_text) if after_text is not None else None
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        page = self.c.queries.readings(
            gw, device_id=device, from_us=from_us, to_us=to_us, limit=limit, after=after
        )
        return {"readings": page.items, "next_after": page.next_after}

    def _throughput(self, p: Params) -> dict[str, Any]:
        window = p.integer("window_s", 300, 10, 86400)
        step = p.integer("step_s", 5, 1, 3600)
        assert window is not None and step is not None
        if window // step > 1000 or step > window:
            raise ApiError(400, f"window_s/step_s = {window // step} buckets: give 1 to 1000")
        now = self.c.clock_us()
        return {
            "now_us": now,
            "series": self.c.queries.throughput(now_us=now, window_s=window, step_s=step),
        }

    # -- receipts -----------------------------------------------------------------------

    def _receipt(self, gw: str, device: str, seq: str, p: Params) -> HttpResponse:
        ref = ReadingRef(
            _gateway_id(gw),
            _path_int(device, "device", _U32),
            _path_int(seq, "seq", _U32),
            p.integer("boot", None, 0, _U32),
        )
        try:
            receipt = self.c.receipts.build(ref)
        except ReceiptError as exc:
            # The store's path is the operator's business, not the client's.
            message = (
                str(exc)
                .replace(f" in {self.c.receipts.where}", "")
                .replace("choose one with --boot", "choose one with ?boot=<id>")
            )
            status = 409 if "several device boots" in message else 404
            raise ApiError(status, message) from None
        except StoreError as exc:
            raise ApiError(503, str(exc)) from None
        name = f"receipt-{ref.gateway_id}-{ref.device_id}-{ref.device_seq}.json"
        return json_response(
            200, receipt, (("Content-Disposition", f'attachment; filename="{name}"'),)
        )


_READING_PARAMS = frozenset({"gateway", "device", "from_us", "to_us", "limit", "after"})
