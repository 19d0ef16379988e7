"""The `wasmgrid` command."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from wasmgrid.cli import devstack


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
        p.add_argument(
            "--port-offset",
            type=int,
            default=int(os.environ.get("WASMGRID_DEV_PORT_OFFSET", "0")),
            help="add N to every default port (env WASMGRID_DEV_PORT_OFFSET)",
        )
        if name == "up":
            p.add_argument("--timeout", type=float, default=60.0, help="seconds to reach SERVING")
            p.add_argument(
                "--no-examples", action="store_true", help="do not publish the example modules"
            )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `wasmgrid` console script."""
    args = _parser().parse_args(argv)
    ports = devstack.Ports.with_offset(args.port_offset)
    if args.action == "up":
        return devstack.up(args.data_dir, ports, timeout=args.timeout, publish=not args.no_examples)
    if args.action == "status":
        return devstack.status(args.data_dir, ports)
    return devstack.down(args.data_dir)


if __name__ == "__main__":
    sys.exit(main())
