"""Settings errors name the variable and value; logs are JSON with trace ids."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys

import pytest
from opentelemetry.sdk.trace import TracerProvider
from pydantic import Field

from wasmgrid.common.logs import JsonFormatter
from wasmgrid.common.settings import (
    DATABASE_URL_ENV,
    ServiceSettings,
    load_settings,
    service_config,
    shared_env,
)


class DemoSettings(ServiceSettings):
    model_config = service_config("DEMO")
    database_url: str = Field(
        "", validation_alias=shared_env("DEMO", "database_url", DATABASE_URL_ENV)
    )


def test_env_prefix_and_types(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASMGRID_DEMO_GRPC_PORT", "50099")
    monkeypatch.setenv("WASMGRID_DEMO_GRACE_SECONDS", "2.5")
    s = load_settings(DemoSettings)
    assert s.grpc_port == 50099
    assert s.grace_seconds == 2.5


def test_service_variable_wins_over_shared_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASMGRID_DATABASE_URL", "postgresql://shared/db")
    assert load_settings(DemoSettings).database_url == "postgresql://shared/db"
    monkeypatch.setenv("WASMGRID_DEMO_DATABASE_URL", "postgresql://own/db")
    assert load_settings(DemoSettings).database_url == "postgresql://own/db"


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("WASMGRID_DEMO_GRPC_PORT", "eighty"),
        ("WASMGRID_DEMO_GRPC_PORT", "70000"),
        ("WASMGRID_DEMO_LOG_LEVEL", "LOUD"),
        ("WASMGRID_DEMO_GRACE_SECONDS", "-1"),
    ],
)
def test_bad_value_exits_with_one_line_naming_variable_and_value(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], var: str, value: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(SystemExit) as exc:
        load_settings(DemoSettings)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert var in err
    assert repr(value) in err


class NeedsDatabase(ServiceSettings):
    model_config = service_config("DEMO")
    database_url: str = Field(validation_alias=shared_env("DEMO", "database_url", DATABASE_URL_ENV))


def test_missing_setting_names_both_variables_that_can_set_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("WASMGRID_DATABASE_URL", raising=False)
    monkeypatch.delenv("WASMGRID_DEMO_DATABASE_URL", raising=False)
    with pytest.raises(SystemExit) as exc:
        load_settings(NeedsDatabase)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "wasmgrid: missing setting WASMGRID_DATABASE_URL or WASMGRID_DEMO_DATABASE_URL:"
        " it is required"
    )


def test_json_log_line_carries_trace_and_span_ids() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("demo"))
    logger = logging.getLogger("wasmgrid.test.logs")
    logger.addHandler(handler)
    logger.propagate = False
    tracer = TracerProvider().get_tracer("test")
    try:
        with tracer.start_as_current_span("op") as span:
            logger.warning("hello %s", "world", extra={"module_digest": "ab12"})
        ctx = span.get_span_context()
    finally:
        logger.removeHandler(handler)
    doc = json.loads(stream.getvalue())
    assert doc["msg"] == "hello world"
    assert doc["level"] == "WARNING"
    assert doc["service"] == "demo"
    assert doc["trace_id"] == format(ctx.trace_id, "032x")
    assert doc["span_id"] == format(ctx.span_id, "016x")
    assert doc["module_digest"] == "ab12"


class SecretSettings(ServiceSettings):
    model_config = service_config("DEMO")
    artifact_key: str = Field("k" * 32, min_length=32)
    database_url: str = Field("postgresql://db", pattern=r"^postgresql://")


def test_secret_values_are_not_echoed_in_errors(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WASMGRID_DEMO_ARTIFACT_KEY", "hunter2")
    with pytest.raises(SystemExit):
        load_settings(SecretSettings)
    err = capsys.readouterr().err
    assert "WASMGRID_DEMO_ARTIFACT_KEY" in err
    assert "hunter2" not in err
    assert "<redacted>" in err
    monkeypatch.delenv("WASMGRID_DEMO_ARTIFACT_KEY")
    monkeypatch.setenv("WASMGRID_DEMO_DATABASE_URL", "mysql://app:s3cret@db/x")
    with pytest.raises(SystemExit):
        load_settings(SecretSettings)
    err = capsys.readouterr().err
    assert "s3cret" not in err
    assert "mysql://app:***@db/x" in err


def test_telemetry_with_otlp_export_sets_up_without_warnings() -> None:
    code = (
        "import logging\n"
        "from wasmgrid.common.telemetry import setup_telemetry, shutdown_telemetry\n"
        "setup_telemetry('wasmgrid-demo')\n"
        "logging.getLogger('x').warning('exported')\n"
        "shutdown_telemetry()\n"
    )
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "1",
    }
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr
