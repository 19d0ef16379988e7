"""The suite as a user meets it: HTTP through the gateway of a running suite (`suite`: the
dev stack, and the containerised one under `make test-containers`)."""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from wasmgrid.cli.devstack import SERVICES
from wasmgrid.common.testing import wait_until

from .conftest import Suite

REPO = Path(__file__).resolve().parents[2]


def http(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def base(stack: Suite) -> str:
    return f"http://127.0.0.1:{stack.ports.gateway_http}"


def test_run_hello_through_the_gateway(suite: Suite) -> None:
    status, headers, body = http("POST", f"{base(suite)}/v1/run/examples/hello", b"hello wasm")
    assert status == 200, body
    assert headers["Content-Type"].startswith("text/plain")
    assert b"HELLO WASM" in body


def test_call_a_function_through_the_gateway(suite: Suite) -> None:
    status, _, body = http(
        "POST",
        f"{base(suite)}/v1/call/examples/mathfn/fib",
        json.dumps({"args": [10]}).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 200, body
    assert json.loads(body)["results"] == [55]


def test_one_invoke_yields_one_linked_trace_across_services(suite: Suite) -> None:
    trace_id = secrets.token_hex(16)
    parent = secrets.token_hex(8)
    status, _, body = http(
        "POST",
        f"{base(suite)}/v1/run/examples/hello@1.0.0/traced",
        b"trace me",
        {"traceparent": f"00-{trace_id}-{parent}-01"},
    )
    assert status == 200, body
    wanted = {"wasmgrid-gateway", "wasmgrid-runtime", "wasmgrid-marketplace"}

    def spans() -> list[dict[str, Any]] | None:
        code, _, raw = http("GET", f"{base(suite)}/v1/traces/{trace_id}")
        if code != 200:
            return None
        found = json.loads(raw).get("spans", [])
        return found if wanted <= {s.get("service") for s in found} else None

    found = wait_until(spans, f"spans of {sorted(wanted)} in trace {trace_id}", timeout=45)
    ids = {s["span_id"] for s in found}
    assert all(s["trace_id"] == trace_id for s in found)
    # Every span hangs off another span of this trace, or off the caller's traceparent.
    for span in found:
        assert span.get("parent_span_id", "") in ids | {parent}, span


def test_fleet_health_lists_every_service(suite: Suite) -> None:
    replicas = dict.fromkeys(SERVICES, 1) | {"runtime": getattr(suite, "runtime_replicas", 1)}

    def healthy() -> dict[str, Any] | None:
        code, _, raw = http("GET", f"{base(suite)}/v1/health")
        if code != 200:
            return None
        doc: dict[str, Any] = json.loads(raw)
        seen = {s["service"]: (s["status"], s["replicas_serving"]) for s in doc.get("services", [])}
        wanted = {svc: ("SERVING_STATUS_SERVING", n) for svc, n in replicas.items()}
        return doc if seen == wanted else None

    doc = wait_until(healthy, f"fleet health with every replica serving: {replicas}", 45)
    assert doc["overall"] == "SERVING_STATUS_SERVING"


def test_publish_search_run_rate_yank_over_http(suite: Suite) -> None:
    gw = base(suite)
    admin = (suite.data_dir / "admin-token").read_text().strip()
    user = f"e2e{secrets.token_hex(3)}"
    status, _, body = http(
        "POST",
        f"{gw}/v1/users",
        json.dumps({"username": user}).encode(),
        {"Content-Type": "application/json", "Authorization": f"Bearer {admin}"},
    )
    assert status == 201, body
    token = json.loads(body)["secret"]
    auth = {"Authorization": f"Bearer {token}"}
    wasm = (REPO / "examples/modules/hello/hello.wasm").read_bytes()
    status, _, body = http(
        "PUT",
        f"{gw}/v1/modules/{user}/shout/0.1.0?description=e2e+shouting&license=MIT"
        "&category=utilities&tags=e2e",
        wasm,
        {**auth, "Content-Type": "application/wasm"},
    )
    assert status == 201, body

    def searchable() -> list[Any] | None:
        code, _, raw = http("GET", f"{gw}/v1/modules?q=shout")
        names = [m.get("name") for m in json.loads(raw).get("modules", [])] if code == 200 else []
        return names if f"{user}/shout" in names else None

    wait_until(searchable, "the new module in search results")
    status, _, body = http("POST", f"{gw}/v1/run/{user}/shout", b"quiet")
    assert status == 200, body
    assert b"QUIET" in body, body
    status, _, body = http(
        "PUT",
        f"{gw}/v1/modules/{user}/shout/rating",
        json.dumps({"stars": 5, "review": "loud"}).encode(),
        {"Content-Type": "application/json", "Authorization": f"Bearer {admin}"},
    )
    assert status == 200, body
    status, _, body = http(
        "POST",
        f"{gw}/v1/modules/{user}/shout/versions/0.1.0/yank",
        b'{"reason":"e2e"}',
        {**auth, "Content-Type": "application/json"},
    )
    assert status == 200, body

    def gone() -> bool:
        code, _, _ = http("POST", f"{gw}/v1/run/{user}/shout", b"x")
        return code == 404

    wait_until(gone, "the yanked only version to stop resolving")
    # Pinned exactly, a yanked version still runs.
    status, _, body = http("POST", f"{gw}/v1/run/{user}/shout@=0.1.0", b"pinned")
    assert status == 200, body
    assert b"PINNED" in body, body
