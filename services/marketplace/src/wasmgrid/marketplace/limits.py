"""Size caps per namespace: one number each for the module and its assets.

A namespace without caps of its own has the service defaults
(``WASMGRID_MARKETPLACE_MAX_MODULE_BYTES``, ``..._MAX_ASSETS_BYTES``); an admin sets a
namespace's caps (up to ``..._SIZE_CEILING_BYTES``) and publish, the gateway's upload
limit and the runtime's fetch all follow that one number.
"""

from __future__ import annotations

from dataclasses import dataclass

from wasmgrid.common.errors import InvalidArgument, NotFound, PermissionDenied
from wasmgrid.marketplace import audit, names
from wasmgrid.marketplace.records import AuditAction, AuditTarget, Origin, Principal
from wasmgrid.marketplace.store import audit as audit_log
from wasmgrid.marketplace.store import namespaces
from wasmgrid.marketplace.store.database import Database, Executor


@dataclass(frozen=True)
class NamespaceLimits:
    """The caps in force for one namespace and whether they are its own."""

    namespace: str
    max_module_bytes: int
    max_assets_bytes: int
    #: True when an admin set them (else the service defaults).
    custom: bool


@dataclass(frozen=True)
class Defaults:
    """The service-wide caps: defaults for every namespace and the ceiling of any."""

    max_module_bytes: int
    max_assets_bytes: int
    ceiling_bytes: int


class Limits:
    """The GetNamespaceLimits and SetNamespaceLimits use cases."""

    def __init__(self, db: Database, defaults: Defaults) -> None:
        self.db = db
        self.defaults = defaults

    async def for_namespace_id(self, ex: Executor, ns_id: int | None) -> tuple[int, int]:
        """(module cap, assets cap) of a namespace (None: one not claimed yet)."""
        own = (None, None) if ns_id is None else await namespaces.limits(ex, ns_id)
        return (
            own[0] or self.defaults.max_module_bytes,
            own[1] or self.defaults.max_assets_bytes,
        )

    async def get(self, namespace: str) -> NamespaceLimits:
        """The caps of `namespace` (the defaults when it does not exist yet)."""
        norm = names.check_namespace(namespace, "namespace")
        async with self.db.pool.acquire() as conn:
            ns_id = await namespaces.find(conn, norm)
            own = (None, None) if ns_id is None else await namespaces.limits(conn, ns_id)
        return NamespaceLimits(
            namespace,
            own[0] or self.defaults.max_module_bytes,
            own[1] or self.defaults.max_assets_bytes,
            custom=own != (None, None),
        )

    async def set(
        self,
        who: Principal,
        origin: Origin,
        namespace: str,
        max_module_bytes: int,
        max_assets_bytes: int,
    ) -> NamespaceLimits:
        """Set a namespace's caps (admins only); 0 = back to the default. The audit event
        has each cap before and after (0: the default)."""
        if not who.is_admin:
            raise PermissionDenied("only an admin may set a namespace's size caps")
        ceiling = self.defaults.ceiling_bytes
        for field, value in (
            ("max_module_bytes", max_module_bytes),
            ("max_assets_bytes", max_assets_bytes),
        ):
            if value > ceiling:
                raise InvalidArgument(
                    f"{field} {value} is above the ceiling of {ceiling} bytes"
                    " (WASMGRID_MARKETPLACE_SIZE_CEILING_BYTES)"
                )
        norm = names.check_namespace(namespace, "namespace")
        async with self.db.transaction() as tx:
            ns_id = await namespaces.find(tx, norm, lock=True)
            if ns_id is None:
                raise NotFound(f"namespace {namespace!r} does not exist")
            before = await namespaces.limits(tx, ns_id)
            await namespaces.set_limits(
                tx, ns_id, max_module_bytes or None, max_assets_bytes or None
            )
            event = audit.event(
                AuditAction.LIMITS_SET,
                who,
                origin,
                AuditTarget(namespace=norm),
                max_module_bytes={"before": before[0] or 0, "after": max_module_bytes},
                max_assets_bytes={"before": before[1] or 0, "after": max_assets_bytes},
            )
            await audit_log.record(tx, event)
        audit.committed(event)
        return await self.get(namespace)
