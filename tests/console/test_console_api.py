"""The console's API on a real server and a real store: what it shows, and how it
refuses bad requests (unknown ids, malformed ranges, huge pages, missing or wrong token)."""

from __future__ import annotations

import json

import pytest
from console_client import get, get_json
from console_helpers import TOKEN, Filled, api_context

from edgeseal.verifier.http_api import make_api_handler
from edgeseal.verifier.http_server import HttpServer
from edgeseal.verifier.http_types import HttpRequest
from edgeseal.verifier.receipt import check_receipt


def test_gateways_show_chain_state_keys_and_status(served) -> None:
    server, filled = served
    status, body = get_json(f"{server.url}/api/v1/gateways", TOKEN)
    assert status == 200
    by_id = {g["gateway_id"]: g for g in body["gateways"]}
    gw1, gw2 = by_id["gw-1"], by_id["gw-2"]
    assert gw1["head_seq"] == 3 and gw1["chain_state"] == "live" and gw1["held"] == 0
    assert gw1["enrolled_key"] == filled.gw1.enrolled_key.hex()
    assert gw1["current_key"] == filled.gw1.public_key.hex() != gw1["enrolled_key"]
    assert gw1["readings_per_s"] == pytest.approx(15 / 60, abs=0.01)
    assert gw1["status"]["state"] == "online"
    assert gw2["chain_state"] == "gap" and gw2["waiting_for_seq"] == 2 and gw2["held"] == 1
    assert gw2["status"] == {
        "state": "unknown",
        "reason": "no status message heard",
        "heard_us": None,
    }

    status, one = get_json(f"{server.url}/api/v1/gateways/gw-1", TOKEN)
    assert status == 200
    assert [k["public_key"] for k in one["key_history"]] == [
        filled.gw1.enrolled_key.hex(),
        filled.gw1.public_key.hex(),
    ]
    assert one["key_history"][1]["from_seq"] == 3


def test_devices_quarantine_readings_throughput(served) -> None:
    server, _filled = served
    status, devices = get_json(f"{server.url}/api/v1/gateways/gw-1/devices", TOKEN)
    assert status == 200
    assert devices["accounts_kept"] is True
    (boot,) = devices["boots"]
    # The completeness account the pipeline keeps (verifier/accounts.py), as it says.
    assert (boot["device_id"], boot["boot_id"], boot["stored"], boot["last_seq"]) == (7, 1, 15, 14)
    assert boot["status"] == "complete" and boot["lost"] == 0 and boot["gaps"] == []
    status, q = get_json(f"{server.url}/api/v1/quarantine", TOKEN)
    assert status == 200 and q["total"] == 1
    (item,) = q["latest"]
    assert item["gateway_id"] == "gw-2" and item["reason"] in q["by_reason"]
    status, q1 = get_json(f"{server.url}/api/v1/quarantine?gateway=gw-1", TOKEN)
    assert status == 200 and q1 == {"by_reason": {}, "total": 0, "latest": []}

    # Readings page by page: 15 readings of gw-1 in pages of 4, nothing lost or repeated.
    seen, after = [], None
    while True:
        url = f"{server.url}/api/v1/readings?gateway=gw-1&limit=4"
        status, page = get_json(url + (f"&after={after}" if after else ""), TOKEN)
        assert status == 200
        seen += [r["device_seq"] for r in page["readings"]]
        after = page["next_after"]
        if after is None:
            break
    assert seen == list(range(15))
    t0 = 1_700_000_000_000_000
    status, ranged = get_json(
        f"{server.url}/api/v1/readings?gateway=gw-1&device=7&from_us={t0 + 3000}&to_us={t0 + 6000}",
        TOKEN,
    )
    assert [r["device_seq"] for r in ranged["readings"]] == [3, 4, 5]
    assert ranged["readings"][0]["batch_seq"] == 1
    status, tp = get_json(f"{server.url}/api/v1/throughput?window_s=60&step_s=10", TOKEN)
    assert status == 200
    totals = {s["gateway_id"]: sum(s["readings"]) for s in tp["series"]}
    assert totals == {"gw-1": 15, "gw-2": 3}


def test_receipt_download_checks(served) -> None:
    server, filled = served
    status, headers, body = get(f"{server.url}/api/v1/receipts/gw-1/7/12", TOKEN)
    assert status == 200 and "attachment" in headers["Content-Disposition"]
    receipt = json.loads(body)
    checks = check_receipt(receipt, expected_public_key=filled.gw1.enrolled_key)
    assert all(c.ok for c in checks), checks
    status, missing = get_json(f"{server.url}/api/v1/receipts/gw-1/7/99", TOKEN)
    assert status == 404 and "gw-1/7/99" in missing["error"]
    assert str(filled.path) not in missing["error"]


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/api/v1/gateways/nope", 404, "no gateway 'nope'"),
        ("/api/v1/gateways/bad%20id", 400, "gateway id"),
        ("/api/v1/gateways/nope/devices", 404, "no gateway"),
        ("/api/v1/readings", 400, "gateway=<id>"),
        ("/api/v1/readings?gateway=nope", 404, "no gateway"),
        ("/api/v1/readings?gateway=gw-1&limit=1001", 400, "limit=1001 is outside 1..1000"),
        ("/api/v1/readings?gateway=gw-1&limit=0", 400, "outside"),
        ("/api/v1/readings?gateway=gw-1&from_us=10&to_us=5", 400, "from_us=10 is after to_us=5"),
        ("/api/v1/readings?gateway=gw-1&from_us=-5", 400, "whole number"),
        ("/api/v1/readings?gateway=gw-1&from_us=1e3", 400, "whole number"),
        ("/api/v1/readings?gateway=gw-1&to_us=9223372036854775808", 400, "outside"),
        ("/api/v1/readings?gateway=gw-1&after=x", 400, "cursor"),
        ("/api/v1/readings?gateway=gw-1&gateway=gw-2", 400, "given 2 times"),
        ("/api/v1/readings?gateway=gw-1&color=red", 400, "unknown query parameter(s) color"),
        ("/api/v1/quarantine?latest=101", 400, "outside 1..100"),
        ("/api/v1/throughput?window_s=86400&step_s=1", 400, "buckets"),
        ("/api/v1/receipts/gw-1/7/x", 400, "seq 'x'"),
        ("/api/v1/receipts/gw-1/99999999999/1", 400, "device"),
        ("/api/v1/nothing", 404, "no API endpoint"),
    ],
)
def test_bad_requests_get_clear_4xx(served, path: str, status: int, words: str) -> None:
    server, _filled = served
    got, body = get_json(server.url + path, TOKEN)
    assert got == status, body
    assert words in body["error"], body


def test_nothing_private_without_the_token(served) -> None:
    server, _filled = served
    for path in ("/api/v1/gateways", "/api/v1/readings?gateway=gw-1", "/api/v1/receipts/gw-1/7/1"):
        status, headers, body = get(server.url + path)
        assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
        assert "bearer token" in json.loads(body)["error"]
        status, _h, body = get(server.url + path, TOKEN[:-1] + "x")
        assert status == 401 and "not one of" in json.loads(body)["error"]
        status, _h, body = get(server.url + path, TOKEN + "x")
        assert status == 401
    # The OpenAPI document and the console's pages are public.
    assert get(f"{server.url}/api/v1/openapi.json")[0] == 200
    assert get(f"{server.url}/")[0] == 200
    # Read-only: other methods are refused before anything else.
    status, headers, _b = get(f"{server.url}/api/v1/gateways", TOKEN, method="POST", data=b"{}")
    assert status == 405 and headers["Allow"] == "GET, HEAD"


def test_no_tokens_configured_means_no_private_data(filled: Filled) -> None:
    handler = make_api_handler(api_context(filled, tokens=()))
    response = handler(
        HttpRequest("GET", "/api/v1/gateways", headers={"authorization": "Bearer x"})
    )
    assert response is not None and response.status == 403
    assert b"configures no tokens" in response.body


def test_a_store_not_created_yet_is_503_not_500(tmp_path) -> None:
    from edgeseal.verifier.api_queries import ApiQueries
    from edgeseal.verifier.gateway_status import StatusBoard
    from edgeseal.verifier.http_api import ApiContext, Receipts

    context = ApiContext(
        ApiQueries(tmp_path / "missing.sqlite"),
        {},
        (TOKEN,),
        Receipts(tmp_path / "x"),
        StatusBoard(),
    )
    with HttpServer([make_api_handler(context)]) as server:
        server.start()
        status, body = get_json(f"{server.url}/api/v1/gateways", TOKEN)
    assert status == 503 and "read-only" in body["error"]
    assert not (tmp_path / "missing.sqlite").exists()
