"""Print the Secrets the dev overlay needs, with fresh random values, as YAML.

    .venv/bin/python scripts/k8s_dev_secrets.py | kubectl apply -f -

Secrets never live in git (deploy/k8s/README.md). The values here are generated
together so the in-cluster PostgreSQL and Redis accept the URLs the services get.
Applying again replaces every value: PostgreSQL keeps the password of its first start
(its data volume), so run it once per cluster, or delete the volume too.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from typing import Any

import yaml

from wasmgrid.marketplace.tokens import new_secret

#: Service names of the dev overlay's datastores (deploy/k8s/overlays/dev).
POSTGRESQL_HOST = "postgresql"
REDIS_HOST = "redis"
DATABASE = "wasmgrid"
DATABASE_USER = "wasmgrid"


def _secret(name: str, namespace: str, data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/part-of": "wasmgrid"},
        },
        "type": "Opaque",
        "stringData": data,
    }


def dev_secrets(namespace: str) -> list[dict[str, Any]]:
    """Every Secret the dev overlay references, with consistent random values."""
    # Hex: safe in a URL and as a redis-server argument (a value cannot start with "--").
    pg_password = secrets.token_hex(24)
    redis_password = secrets.token_hex(24)
    dsn = f"postgresql://{DATABASE_USER}:{pg_password}@{POSTGRESQL_HOST}:5432/{DATABASE}"
    return [
        _secret("wasmgrid-postgresql", namespace, {"password": pg_password}),
        _secret("wasmgrid-database", namespace, {"marketplace-url": dsn, "monitor-url": dsn}),
        _secret(
            "wasmgrid-redis",
            namespace,
            {"password": redis_password, "url": f"redis://:{redis_password}@{REDIS_HOST}:6379/0"},
        ),
        _secret("wasmgrid-artifact-key", namespace, {"key": secrets.token_urlsafe(48)}),
        _secret("wasmgrid-bootstrap-admin", namespace, {"token": new_secret()}),
    ]


def main(argv: list[str] | None = None) -> int:
    """Write the Secrets to stdout."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--namespace", default="wasmgrid", help="default: %(default)s")
    args = parser.parse_args(argv)
    yaml.safe_dump_all(dev_secrets(args.namespace), sys.stdout, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
