"""The CLI's pure parts: profiles, argument parsing, outcome exit codes, the trace waterfall."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import pytest

from wasmgrid.cli.cmd_invoke import is_local, parse_arg
from wasmgrid.cli.cmd_new import project_name
from wasmgrid.cli.cmd_ops import audit as audit_command
from wasmgrid.cli.config import Config, ConfigError, Profile, resolve_target
from wasmgrid.cli.devstack import SERVICES, DevStack, Ports, port_taken
from wasmgrid.cli.outcomes import exit_code
from wasmgrid.cli.output import size, sparkline
from wasmgrid.cli.waterfall import duration_text, layout
from wasmgrid.client import Span, Trace

T0 = datetime(2026, 12, 3, 10, 0, 0, tzinfo=UTC)


def test_a_saved_config_is_private_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "wasmgrid" / "config.toml"
    config = Config(path, profiles={"prod": Profile("https://wg.example", 'wgt_"quoted"\\')})
    config.default_profile = "prod"
    config.save()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    again = Config.load(path)
    assert again.default_profile == "prod"
    assert again.profiles == {"prod": Profile("https://wg.example", 'wgt_"quoted"\\')}


def test_flags_beat_the_environment_which_beats_the_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("WASMGRID_URL", "WASMGRID_TOKEN", "WASMGRID_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    config = Config(
        tmp_path / "c.toml",
        profiles={"default": Profile("http://saved", "wgt_saved"), "b": Profile("http://b", "")},
    )
    assert resolve_target(config, url=None, token=None, profile=None).url == "http://saved"
    monkeypatch.setenv("WASMGRID_URL", "http://env/")
    monkeypatch.setenv("WASMGRID_TOKEN", "wgt_env")
    target = resolve_target(config, url=None, token=None, profile=None)
    assert (target.url, target.token) == ("http://env", "wgt_env")
    target = resolve_target(config, url="http://flag", token="wgt_flag", profile=None)
    assert (target.url, target.token) == ("http://flag", "wgt_flag")
    monkeypatch.delenv("WASMGRID_URL")
    monkeypatch.delenv("WASMGRID_TOKEN")
    target = resolve_target(config, url=None, token=None, profile="b")
    assert (target.url, target.token, target.profile) == ("http://b", None, "b")


def test_an_unknown_profile_or_a_broken_file_is_named(tmp_path: Path) -> None:
    config = Config(tmp_path / "c.toml")
    with pytest.raises(ConfigError, match=r"no profile 'ci'.*wasmgrid login --profile ci"):
        resolve_target(config, url=None, token=None, profile="ci")
    broken = tmp_path / "broken.toml"
    broken.write_text("profiles = [")
    with pytest.raises(ConfigError, match=str(broken)):
        Config.load(broken)


def test_no_config_and_no_environment_means_the_local_dev_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("WASMGRID_URL", "WASMGRID_TOKEN", "WASMGRID_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    target = resolve_target(Config.load(tmp_path / "none.toml"), url=None, token=None, profile=None)
    assert (target.url, target.token) == ("http://127.0.0.1:8080", None)


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("42", (None, 42)),
        ("-7", (None, -7)),
        ("0x10", (None, 16)),
        ("1.5", (None, 1.5)),
        ("i64:9007199254740993", ("i64", 9007199254740993)),
        ("i32:4294967295", ("i32", 4294967295)),
        ("f32:2", ("f32", 2.0)),
    ],
)
def test_call_arguments_parse_with_an_optional_type(
    text: str, parsed: tuple[str | None, int | float]
) -> None:
    assert parse_arg(text) == parsed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("u8:1", "must be one of i32, i64, f32, f64"),
        ("i32:1.5", "i32 needs an integer"),
        ("i32:4294967296", "outside the i32 range"),
        ("ten", "is not a number"),
    ],
)
def test_bad_call_arguments_are_usage_errors_naming_the_argument(text: str, message: str) -> None:
    with pytest.raises(click.BadParameter, match=message):
        parse_arg(text)


def test_nan_parses_as_a_float() -> None:
    kind, value = parse_arg("f64:nan")
    assert kind == "f64"
    assert value != value


@pytest.mark.parametrize(
    ("outcome", "guest", "code"),
    [
        ("ok", 0, 0),
        ("exit", 3, 3),
        ("exit", 255, 255),
        ("exit", 256, 1),
        ("exit", -1, 1),
        ("output_truncated", 0, 120),
        ("stack_overflow", 0, 121),
        ("memory_limit", 0, 122),
        ("fuel_exhausted", 0, 123),
        ("timeout", 0, 124),
        ("trap", 0, 134),
        ("a_future_outcome", 0, 1),
    ],
)
def test_each_outcome_has_its_exit_code(outcome: str, guest: int, code: int) -> None:
    assert exit_code(outcome, guest) == code


def test_local_paths_are_told_from_module_names() -> None:
    assert is_local("./hello.wasm")
    assert is_local("/abs/x")
    assert is_local("build/app.wasm")
    assert is_local("module.wat")
    assert is_local("~/x.wasm")
    assert not is_local("examples/hello")
    assert not is_local("examples/hello@^1.2")


def test_project_names_are_registry_names() -> None:
    assert project_name(Path("My App_2")) == "my-app-2"
    with pytest.raises(Exception, match="cannot derive a module name"):
        project_name(Path("___"))


def _span(span_id: str, parent: str, start_ms: float, ms: float, name: str = "") -> Span:
    return Span(
        span_id=span_id,
        parent_span_id=parent,
        name=name or span_id,
        start_time=T0 + timedelta(milliseconds=start_ms),
        duration=ms / 1000,
    )


def test_the_waterfall_nests_children_under_parents_on_one_time_axis() -> None:
    trace = Trace(
        spans=(
            _span("b", "a", 10, 20),
            _span("a", "", 0, 100),
            _span("c", "a", 50, 50),
            _span("d", "b", 15, 5),
            _span("orphan", "missing", 90, 10),
        )
    )
    rows = layout(trace, width=100)
    assert [(r.span.span_id, r.depth) for r in rows] == [
        ("a", 0),
        ("b", 1),
        ("d", 2),
        ("c", 1),
        ("orphan", 0),
    ]
    by_id = {r.span.span_id: r for r in rows}
    assert (by_id["a"].offset, by_id["a"].length) == (0, 100)
    assert (by_id["b"].offset, by_id["b"].length) == (10, 20)
    assert (by_id["c"].offset, by_id["c"].length) == (50, 50)
    assert by_id["d"].bar(100) == " " * 15 + "█" * 5 + " " * 80
    assert by_id["c"].start == pytest.approx(0.05)


def test_a_span_too_short_to_see_still_gets_one_cell() -> None:
    rows = layout(Trace(spans=(_span("a", "", 0, 1000), _span("b", "a", 500, 0.001))), width=40)
    assert rows[1].length == 1
    assert rows[1].offset == 20


def test_spans_in_a_parent_cycle_are_each_drawn_once() -> None:
    rows = layout(Trace(spans=(_span("a", "b", 0, 1), _span("b", "a", 0, 1))), width=10)
    assert sorted(r.span.span_id for r in rows) == ["a", "b"]


def test_small_formatters() -> None:
    assert size(512) == "512 B"
    assert size(4300) == "4.2 KiB"
    assert size(5 * 1024**2) == "5.0 MiB"
    assert duration_text(0.00085) == "850µs"
    assert duration_text(0.0123) == "12.3ms"
    assert duration_text(1.2) == "1.20s"
    assert sparkline([0, 1, 2, 4]) == "▁▃▅█"
    assert sparkline([0, 0]) == "▁▁"
    assert sparkline([]) == ""


@pytest.mark.parametrize(
    ("env", "sampler"),
    [
        ({}, "parentbased_always_on"),
        ({"OTEL_TRACES_SAMPLER": "always_off"}, "always_off"),
        ({"OTEL_TRACES_SAMPLER_ARG": "0.1"}, "parentbased_traceidratio"),
    ],
)
def test_the_dev_stack_traces_every_request_unless_the_environment_chooses(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], sampler: str
) -> None:
    monkeypatch.delenv("OTEL_TRACES_SAMPLER", raising=False)
    monkeypatch.delenv("OTEL_TRACES_SAMPLER_ARG", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    stack = DevStack(tmp_path, Ports())
    assert {s: stack.service_env(s)["OTEL_TRACES_SAMPLER"] for s in SERVICES} == dict.fromkeys(
        SERVICES, sampler
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-01T10:00:00Z", datetime(2026, 12, 1, 10, tzinfo=UTC)),
        ("2026-12-01T10:00:00+02:00", datetime(2026, 12, 1, 8, tzinfo=UTC)),
        ("2026-12-01", datetime(2026, 12, 1, tzinfo=UTC)),
        ("2026", None),  # a bare number is not an age: it must parse as a time or fail
    ],
)
def test_audit_times_are_rfc3339_with_utc_for_a_missing_offset(
    text: str, expected: datetime | None
) -> None:
    ctx = click.Context(audit_command)
    param = next(p for p in audit_command.params if p.name == "since")
    callback = param.callback
    assert callback is not None
    if expected is None:
        with pytest.raises(click.BadParameter, match="RFC 3339"):
            callback(ctx, param, text)
    else:
        assert callback(ctx, param, text) == expected


def test_an_audit_age_counts_back_from_now() -> None:
    ctx = click.Context(audit_command)
    param = next(p for p in audit_command.params if p.name == "since")
    assert param.callback is not None
    before = datetime.now(UTC)
    moment = param.callback(ctx, param, "24h")
    after = datetime.now(UTC)
    assert before - timedelta(hours=24) <= moment <= after - timedelta(hours=24)


@pytest.mark.parametrize(
    ("output", "taken"),
    [
        # `up`'s own check, then a service that lost the race for its port.
        ("wasmgrid containers up: ports already in use: 53050; pick others", True),
        ("cannot bind gRPC port 127.0.0.1:53400: Address already in use (another process", True),
        ("wasmgrid-1-gateway is exited (exit code 1) during start: bad setting", False),
    ],
)
def test_only_a_port_taken_meanwhile_is_worth_another_block_of_ports(
    output: str, taken: bool
) -> None:
    assert port_taken(output) is taken
