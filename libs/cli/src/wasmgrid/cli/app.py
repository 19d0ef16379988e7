"""What every command shares: connection options, the session, errors and exit codes.

Exit codes: 0 success; 1 the server refused (one line with the problem's title and
detail on stderr) or a local failure; 2 usage; 3 the server cannot be reached
(naming the URL). ``run`` and ``call`` return the module's outcome instead (see
:mod:`wasmgrid.cli.outcomes`).
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from wasmgrid.cli.config import Config, ConfigError, Target, resolve_target
from wasmgrid.cli.output import Output
from wasmgrid.client import (
    Client,
    IntegrityError,
    ProblemError,
    UnreachableError,
    WasmgridError,
)

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*/[A-Za-z0-9][A-Za-z0-9_-]*$")


class CliError(Exception):
    """A failure the CLI itself reports in one line, with its exit code."""

    def __init__(self, message: str, code: int = EXIT_REFUSED) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Options:
    """The connection and output options, given before or after the subcommand."""

    url: str | None = None
    token: str | None = None
    profile: str | None = None
    json: bool = False
    quiet: bool = False


def _store(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if value not in (None, False):
        setattr(ctx.ensure_object(Options), str(param.name), value)


def _option(*decls: str, help: str, flag: bool = False, metavar: str | None = None) -> Any:
    return click.option(
        *decls,
        is_flag=flag,
        default=False if flag else None,
        expose_value=False,
        callback=_store,
        help=help,
        metavar=metavar,
        is_eager=True,
    )


def connection_options(f: F) -> F:
    """``--url --token --profile --json --quiet`` on a command."""
    for decorator in reversed(
        (
            _option("--url", metavar="URL", help="gateway URL [env WASMGRID_URL; profile]"),
            _option("--token", metavar="TOKEN", help="API token [env WASMGRID_TOKEN; profile]"),
            _option(
                "--profile",
                metavar="NAME",
                help="profile of the config file to use [env WASMGRID_PROFILE]",
            ),
            _option("--json", "json", flag=True, help="print JSON for programs"),
            _option("--quiet", "-q", "quiet", flag=True, help="no progress bars or notes"),
        )
    ):
        f = decorator(f)
    return f


def output_options(f: F) -> F:
    """``--json --quiet`` for commands that talk to no server."""
    f = _option("--quiet", "-q", "quiet", flag=True, help="no progress bars or notes")(f)
    f = _option("--json", "json", flag=True, help="print JSON for programs")(f)
    return f


class Session:
    """One command's resolved target, output and (lazily) client."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.out = Output(json_mode=options.json, quiet=options.quiet)
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            try:
                self._config = Config.load()
            except ConfigError as exc:
                raise CliError(str(exc), EXIT_USAGE) from None
        return self._config

    @functools.cached_property
    def target(self) -> Target:
        try:
            return resolve_target(
                self.config,
                url=self.options.url,
                token=self.options.token,
                profile=self.options.profile,
            )
        except ConfigError as exc:
            raise CliError(str(exc), EXIT_USAGE) from None

    def client(self, *, token: str | None = None) -> Client:
        """A client for the target (with another token when given)."""
        return Client(self.target.url, token=token or self.target.token)

    def request(self, call: Callable[[Client], Awaitable[T]]) -> T:
        """Run one SDK call against the target: ``s.request(lambda wg: wg.whoami())``."""

        async def go() -> T:
            async with self.client() as wg:
                return await call(wg)

        return asyncio.run(go())


def session() -> Session:
    """The session of the command being run."""
    ctx = click.get_current_context()
    return Session(ctx.ensure_object(Options))


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run one command's coroutine to completion."""
    return asyncio.run(coro)


def module_name(value: str) -> str:
    """``ns/name`` or a usage error."""
    if not _NAME.match(value):
        raise click.BadParameter(f"{value!r} is not namespace/name", param_hint="MODULE")
    return value


def split_ref(value: str, *, version_required: bool = False) -> tuple[str, str]:
    """``ns/name[@req]`` → (name, requirement or "")."""
    name, _, req = value.partition("@")
    module_name(name)
    if version_required and not req:
        raise click.BadParameter(f"{value!r} needs a version: namespace/name@1.2.3")
    if "@" in value and not req:
        raise click.BadParameter(f"{value!r}: nothing after '@'")
    return name, req


def problem_line(problem: ProblemError) -> str:
    """A problem as one line: title, the detail's first line (a trap's backtrace follows
    it), HTTP status."""
    detail = problem.detail.strip().splitlines()[0] if problem.detail.strip() else ""
    text = f"{problem.title}: {detail}" if detail else problem.title
    return f"{text} (HTTP {problem.status})"


#: How `wasmgrid --help` groups the commands.
SECTIONS = (
    (
        "Modules",
        ("publish", "search", "info", "versions", "download", "yank", "unyank", "rate", "stats"),
    ),
    ("Running", ("run", "call")),
    ("Account", ("login", "logout", "whoami", "users", "tokens")),
    ("Operations", ("status", "alerts", "trace", "routes", "cache")),
    ("This machine", ("new", "dev", "containers", "completion")),
)


class WasmgridGroup(click.Group):
    """The root group: turns every failure into one line and an exit code, never a traceback."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        listed: set[str] = set()
        width = formatter.width - 6 - max(len(n) for n in self.list_commands(ctx))
        for title, names in SECTIONS:
            rows = []
            for name in names:
                command = self.get_command(ctx, name)
                if command is not None and not command.hidden:
                    rows.append((name, command.get_short_help_str(width)))
                    listed.add(name)
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)
        rest = [n for n in self.list_commands(ctx) if n not in listed]
        if rest:
            with formatter.section("Other"):
                formatter.write_dl([(n, self.commands[n].get_short_help_str(width)) for n in rest])

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ProblemError as problem:
            _fail(problem_line(problem), EXIT_REFUSED)
        except UnreachableError as exc:
            _fail(
                f"cannot reach {exc.url} ({exc.reason}); is the gateway running?",
                EXIT_UNREACHABLE,
            )
        except IntegrityError as exc:
            _fail(str(exc), EXIT_REFUSED)
        except WasmgridError as exc:
            _fail(str(exc), EXIT_REFUSED)
        except CliError as exc:
            _fail(str(exc), exc.code)
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            _fail(f"{where}{exc.strerror or exc}", EXIT_REFUSED)
        except KeyboardInterrupt:
            _fail("interrupted", 130)


def _fail(message: str, code: int) -> None:
    Output().error(message)
    raise click.exceptions.Exit(code)
