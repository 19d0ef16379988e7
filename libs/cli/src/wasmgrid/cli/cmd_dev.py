"""`wasmgrid dev up|status|down` (the whole suite on this machine), `wasmgrid containers
up|status|down` (the suite as containers of its images) and shell completion.

The dev stack (grpc, the embedded servers) is imported only when a `dev` command runs,
so every other command starts without it.
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from click.shell_completion import get_completion_class


def _data_dir() -> Path:
    return Path(os.environ.get("WASMGRID_DEV_DATA_DIR", ".wasmgrid"))


def _offset() -> int:
    raw = os.environ.get("WASMGRID_DEV_PORT_OFFSET", "0")
    try:
        return int(raw)
    except ValueError:
        raise click.BadParameter(
            f"WASMGRID_DEV_PORT_OFFSET={raw!r} is not an integer", param_hint="--port-offset"
        ) from None


def _stack_options(f: click.decorators.FC) -> click.decorators.FC:
    f = click.option(
        "--port-offset",
        type=int,
        default=_offset,
        show_default="0, env WASMGRID_DEV_PORT_OFFSET",
        help="add N to every default port (to run two stacks, or tests)",
    )(f)
    return click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=_data_dir,
        show_default=".wasmgrid, env WASMGRID_DEV_DATA_DIR",
        help="where data, logs and secrets live",
    )(f)


@click.group()
def dev() -> None:
    """Run the whole suite on this machine.

    Embedded PostgreSQL and Redis, the five services, the example modules.
    """


@dev.command()
@_stack_options
@click.option(
    "--timeout", type=float, default=60.0, show_default=True, help="seconds to reach SERVING"
)
@click.option("--no-examples", is_flag=True, help="do not publish the example modules")
def up(data_dir: Path, port_offset: int, timeout: float, no_examples: bool) -> None:
    """Start PostgreSQL, Redis and the five services; Ctrl-C stops them all."""
    from wasmgrid.cli import devstack

    ports = devstack.Ports.with_offset(port_offset)
    code = devstack.up(data_dir, ports, timeout=timeout, publish=not no_examples)
    raise click.exceptions.Exit(code)


@dev.command()
@_stack_options
def status(data_dir: Path, port_offset: int) -> None:
    """Print each service's grpc.health.v1 status; exit 1 unless all five are SERVING."""
    from wasmgrid.cli import devstack

    raise click.exceptions.Exit(devstack.status(data_dir, devstack.Ports.with_offset(port_offset)))


@dev.command()
@_stack_options
def down(data_dir: Path, port_offset: int) -> None:
    """Stop the `dev up` running from the data directory."""
    from wasmgrid.cli import devstack

    raise click.exceptions.Exit(devstack.down(data_dir))


def _containers_data_dir() -> Path:
    return Path(os.environ.get("WASMGRID_CONTAINERS_DATA_DIR", ".wasmgrid/containers"))


def _containers_dir_option(f: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=_containers_data_dir,
        show_default=".wasmgrid/containers, env WASMGRID_CONTAINERS_DATA_DIR",
        help="where data, secrets and the state file live",
    )(f)


@click.group()
def containers() -> None:
    """Run the suite as containers of its images (podman).

    Embedded PostgreSQL and Redis on the host (or WASMGRID_DATABASE_URL /
    WASMGRID_REDIS_URL), one container per service on the ports of `dev up`.
    """


@containers.command("up")
@_containers_dir_option
@click.option(
    "--port-offset",
    type=int,
    default=_offset,
    show_default="0, env WASMGRID_DEV_PORT_OFFSET",
    help="add N to every default port",
)
@click.option(
    "--timeout", type=float, default=120.0, show_default=True, help="seconds to reach SERVING"
)
@click.option("--no-examples", is_flag=True, help="do not publish the example modules")
@click.option(
    "--runtime-replicas",
    type=click.IntRange(1, 6),
    default=lambda: int(os.environ.get("WASMGRID_CONTAINERS_RUNTIME_REPLICAS", "1")),
    show_default="1, env WASMGRID_CONTAINERS_RUNTIME_REPLICAS",
    help="runtime containers behind the gateway",
)
@click.option(
    "--tag",
    default=lambda: os.environ.get("IMAGE_TAG", "dev"),
    show_default="dev, env IMAGE_TAG",
    help="run localhost/wasmgrid/<service>:TAG",
)
@click.option(
    "--oci-runtime",
    default=lambda: os.environ.get("WASMGRID_CONTAINERS_OCI_RUNTIME", "runc"),
    show_default="runc, env WASMGRID_CONTAINERS_OCI_RUNTIME",
    help="podman --runtime",
)
def containers_up(  # noqa: PLR0913 - one parameter per click option
    data_dir: Path,
    port_offset: int,
    timeout: float,
    no_examples: bool,
    runtime_replicas: int,
    tag: str,
    oci_runtime: str,
) -> None:
    """Start the databases and one container per service, wait for SERVING, then return."""
    from wasmgrid.cli import containers as stack

    code = stack.up(
        data_dir,
        port_offset,
        runtime_replicas=runtime_replicas,
        tag=tag,
        oci_runtime=oci_runtime,
        timeout=timeout,
        publish=not no_examples,
    )
    raise click.exceptions.Exit(code)


@containers.command("status")
@_containers_dir_option
def containers_status(data_dir: Path) -> None:
    """Print each container's state and grpc.health.v1 status."""
    from wasmgrid.cli import containers as stack

    raise click.exceptions.Exit(stack.status(data_dir))


@containers.command("down")
@_containers_dir_option
def containers_down(data_dir: Path) -> None:
    """Stop and remove the containers and the databases `up` started."""
    from wasmgrid.cli import containers as stack

    raise click.exceptions.Exit(stack.down(data_dir))


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the shell completion script.

    \b
    bash:  eval "$(wasmgrid completion bash)"          (in ~/.bashrc)
    zsh:   eval "$(wasmgrid completion zsh)"           (in ~/.zshrc)
    fish:  wasmgrid completion fish > ~/.config/fish/completions/wasmgrid.fish
    """
    root = ctx.find_root().command
    cls = get_completion_class(shell)
    assert cls is not None  # the Choice admits only shells click supports
    click.echo(cls(root, {}, "wasmgrid", "_WASMGRID_COMPLETE").source())
