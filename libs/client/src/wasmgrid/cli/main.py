"""The `wasmgrid` command."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from wasmgrid.cli import containers, devstack


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wasmgrid", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    dev = sub.add_parser("dev", help="run the whole suite on this machine")
    dev_sub = dev.add_subparsers(dest="action", required=True)
    for name, help_text in (
        ("up", "start embedded PostgreSQL/Redis and the five services; Ctrl-C stops all"),
        ("status", "print each service's grpc.health.v1 status"),
        ("down", "stop a running `dev up`"),
    ):
        p = dev_sub.add_parser(name, help=help_text)
        p.add_argument(
            "--data-dir",
            type=Path,
            default=Path(os.environ.get("WASMGRID_DEV_DATA_DIR", ".wasmgrid")),
            help="where data, logs and secrets live (default .wasmgrid, env WASMGRID_DEV_DATA_DIR)",
        )
        _port_offset(p)
        if name == "up":
            _up_options(p, timeout=60.0)
    _containers_parser(sub)
    return parser


def _containers_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    containers = sub.add_parser(
        "containers", help="run the suite as containers of its images (podman)"
    )
    actions = containers.add_subparsers(dest="action", required=True)
    for name, help_text in (
        ("up", "start embedded PostgreSQL/Redis and one container per service, then return"),
        ("status", "print each container's state and grpc.health.v1 status"),
        ("down", "stop and remove the containers and the databases `up` started"),
    ):
        p = actions.add_parser(name, help=help_text)
        p.add_argument(
            "--data-dir",
            type=Path,
            default=Path(os.environ.get("WASMGRID_CONTAINERS_DATA_DIR", ".wasmgrid/containers")),
            help="where data, secrets and the state file live"
            " (default .wasmgrid/containers, env WASMGRID_CONTAINERS_DATA_DIR)",
        )
        if name != "up":
            continue
        _port_offset(p)
        _up_options(p, timeout=120.0)
        p.add_argument(
            "--runtime-replicas",
            type=int,
            default=int(os.environ.get("WASMGRID_CONTAINERS_RUNTIME_REPLICAS", "1")),
            help="runtime containers behind the gateway, 1..6"
            " (env WASMGRID_CONTAINERS_RUNTIME_REPLICAS)",
        )
        p.add_argument(
            "--tag",
            default=os.environ.get("IMAGE_TAG", "dev"),
            help="run localhost/wasmgrid/<service>:TAG (default dev, env IMAGE_TAG)",
        )
        p.add_argument(
            "--oci-runtime",
            default=os.environ.get("WASMGRID_CONTAINERS_OCI_RUNTIME", "runc"),
            help="podman --runtime (default runc; env WASMGRID_CONTAINERS_OCI_RUNTIME)",
        )


def _port_offset(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--port-offset",
        type=int,
        default=int(os.environ.get("WASMGRID_DEV_PORT_OFFSET", "0")),
        help="add N to every default port (env WASMGRID_DEV_PORT_OFFSET)",
    )


def _up_options(p: argparse.ArgumentParser, *, timeout: float) -> None:
    p.add_argument("--timeout", type=float, default=timeout, help="seconds to reach SERVING")
    p.add_argument("--no-examples", action="store_true", help="do not publish the example modules")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `wasmgrid` console script."""
    args = _parser().parse_args(argv)
    if args.command == "containers":
        if args.action == "up":
            return containers.up(
                args.data_dir,
                args.port_offset,
                runtime_replicas=args.runtime_replicas,
                tag=args.tag,
                oci_runtime=args.oci_runtime,
                timeout=args.timeout,
                publish=not args.no_examples,
            )
        if args.action == "status":
            return containers.status(args.data_dir)
        return containers.down(args.data_dir)
    ports = devstack.Ports.with_offset(args.port_offset)
    if args.action == "up":
        return devstack.up(args.data_dir, ports, timeout=args.timeout, publish=not args.no_examples)
    if args.action == "status":
        return devstack.status(args.data_dir, ports)
    return devstack.down(args.data_dir)


if __name__ == "__main__":
    sys.exit(main())
