"""Users, roles, API tokens, principals and namespace owners: who may do what.

A token's effective scopes are its scopes within its user's role
(:meth:`Principal.of`); admins act as owners of every namespace. The registry always
keeps an admin: the last one, and the bootstrap admin the service is configured with,
cannot be demoted.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from prometheus_client import Counter

from wasmgrid.common.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
)
from wasmgrid.common.paging import (
    cursor_binding,
    decode_cursor,
    encode_cursor,
    page_limit,
    split_page,
)
from wasmgrid.marketplace import audit, names, tokens
from wasmgrid.marketplace.records import (
    AuditAction,
    AuditTarget,
    IssuedToken,
    NewAuditEvent,
    NewToken,
    Origin,
    Page,
    Principal,
    RoleChange,
    Token,
    User,
)
from wasmgrid.marketplace.store import audit as audit_log
from wasmgrid.marketplace.store import identity as users
from wasmgrid.marketplace.store import namespaces
from wasmgrid.marketplace.store.database import Conn, Database, Executor
from wasmgrid.marketplace.tokens import ROLE_SCOPES, Role, Scope

log = logging.getLogger(__name__)

AUTH_FAILURES = Counter("marketplace_auth_failures_total", "Rejected credentials.")

#: Tokens listed at most by ListTokens.
MAX_LISTED_TOKENS = 1000
#: Users per ListUsers page: the default and the most a request may ask for.
DEFAULT_USERS_PAGE, MAX_USERS_PAGE = 100, 1000


async def require_owner(conn: Conn, who: Principal, ns_id: int) -> None:
    """PERMISSION_DENIED unless `who` owns the namespace (admins own every namespace)."""
    if who.is_admin:
        return
    if not await namespaces.is_owner(conn, ns_id, who.user_id):
        raise PermissionDenied(f"user {who.username!r} is not an owner of this namespace")


class Identity:
    """Sign-up, authentication, users and roles, tokens and namespace owners."""

    def __init__(self, db: Database, *, open_signup: bool, bootstrap_admin: str = "") -> None:
        self.db = db
        self.open_signup = open_signup
        #: The configured bootstrap admin's normalised name ("" when none is configured):
        #: the service recreates it as an admin at every start, so it stays one.
        self.bootstrap_norm = names.normalize(bootstrap_admin) if bootstrap_admin else ""

    # ------------------------------------------------------------ principals

    async def authenticate(self, authorization: str | None) -> Principal | None:
        """The caller behind an ``authorization`` value (None when there is none), or
        UNAUTHENTICATED saying why the credential is refused."""
        try:
            secret = tokens.bearer_secret(authorization)
            if secret is None:
                return None
            found = await users.find_token(self.db.pool, tokens.digest(secret))
            if found is None:
                raise Unauthenticated("unknown API token")
            if found.token.revoked_at is not None:
                raise Unauthenticated(f"API token {found.token.prefix}… was revoked")
            if found.expired:
                raise Unauthenticated(f"API token {found.token.prefix}… expired")
        except Unauthenticated:
            AUTH_FAILURES.inc()
            raise
        if found.stale:
            await users.touch_token(self.db.pool, found.token.id)
        return Principal.of(found)

    # ------------------------------------------------------------ users

    async def create_user(
        self,
        who: Principal | None,
        origin: Origin,
        username: str,
        role: Role | None,
        token_name: str,
    ) -> tuple[User, IssuedToken]:
        """A new user (publisher unless `role` says otherwise), its namespace and its
        first token; open to anyone unless sign-up is closed, admins only for admins."""
        is_admin = who is not None and who.is_admin
        if not self.open_signup and not is_admin:
            if who is None:
                raise Unauthenticated("sign-up is closed: an admin token is needed to create users")
            raise PermissionDenied("sign-up is closed: only admins can create users")
        role = role or Role.PUBLISHER
        if role is Role.ADMIN and not is_admin:
            raise PermissionDenied("role ADMIN: only an admin can create admins")
        _check_token_name(token_name, "token_name")
        norm = names.check_username(username)
        secret = tokens.new_secret()
        async with self.db.transaction() as tx:
            user = await users.insert_user(tx, username, norm, role)
            ns_id = await namespaces.insert(tx, username, norm) if user is not None else None
            if user is None or ns_id is None:
                raise AlreadyExists(
                    f"username {username!r} is taken (names compare case-insensitively"
                    " with '-' and '_' equal, and namespaces count)"
                )
            await namespaces.add_owner(tx, ns_id, user.id)
            token = await _insert_token(
                tx, user.id, token_name or "initial", secret, ROLE_SCOPES[role], 0
            )
            event = _user_event(who, origin, user, token)
            await audit_log.record(tx, event)
        audit.committed(event)
        log.info("user created", extra={"role": str(role)})
        return user, IssuedToken(token, secret)

    async def bootstrap_admin(self, username: str, secret: str, origin: Origin) -> bool:
        """Create the admin `username` with token `secret` where missing (idempotent,
        safe for replicas starting together); True when something was created. The
        audit events have no actor: the service acts on its operator's settings."""
        # The operator may pick a reserved name (the default "admin" is one).
        names.check_namespace(username, "WASMGRID_MARKETPLACE_BOOTSTRAP_ADMIN")
        norm = names.normalize(username)
        event = None
        async with self.db.transaction() as tx:
            await users.lock_bootstrap(tx)
            user = await users.user_by_name(tx, norm)
            created = user is None
            if user is None:
                user = await users.insert_user(tx, username, norm, Role.ADMIN)
                assert user is not None  # under the lock, after looking
                ns_id = await namespaces.ensure(tx, username, norm)
                await namespaces.add_owner(tx, ns_id, user.id)
            elif user.role is not Role.ADMIN:
                raise RuntimeError(
                    f"bootstrap admin {username!r} exists but has role {str(user.role)!r}"
                )
            token = None
            if not await users.token_known(tx, tokens.digest(secret)):
                token = await _insert_token(tx, user.id, "bootstrap", secret, tuple(Scope), 0)
            if created:
                event = _user_event(None, origin, user, token, bootstrap=True)
            elif token is not None:
                event = _token_event(None, origin, token, user.username, bootstrap=True)
            if event is not None:
                await audit_log.record(tx, event)
        if event is not None:
            audit.committed(event)
        return event is not None

    async def list_users(
        self, who: Principal, role: Role | None, limit: int, cursor: str
    ) -> Page[User]:
        """Every user (of `role` when given) by normalised name, a page at a time
        (admins only)."""
        if not who.is_admin:
            raise PermissionDenied("only an admin may list users")
        limit = page_limit(limit, default=DEFAULT_USERS_PAGE, maximum=MAX_USERS_PAGE)
        bind = cursor_binding("users", role)
        after = decode_cursor(cursor, bind, 1)
        found = await users.list_users(
            self.db.pool, role, None if after is None else str(after[0]), limit + 1
        )
        items, more = split_page(found, limit)
        next_cursor = encode_cursor(bind, [names.normalize(items[-1].username)]) if more else ""
        return Page(items, next_cursor)

    async def set_role(
        self,
        who: Principal,
        origin: Origin,
        username: str,
        role: Role | None,
        issue_token: bool,
    ) -> RoleChange:
        """Give `username` the role `role` (admins only); with `issue_token`, also a new
        token holding every scope of that role. Demoting the last admin or the
        configured bootstrap admin is FAILED_PRECONDITION. The same role again changes
        nothing and records no event."""
        norm = self._check_role_change(who, username, role)
        assert role is not None
        issued = None
        async with self.db.transaction() as tx:
            admins = await users.lock_admins(tx)  # before the user's row: see lock_admins
            user = await users.user_for_update(tx, norm)
            if user is None:
                raise NotFound(f"username {username!r} not found")
            previous = user.role
            if previous is Role.ADMIN and role is not Role.ADMIN and admins == [user.id]:
                raise FailedPrecondition(
                    f"{user.username!r} is the only admin; make another user an admin first"
                )
            if previous is not role:
                user = await users.set_role(tx, user.id, role)
            if issue_token:
                issued = await _issue_role_token(tx, user)
            events = _role_events(who, origin, user, previous, issued)
            for event in events:
                await audit_log.record(tx, event)
        for event in events:
            audit.committed(event)
        return RoleChange(user, previous, issued)

    def _check_role_change(self, who: Principal, username: str, role: Role | None) -> str:
        """The normalised username once the change is one an admin may ask for."""
        if not who.is_admin:
            raise PermissionDenied("only an admin may change roles")
        if role is None:
            raise InvalidArgument("role: 0 (ROLE_UNSPECIFIED) is not a role")
        norm = names.check_namespace(username, "username")
        if norm == self.bootstrap_norm and role is not Role.ADMIN:
            raise FailedPrecondition(
                f"{username!r} is the bootstrap admin (WASMGRID_MARKETPLACE_BOOTSTRAP_ADMIN),"
                " recreated as an admin at every start; it stays an admin"
            )
        return norm

    async def whoami(self, who: Principal) -> tuple[User, list[str]]:
        """The caller's user and the namespaces it owns."""
        return (
            await users.user(self.db.pool, who.user_id),
            await namespaces.owned_by(self.db.pool, who.user_id),
        )

    # ------------------------------------------------------------ tokens

    async def create_token(
        self,
        who: Principal,
        origin: Origin,
        name: str,
        scopes: Sequence[Scope | None],
        ttl_seconds: int,
    ) -> IssuedToken:
        """A new token of the caller's, within its role and its calling token's scopes;
        `ttl_seconds` 0 never expires."""
        _check_token_name(name, "name")
        if not scopes:
            raise InvalidArgument("scopes must name at least one scope")
        wanted: list[Scope] = []
        for scope in scopes:
            if scope is None:
                raise InvalidArgument("scopes: 0 (SCOPE_UNSPECIFIED) is not a scope")
            if scope not in ROLE_SCOPES[who.role]:
                raise PermissionDenied(
                    f"scope {str(scope)!r} is not allowed for role {str(who.role)!r}"
                )
            if not tokens.covers(who.scopes, scope):
                raise PermissionDenied(f"scope {str(scope)!r} exceeds the calling token's scopes")
            if scope not in wanted:
                wanted.append(scope)
        if ttl_seconds > tokens.MAX_TTL_SECONDS:
            raise InvalidArgument(
                f"ttl_seconds {ttl_seconds} is above the maximum {tokens.MAX_TTL_SECONDS}"
            )
        secret = tokens.new_secret()
        async with self.db.transaction() as tx:
            await users.lock_user(tx, who.user_id)
            active = await users.count_active_tokens(tx, who.user_id)
            if active >= tokens.MAX_ACTIVE_TOKENS:
                raise ResourceExhausted(
                    f"user has {active} active tokens, the limit is {tokens.MAX_ACTIVE_TOKENS};"
                    " revoke one first"
                )
            token = await _insert_token(tx, who.user_id, name, secret, wanted, ttl_seconds)
            event = _token_event(who, origin, token, who.username)
            await audit_log.record(tx, event)
        audit.committed(event)
        return IssuedToken(token, secret)

    async def list_tokens(self, who: Principal, include_inactive: bool) -> list[Token]:
        """The caller's tokens, newest first."""
        return await users.list_tokens(
            self.db.pool, who.user_id, include_inactive, MAX_LISTED_TOKENS
        )

    async def revoke_token(self, who: Principal, origin: Origin, token_id: str) -> Token:
        """Revoke one of the caller's tokens (an admin: anyone's); idempotent (only the
        call that revokes it is an audit event)."""
        try:
            tid = uuid.UUID(token_id)
        except ValueError:
            raise InvalidArgument(f"token_id {token_id[:64]!r} is not a UUID") from None
        event = None
        async with self.db.transaction() as tx:
            owner = await users.token_owner(tx, tid)
            if owner is None or (owner != who.user_id and not who.is_admin):
                raise NotFound(f"token_id {tid} not found among your tokens")
            revoked = await users.revoke_token(tx, tid)
            token = await users.token(tx, tid)
            assert token is not None
            if revoked:
                event = audit.event(
                    AuditAction.TOKEN_REVOKE,
                    who,
                    origin,
                    AuditTarget(token_id=tid, subject=token.username),
                    name=token.name,
                )
                await audit_log.record(tx, event)
        if event is not None:
            audit.committed(event)
        return token

    # ------------------------------------------------------------ owners

    async def list_owners(self, namespace: str) -> list[User]:
        """The owners of a namespace."""
        ns_id = await _namespace_id(self.db.pool, namespace)
        return await namespaces.owners(self.db.pool, ns_id)

    async def add_owner(
        self, who: Principal, origin: Origin, namespace: str, username: str
    ) -> list[User]:
        """Make an existing user a co-owner (the caller must own the namespace); an
        audit event only when the user was not an owner already."""
        _check_owner_names(namespace, username)
        event = None
        async with self.db.transaction() as tx:
            ns_id = await _owned_namespace(tx, who, namespace)
            user = await users.user_by_name(tx, names.normalize(username))
            if user is None:
                raise NotFound(f"username {username!r} not found")
            if await namespaces.add_owner(tx, ns_id, user.id):
                target = AuditTarget(namespace=names.normalize(namespace), subject=user.username)
                event = audit.event(AuditAction.OWNER_ADD, who, origin, target)
                await audit_log.record(tx, event)
            owners = await namespaces.owners(tx, ns_id)
        if event is not None:
            audit.committed(event)
        return owners

    async def remove_owner(
        self, who: Principal, origin: Origin, namespace: str, username: str
    ) -> list[User]:
        """Remove a co-owner; the last owner stays (FAILED_PRECONDITION)."""
        _check_owner_names(namespace, username)
        async with self.db.transaction() as tx:
            ns_id = await _owned_namespace(tx, who, namespace)
            owners = await namespaces.owners(tx, ns_id)
            norm = names.normalize(username)
            target = [o for o in owners if names.normalize(o.username) == norm]
            if not target:
                raise NotFound(f"username {username!r} is not an owner of {namespace!r}")
            if len(owners) == 1:
                raise FailedPrecondition(
                    f"{username!r} is the last owner of {namespace!r}; add another owner first"
                )
            await namespaces.remove_owner(tx, ns_id, target[0].id)
            event = audit.event(
                AuditAction.OWNER_REMOVE,
                who,
                origin,
                AuditTarget(namespace=names.normalize(namespace), subject=target[0].username),
            )
            await audit_log.record(tx, event)
            owners = await namespaces.owners(tx, ns_id)
        audit.committed(event)
        return owners


def _check_token_name(name: str, field: str) -> None:
    if len(name) > names.MAX_TOKEN_NAME:
        raise InvalidArgument(f"{field} is {len(name)} characters, at most {names.MAX_TOKEN_NAME}")
    if "\x00" in name:
        raise InvalidArgument(f"{field} must not contain NUL characters")


def _check_owner_names(namespace: str, username: str) -> None:
    names.check_namespace(namespace)
    # An existing user is looked up: reserved names (e.g. the bootstrap admin) are fine.
    names.check_namespace(username, "username")


async def _owned_namespace(tx: Conn, who: Principal, namespace: str) -> int:
    """The namespace's id, its row locked, once `who` is known to own it."""
    ns_id = await _namespace_id(tx, namespace, lock=True)
    await require_owner(tx, who, ns_id)
    return ns_id


async def _namespace_id(ex: Executor, namespace: str, *, lock: bool = False) -> int:
    ns_id = await namespaces.find(ex, names.check_namespace(namespace), lock=lock)
    if ns_id is None:
        raise NotFound(f"namespace {namespace!r} not found")
    return ns_id


def _user_event(
    who: Principal | None, origin: Origin, user: User, token: Token | None, **extra: object
) -> NewAuditEvent:
    """A user_create event: the user, its namespace and its first token (if one was made)."""
    return audit.event(
        AuditAction.USER_CREATE,
        who,
        origin,
        AuditTarget(
            namespace=names.normalize(user.username),
            token_id=None if token is None else token.id,
            subject=user.username,
        ),
        role=str(user.role),
        scopes=[] if token is None else sorted(str(s) for s in token.scopes),
        **extra,
    )


def _token_event(
    who: Principal | None, origin: Origin, token: Token, owner: str, **extra: object
) -> NewAuditEvent:
    """A token_create event: the token's id, owner, name, scopes and expiry, never its
    secret (nor its hash or display prefix)."""
    return audit.event(
        AuditAction.TOKEN_CREATE,
        who,
        origin,
        AuditTarget(token_id=token.id, subject=owner),
        name=token.name,
        scopes=sorted(str(s) for s in token.scopes),
        expires_at=None if token.expires_at is None else token.expires_at.isoformat(),
        **extra,
    )


def _role_events(
    who: Principal, origin: Origin, user: User, previous: Role, issued: IssuedToken | None
) -> list[NewAuditEvent]:
    """A role_change event when the role changed, and a token_create event when a token
    was issued with it."""
    events = []
    if previous is not user.role:
        token_id = {"token_id": str(issued.token.id)} if issued else {}
        events.append(
            audit.event(
                AuditAction.ROLE_CHANGE,
                who,
                origin,
                AuditTarget(subject=user.username),
                before=str(previous),
                after=str(user.role),
                **token_id,
            )
        )
    if issued is not None:
        events.append(_token_event(who, origin, issued.token, user.username))
    return events


async def _issue_role_token(tx: Conn, user: User) -> IssuedToken:
    """A new token for `user` (its row locked) with every scope of its role."""
    active = await users.count_active_tokens(tx, user.id)
    if active >= tokens.MAX_ACTIVE_TOKENS:
        raise ResourceExhausted(
            f"user {user.username!r} has {active} active tokens, the limit is"
            f" {tokens.MAX_ACTIVE_TOKENS}; revoke one first"
        )
    secret = tokens.new_secret()
    token = await _insert_token(tx, user.id, f"role-{user.role}", secret, ROLE_SCOPES[user.role], 0)
    return IssuedToken(token, secret)


async def _insert_token(
    conn: Conn,
    user_id: int,
    name: str,
    secret: str,
    scopes: Sequence[Scope] | frozenset[Scope],
    ttl_seconds: int,
) -> Token:
    expires = datetime.now(UTC) + timedelta(seconds=ttl_seconds) if ttl_seconds else None
    new = NewToken(user_id, name, tuple(scopes), expires)
    return await users.insert_token(conn, new, tokens.digest(secret), tokens.display_prefix(secret))
