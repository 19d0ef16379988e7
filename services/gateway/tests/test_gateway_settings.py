"""Settings: runtime target parsing and one-line errors naming the variable."""

from __future__ import annotations

import json
import re

import pytest

from wasmgrid.common.settings import load_settings
from wasmgrid.gateway.openapi import Operation
from wasmgrid.gateway.problem import GRPC_TO_HTTP, Problem, guest_problem, http_status_for
from wasmgrid.gateway.settings import GatewaySettings, parse_targets


def test_parse_static_and_dns_targets() -> None:
    assert parse_targets("a:1, b:2=3") == (None, [("a:1", 1), ("b:2", 3)])
    assert parse_targets("dns:///runtime.ns.svc:50051") == ("runtime.ns.svc:50051", [])
    assert parse_targets("[::1]:50051") == (None, [("[::1]:50051", 1)])
    with pytest.raises(ValueError, match="at least one runtime target"):
        parse_targets("")
    for bad in ("a", "a:0", "a:1=0", "a:1=x", "dns:///nohost", "dns:///h:99999"):
        with pytest.raises(ValueError, match=re.escape(repr(bad))):
            parse_targets(bad)


def test_bad_env_stops_with_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WASMGRID_GATEWAY_BALANCER_POLICY", "fastest")
    with pytest.raises(SystemExit) as exc:
        load_settings(GatewaySettings)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("wasmgrid: invalid setting WASMGRID_GATEWAY_BALANCER_POLICY='fastest'")
    assert len(err.splitlines()) == 1
    monkeypatch.setenv("WASMGRID_GATEWAY_BALANCER_POLICY", "random")
    monkeypatch.setenv("WASMGRID_GATEWAY_RUNTIME_TARGETS", "nope")
    with pytest.raises(SystemExit):
        load_settings(GatewaySettings)
    assert "WASMGRID_GATEWAY_RUNTIME_TARGETS" in capsys.readouterr().err


def test_defaults_and_shared_redis_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASMGRID_REDIS_URL", "redis://r:6379/0")
    s = load_settings(GatewaySettings)
    assert (s.http_port, s.grpc_port, s.runtime_targets) == (8080, 50050, "127.0.0.1:50051")
    assert s.balancer_policy == "consistent_hash"
    assert s.redis_url == "redis://r:6379/0"
    monkeypatch.setenv("WASMGRID_GATEWAY_REDIS_URL", "redis://own:1/0")
    assert load_settings(GatewaySettings).redis_url == "redis://own:1/0"


def test_problem_mapping_covers_every_class() -> None:
    import grpc

    assert {http_status_for(c) for c in grpc.StatusCode} <= {
        200,
        400,
        401,
        403,
        404,
        409,
        429,
        502,
        503,
        504,
    }
    assert set(GRPC_TO_HTTP) == set(grpc.StatusCode)
    p = Problem.from_grpc(grpc.StatusCode.UNAVAILABLE, "down", upstream="runtime")
    doc = p.document("/x")
    assert doc["status"] == 503
    assert doc["detail"] == "runtime service: down"
    assert doc["instance"] == "/x"
    assert p.headers["Retry-After"] == "1"
    assert Problem.from_grpc(grpc.StatusCode.NOT_FOUND, "no such module", upstream="m").detail == (
        "no such module"
    )


def test_operation_paths_translate_to_openapi() -> None:
    async def handler(request: object) -> object:
        raise AssertionError

    op = Operation("GET", "/v1/run/{ns}/{module}/{path:.*}", "x", "s", handler, "t")  # type: ignore[arg-type]
    assert op.openapi_path == "/v1/run/{ns}/{module}/{path}"


def test_only_calls_that_never_started_are_retryable() -> None:
    import grpc

    from wasmgrid.common.errors import Busy
    from wasmgrid.gateway.upstream import not_executed

    def err(
        code: grpc.StatusCode, details: str, trailers: tuple[tuple[str, str], ...] = ()
    ) -> grpc.aio.AioRpcError:
        empty = grpc.aio.Metadata()
        return grpc.aio.AioRpcError(code, empty, grpc.aio.Metadata(*trailers), details, details)

    refused = "failed to connect to all addresses; last error: Connection refused"
    assert not_executed(err(grpc.StatusCode.UNAVAILABLE, refused))
    assert not_executed(err(grpc.StatusCode.UNAVAILABLE, "marketplace cannot be reached"))
    # A connection lost mid-call may have run the module: not retried.
    assert not not_executed(err(grpc.StatusCode.UNAVAILABLE, "Socket closed"))
    assert not not_executed(err(grpc.StatusCode.DEADLINE_EXCEEDED, refused))
    # A full replica refuses before starting, and says so in its trailer: retried.
    busy = Busy("all 8 execution slots are busy", "execution-slots")
    assert not_executed(err(grpc.StatusCode.RESOURCE_EXHAUSTED, busy.message, busy.trailers))
    # Other exhaustion (a module over a size cap) without the trailer: not retried.
    assert not not_executed(err(grpc.StatusCode.RESOURCE_EXHAUSTED, "all slots busy"))


def test_the_shutdown_delay_is_the_kits_drain_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(GatewaySettings).drain_seconds == 0
    monkeypatch.setenv("WASMGRID_GATEWAY_SHUTDOWN_DELAY_SECONDS", "5")
    assert load_settings(GatewaySettings).drain_seconds == 5
    monkeypatch.delenv("WASMGRID_GATEWAY_SHUTDOWN_DELAY_SECONDS")
    monkeypatch.setenv("WASMGRID_GATEWAY_DRAIN_SECONDS", "2")
    assert load_settings(GatewaySettings).drain_seconds == 2


def test_replicas_sharing_the_http_port_need_a_metrics_port_each(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WASMGRID_GATEWAY_REUSE_PORT", "true")
    with pytest.raises(SystemExit) as exc:
        load_settings(GatewaySettings)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("wasmgrid: invalid setting WASMGRID_GATEWAY_REUSE_PORT='true'")
    assert "WASMGRID_GATEWAY_METRICS_PORT" in err
    monkeypatch.setenv("WASMGRID_GATEWAY_METRICS_PORT", "9464")
    settings = load_settings(GatewaySettings)
    assert settings.reuse_port
    assert settings.metrics_port == 9464


@pytest.mark.parametrize(
    "problem",
    [
        Problem(404, "no module named ns/m"),
        Problem(400, 'bad "field": ü\u2028', extra={"field": "limits.fuel", "status": 999}),
        Problem(503, "compiling, 3 s so far", extra={"compiling_seconds": 3.2, "fault": "x"}),
        Problem(429, "slow down", extra={"fault": "client", "instance": "/from/extra"}),
        Problem(
            502, "runtime service: boom", extra={"grpc_code": "INTERNAL", "n": [1, {"a": None}]}
        ),
        Problem(418, "teapot", title="Custom", type_="https://example.test/teapot"),
        guest_problem("OUT_OF_FUEL", "module ns/m@1.0.0 ran out of fuel", extra={"fuel": 10}),
    ],
)
@pytest.mark.parametrize("instance", [None, "", "/v1/run/ns/m", '/v1/run/"q"/ü'])
def test_a_problem_body_is_its_document_as_compact_json(
    problem: Problem, instance: str | None
) -> None:
    expected = json.dumps(problem.document(instance), separators=(",", ":")).encode()
    assert problem.body(instance) == expected
    response = problem.response(instance)
    assert response.body == expected
    assert response.status == problem.status
    assert response.headers["Content-Type"] == "application/problem+json"
