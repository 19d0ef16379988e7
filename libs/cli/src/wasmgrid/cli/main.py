"""The `wasmgrid` command: publish, find and run WebAssembly modules; run the suite locally."""

from __future__ import annotations

import sys

import click

from wasmgrid.cli import cmd_account, cmd_dev, cmd_invoke, cmd_new, cmd_ops, cmd_registry
from wasmgrid.cli.app import WasmgridGroup, connection_options

EPILOG = """\b
Connection: --url/--token, else WASMGRID_URL/WASMGRID_TOKEN, else the profile
(--profile, WASMGRID_PROFILE, or the default) in $XDG_CONFIG_HOME/wasmgrid/config.toml,
else http://127.0.0.1:8080. Exit codes: 0 ok, 1 refused by the server, 2 usage,
3 server unreachable; run/call exit with the module's outcome.
"""


@click.group(
    cls=WasmgridGroup,
    epilog=EPILOG,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="wasmgrid-cli", prog_name="wasmgrid")
@connection_options
def cli() -> None:
    """Publish, discover and run WebAssembly modules on a wasmgrid gateway.

    \b
    wasmgrid new c-wagi hello && cd hello && make       a module project
    wasmgrid run ./hello.wasm                            run it here, no server
    wasmgrid login                                       save a gateway and token
    wasmgrid publish hello.wasm alice/hello@0.1.0        publish it
    wasmgrid run alice/hello --input - <<< hi            run it on the gateway
    """


_SECTIONS = (
    cmd_account.login,
    cmd_account.logout,
    cmd_account.whoami,
    cmd_account.users,
    cmd_account.tokens,
    cmd_registry.publish,
    cmd_registry.search,
    cmd_registry.info,
    cmd_registry.versions,
    cmd_registry.download,
    cmd_registry.yank,
    cmd_registry.unyank,
    cmd_registry.rate,
    cmd_registry.stats,
    cmd_invoke.run,
    cmd_invoke.call,
    cmd_ops.status,
    cmd_ops.alerts,
    cmd_ops.trace,
    cmd_ops.routes,
    cmd_ops.cache,
    cmd_ops.audit,
    cmd_new.new,
    cmd_dev.dev,
    cmd_dev.containers,
    cmd_dev.completion,
)
for command in _SECTIONS:
    cli.add_command(command)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `wasmgrid` console script; returns the exit code."""
    try:
        cli.main(args=argv, prog_name="wasmgrid", standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
