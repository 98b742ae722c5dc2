"""The running API against its OpenAPI document (verifier/openapi.json), property-based.

Hypothesis draws requests from the document itself: an operation, values for its
parameters (valid ones from each parameter's schema, often junk instead), a valid,
wrong or missing token. Every answer must be a status the operation documents, with a
JSON body valid against the schema documented for that status; a request that is valid
by the document must not be refused as malformed, and a private one without the right
token must be refused as such.

Not schemathesis: it would add a dozen packages and a pytest plugin loaded into every
run of the suite, for the same check; hypothesis and jsonschema are small and enough.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import jsonschema
from console_client import get
from console_helpers import TOKEN, Filled, api_context
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from edgeseal.verifier.http_api import OPENAPI_PATH, make_api_handler
from edgeseal.verifier.http_server import HttpServer

DOC: dict[str, Any] = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
OPERATIONS = [
    (path, op) for path, item in sorted(DOC["paths"].items()) for _method, op in item.items()
]
SUCCESS = {
    "/openapi.json": "/openapi.json",
    "/gateways": "/gateways",
    "/gateways/{gateway_id}": "/gateways/gw-1",
    "/gateways/{gateway_id}/devices": "/gateways/gw-2/devices",
    "/quarantine": "/quarantine?latest=5",
    "/readings": "/readings?gateway=gw-1&limit=3",
    "/throughput": "/throughput",
    "/receipts/{gateway_id}/{device_id}/{device_seq}": "/receipts/gw-1/7/3",
}
GATEWAY_OP = DOC["paths"]["/gateways/{gateway_id}"]["get"]
READINGS_OP = DOC["paths"]["/readings"]["get"]
JUNK = st.one_of(
    st.sampled_from(["", "-1", "x", "1e3", "0x10", " 1", "1.5", "99999999999999999999999"]),
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/?#"),
        max_size=12,
    ),
)


def schema_validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({**schema, "components": DOC["components"]})


def valid_value(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    if schema.get("type") == "integer":
        low, high = schema.get("minimum", 0), schema.get("maximum", 2**63 - 1)
        # Small numbers hit stored devices and seqs (7 and 9 are the fixture's devices).
        small = st.sampled_from([v for v in (1, 2, 7, 9) if low <= v <= high] or [low])
        return st.one_of(small, st.integers(low, min(high, low + 20)), st.integers(low, high)).map(
            str
        )
    if "pattern" in schema and "A-Za-z0-9_-" in schema["pattern"]:  # a gateway id
        return st.one_of(
            st.sampled_from(["gw-1", "gw-2"]), st.from_regex(schema["pattern"], fullmatch=True)
        )
    return st.from_regex(schema["pattern"], fullmatch=True)


def combination_documented_valid(path: str, query: dict[str, int]) -> bool:
    """The rules between parameters that a schema cannot say, as the descriptions say them."""
    if path == "/readings":
        return query.get("from_us", 0) <= query.get("to_us", 2**63 - 1)
    if path == "/throughput":
        window, step = query.get("window_s", 300), query.get("step_s", 5)
        return step <= window and window // step <= 1000
    return True


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, dict[str, Any], bool, str | None]:
    path, op = draw(st.sampled_from(OPERATIONS))
    url, query, valid = path, [], True
    numbers: dict[str, int] = {}
    for param in op.get("parameters", []):
        if param["in"] == "query" and not param["required"] and draw(st.booleans()):
            continue
        if draw(st.integers(0, 4)) == 0:
            value, valid = draw(JUNK), False
        else:
            value = draw(valid_value(param["schema"]))
            if param["schema"].get("type") == "integer":
                numbers[param["name"]] = int(value)
        if param["in"] == "path":
            url = url.replace("{" + param["name"] + "}", quote(value, safe=""))
        else:
            query.append(f"{param['name']}={quote(value, safe='')}")
    valid = valid and combination_documented_valid(path, numbers)
    if query:
        url += "?" + "&".join(query)
    token = draw(st.sampled_from([TOKEN, None, "wrong-token-0123456789"]))
    return url, op, valid, token


def test_api_answers_as_its_openapi_document_says(filled: Filled) -> None:
    context = api_context(filled)
    server = HttpServer([make_api_handler(context)]).start()
    seen: set[tuple[str, int]] = set()
    try:

        @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(requests())
        # Found by this test: the server's own refusal of a NUL in the path was plain text.
        @example(("/gateways/%00", GATEWAY_OP, False, TOKEN))
        # ... and a cursor beyond SQLite's 64-bit integers was a 500 (OverflowError).
        @example(
            ("/readings?gateway=gw-1&after=0.0.0.9999999999999999999", READINGS_OP, True, TOKEN)
        )
        def check(request: tuple[str, dict[str, Any], bool, str | None]) -> None:
            url, op, valid, token = request
            status, headers, body = get(f"{server.url}/api/v1{url}", token)
            documented = op["responses"]
            assert str(status) in documented, f"{url}: {status} not documented: {body[:200]!r}"
            assert headers["Content-Type"] == "application/json"
            schema = documented[str(status)]["content"]["application/json"]["schema"]
            errors = list(schema_validator(schema).iter_errors(json.loads(body)))
            assert not errors, f"{url}: {status} body does not match: {errors[0].message}"
            public = op.get("security") == []
            if not public and token != TOKEN:
                # Nothing private without the token; only a request the server cannot
                # even route (a NUL in its path) is refused before the token is looked at.
                assert status == 401 or (status == 400 and b"request path" in body), url
            if valid and (public or token == TOKEN):
                assert status not in (400, 401, 403), f"{url}: {body[:300]!r}"
            seen.add((op["summary"], status))

        # One success per operation for sure (the draw finds them too, but not every time):
        # the coverage checked below is then the document's, not luck's.
        for path, op in OPERATIONS:
            check = example((SUCCESS[path], op, True, TOKEN))(check)
        check()
    finally:
        server.close()
        context.receipts.close()
    # The draw reached every operation with a success, and refusals of each kind.
    assert {summary for summary, status in seen if status == 200} == {
        op["summary"] for _p, op in OPERATIONS
    }
    assert {status for _s, status in seen} >= {200, 400, 401, 404}


def test_the_document_is_valid_openapi_shape() -> None:
    assert DOC["openapi"].startswith("3.1")
    for path, op in OPERATIONS:
        for status, response in op["responses"].items():
            schema = response["content"]["application/json"]["schema"]
            jsonschema.Draft202012Validator.check_schema(schema)
            assert status.isdigit(), path
