"""The registry's records: frozen values that the store returns, the domain modules work
on and :mod:`convert` turns into messages. No I/O and no driver types here."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Generic, TypeVar

from wasmgrid.common.errors import PermissionDenied
from wasmgrid.marketplace.names import ModuleName
from wasmgrid.marketplace.search import Sort
from wasmgrid.marketplace.semver import Version as Semver
from wasmgrid.marketplace.tokens import ROLE_SCOPES, Role, Scope, covers
from wasmgrid.marketplace.validation import Report

T = TypeVar("T")

#: Search results and ratings per page: the default and the most a request may ask for.
DEFAULT_PAGE, MAX_PAGE = 20, 100


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list and the cursor of the next ("" after the last page)."""

    items: list[T]
    next_cursor: str


# ------------------------------------------------------------------ identity


@dataclass(frozen=True)
class User:
    """A registry account."""

    id: int
    username: str
    role: Role
    created_at: datetime


@dataclass(frozen=True)
class Token:
    """An API token as shown to its owner (never its secret)."""

    id: uuid.UUID
    name: str
    prefix: str
    scopes: tuple[Scope, ...]
    username: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class NewToken:
    """A token about to be stored: whose it is, its name, what it may do, when it expires."""

    user_id: int
    name: str
    scopes: tuple[Scope, ...]
    expires_at: datetime | None


@dataclass(frozen=True)
class IssuedToken:
    """A token just created, with its secret (shown once, stored only as a hash)."""

    token: Token
    secret: str


@dataclass(frozen=True)
class RoleChange:
    """The outcome of SetUserRole: the user now, its role before, and the token issued
    with the change (None unless asked)."""

    user: User
    previous: Role
    issued: IssuedToken | None


@dataclass(frozen=True)
class TokenLookup:
    """A stored token found by its secret's hash, with what authentication decides on."""

    token: Token
    user_id: int
    role: Role
    expired: bool
    #: last_used_at is older than the write interval (or unset): time to refresh it.
    stale: bool


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: the user and the token used."""

    user_id: int
    username: str
    role: Role
    token: Token
    #: The token's scopes within its user's role: a demoted user's old tokens lose power.
    scopes: frozenset[Scope]

    @classmethod
    def of(cls, found: TokenLookup) -> Principal:
        """The principal behind a valid token."""
        scopes = frozenset(found.token.scopes) & ROLE_SCOPES[found.role]
        return cls(found.user_id, found.token.username, found.role, found.token, scopes)

    @property
    def is_admin(self) -> bool:
        """An admin user calling with an admin-scoped token."""
        return self.role is Role.ADMIN and Scope.ADMIN in self.scopes

    def require(self, scope: Scope) -> None:
        """PERMISSION_DENIED unless the token allows `scope`."""
        if not covers(self.scopes, scope):
            raise PermissionDenied(f"token lacks the {str(scope)!r} scope")


# ------------------------------------------------------------------ modules and versions


@dataclass(frozen=True)
class Metadata:
    """What a publisher says about a version; a module shows its latest version's."""

    description: str
    license: str
    category: str
    tags: tuple[str, ...]
    homepage: str
    repository: str


@dataclass(frozen=True)
class Module:
    """A module with its latest version's metadata, owners and exact rating summary."""

    id: int
    #: ``namespace/name`` as first spelt.
    name: str
    namespace: str
    full_norm: str
    latest_version: str
    metadata: Metadata
    #: "command", "reactor" or "" (unknown).
    kind: str
    all_yanked: bool
    created_at: datetime
    updated_at: datetime
    downloads: int
    runtime_fetches: int
    rating_count: int
    rating_average: float
    version_count: int
    owners: tuple[str, ...]


@dataclass(frozen=True)
class Assets:
    """A version's read-only file tree: a canonical tar stored under its digest."""

    digest: str
    #: Bytes of the canonical tar.
    size_bytes: int
    file_count: int
    #: Bytes of the files' contents.
    content_bytes: int
    #: Guest path where the tree is preopened.
    mount: str


@dataclass(frozen=True)
class Scratch:
    """A private writable directory each call of a version gets (0 caps: defaults)."""

    mount: str
    max_bytes: int = 0
    max_files: int = 0


@dataclass(frozen=True)
class Version:
    """One immutable published version of a module."""

    id: int
    module_id: int
    #: The module's ``namespace/name``.
    name: str
    version: str
    prerelease: bool
    digest: str
    size_bytes: int
    kind: str
    metadata: Metadata
    published_at: datetime
    #: Username of the publisher.
    published_by: str
    yanked: bool
    yank_reason: str
    yanked_at: datetime | None
    downloads: int
    runtime_fetches: int
    #: The validation report; None where it was not read (lists, resolve, download).
    validation: Report | None = None
    #: The version's read-only files, None when it has none.
    assets: Assets | None = None
    #: The scratch directory its calls get, None for none.
    scratch: Scratch | None = None


@dataclass(frozen=True)
class PublishEvent:
    """A published version as the publish feed tells it, with its place in the feed."""

    seq: int
    version: Version


@dataclass(frozen=True)
class PublishMetadata:
    """The first message of a publish, as sent (checked by the publishing rules)."""

    name: str
    version: str
    metadata: Metadata
    #: Declared size, 0 when not given.
    size_bytes: int
    #: Declared sha256 hex, "" when not given.
    sha256: str
    #: Guest path of the assets as sent ("" = the default).
    assets_mount: str = ""
    #: Declared size of the assets archive, 0 when not given.
    assets_size_bytes: int = 0
    #: The scratch directory asked for (mount as sent), None for none.
    scratch: Scratch | None = None


@dataclass(frozen=True)
class AssetsChunk:
    """A piece of the assets archive, after the module's bytes."""

    data: bytes


#: What a publish stream carries: the metadata first, then chunks of module bytes, then
#: optionally chunks of the assets archive; None for a message carrying none of them.
PublishPart = PublishMetadata | bytes | AssetsChunk | None


@dataclass(frozen=True)
class NewVersion:
    """A validated publish, ready to store."""

    module: ModuleName
    version: Semver
    metadata: Metadata
    digest: str
    size_bytes: int
    kind: str
    validation: Report
    assets: Assets | None = None
    scratch: Scratch | None = None


@dataclass(frozen=True)
class SearchRequest:
    """Search parameters as a caller sent them."""

    query: str
    category: str
    tag: str
    license: str
    #: "command", "reactor", or "" for any.
    kind: str
    owner: str
    namespace: str
    #: None: relevance with a query, downloads without.
    sort: Sort | None
    #: Page size, 0 for the default.
    limit: int
    cursor: str


@dataclass(frozen=True)
class SearchQuery:
    """Search parameters checked and normalised, the query split into words."""

    words: tuple[str, ...]
    category: str
    tag: str
    license: str
    kind: str
    owner: str
    namespace: str
    sort: Sort
    limit: int


@dataclass(frozen=True)
class SearchHit:
    """One module in search results, with the columns its sort order reads."""

    name: str
    full_norm: str
    latest_version: str
    description: str
    license: str
    category: str
    tags: tuple[str, ...]
    kind: str
    downloads: int
    rating_average: float
    rating_count: int
    updated_at: datetime
    #: The text score under relevance order, else 0.
    score: float


class Purpose(StrEnum):
    """Who a download is for (stored as these names): the runtime's fetches count apart."""

    USER = "user"
    RUNTIME = "runtime"


# ------------------------------------------------------------------ ratings and statistics


@dataclass(frozen=True)
class Rating:
    """One user's rating of a module."""

    user_id: int
    username: str
    stars: int
    review: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class RatingSummary:
    """The exact aggregate of a module's ratings."""

    count: int
    average: float
    #: Ratings with 1, 2, 3, 4 and 5 stars.
    histogram: tuple[int, ...]


@dataclass(frozen=True)
class VersionDownloads:
    """One version's downloads within a window of days and in all."""

    version: str
    user_downloads: int
    runtime_fetches: int
    user_downloads_total: int
    runtime_fetches_total: int


@dataclass(frozen=True)
class DayDownloads:
    """Downloads on one UTC day."""

    day: date
    user_downloads: int
    runtime_fetches: int


@dataclass(frozen=True)
class DownloadStats:
    """A module's downloads: the window's totals, all-time totals, per version (highest
    first) and a zero-filled daily series (oldest first)."""

    name: str
    days: int
    user_downloads: int
    runtime_fetches: int
    user_downloads_total: int
    runtime_fetches_total: int
    versions: tuple[VersionDownloads, ...]
    daily: tuple[DayDownloads, ...]


# ------------------------------------------------------------------ audit


class AuditAction(StrEnum):
    """What an audit event records (stored as these names; the proto's AuditAction)."""

    PUBLISH = "publish"
    YANK = "yank"
    UNYANK = "unyank"
    TOKEN_CREATE = "token_create"  # noqa: S105 - an action name, not a secret
    TOKEN_REVOKE = "token_revoke"  # noqa: S105 - an action name, not a secret
    USER_CREATE = "user_create"
    OWNER_ADD = "owner_add"
    OWNER_REMOVE = "owner_remove"
    LIMITS_SET = "limits_set"
    RATE = "rate"
    ROLE_CHANGE = "role_change"


@dataclass(frozen=True)
class Origin:
    """Where a request came from: the client's address (as the gateway saw it, else the
    gRPC peer's), the gRPC peer's address, and the request's trace id."""

    client_address: str
    peer_address: str
    trace_id: str


@dataclass(frozen=True)
class AuditTarget:
    """What an audit event is about; the fields that do not apply stay empty."""

    namespace: str = ""
    module: str = ""
    version: str = ""
    token_id: uuid.UUID | None = None
    #: The user acted upon (created, made or unmade an owner, whose token was revoked).
    subject: str = ""


@dataclass(frozen=True)
class NewAuditEvent:
    """An audit event about to be stored, in the transaction of its change."""

    action: AuditAction
    #: The acting user (None: no user, e.g. an anonymous sign-up) and its name then.
    actor_id: int | None
    actor_name: str
    target: AuditTarget
    #: JSON-ready values; never a token secret or hash.
    detail: dict[str, object]
    origin: Origin


@dataclass(frozen=True)
class AuditEvent:
    """A stored audit event."""

    id: int
    at: datetime
    event: NewAuditEvent


@dataclass(frozen=True)
class AuditFilter:
    """Which audit events to list (empty / None: no filter)."""

    namespace: str = ""
    actor: str = ""
    action: AuditAction | None = None
    since: datetime | None = None
    until: datetime | None = None
