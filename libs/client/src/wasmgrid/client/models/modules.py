"""The catalog: modules, versions, search and version pages, ratings, downloads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from wasmgrid.client._convert import enum_field
from wasmgrid.client.models.validation import ValidationReport


@dataclass(frozen=True, slots=True, kw_only=True)
class Assets:
    """A version's read-only files, stored as one canonical tar."""

    #: Lowercase hex SHA-256 of the canonical tar.
    digest: str = ""
    size_bytes: int = 0
    file_count: int = 0
    #: Bytes of the files' contents.
    content_bytes: int = 0
    #: Guest path where a call sees them.
    mount: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ModuleVersion:
    """One immutable published version."""

    name: str = ""
    version: str = ""
    #: Lowercase hex SHA-256 of the module bytes.
    digest: str = ""
    size_bytes: int = 0
    kind: str = enum_field("MODULE_KIND_")
    description: str = ""
    license: str = ""
    category: str = ""
    tags: tuple[str, ...] = ()
    homepage: str = ""
    repository: str = ""
    published_at: datetime | None = None
    published_by: str = ""
    yanked: bool = False
    yank_reason: str = ""
    yanked_at: datetime | None = None
    #: Present from publish and :meth:`Client.version`; ``None`` in version lists.
    validation: ValidationReport | None = None
    downloads: int = 0
    prerelease: bool = False
    #: The version's read-only files; ``None`` when it has none.
    assets: Assets | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Module:
    """A module's registry entry; the metadata is its latest version's."""

    name: str = ""
    namespace: str = ""
    latest_version: str = ""
    description: str = ""
    license: str = ""
    category: str = ""
    tags: tuple[str, ...] = ()
    homepage: str = ""
    repository: str = ""
    kind: str = enum_field("MODULE_KIND_")
    downloads: int = 0
    runtime_fetches: int = 0
    rating_average: float = 0.0
    rating_count: int = 0
    version_count: int = 0
    owners: tuple[str, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None
    all_yanked: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ModuleSummary:
    """One search hit."""

    name: str = ""
    latest_version: str = ""
    description: str = ""
    license: str = ""
    category: str = ""
    tags: tuple[str, ...] = ()
    kind: str = enum_field("MODULE_KIND_")
    downloads: int = 0
    rating_average: float = 0.0
    rating_count: int = 0
    updated_at: datetime | None = None
    score: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchPage:
    """A page of search results; `next_cursor` is empty on the last page."""

    modules: tuple[ModuleSummary, ...] = ()
    next_cursor: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class VersionPage:
    """A page of versions, highest precedence first."""

    versions: tuple[ModuleVersion, ...] = ()
    next_cursor: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Rating:
    """One user's rating of a module."""

    username: str = ""
    stars: int = 0
    review: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RatingSummary:
    """The exact aggregate of a module's ratings; `histogram` counts 1..5 stars."""

    count: int = 0
    average: float = 0.0
    histogram: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class RatedModule:
    """The rating just stored and the module's new aggregate."""

    rating: Rating = field(default_factory=Rating)
    summary: RatingSummary = field(default_factory=RatingSummary)


@dataclass(frozen=True, slots=True, kw_only=True)
class RatingsPage:
    """A page of ratings, newest first, with the aggregate."""

    ratings: tuple[Rating, ...] = ()
    summary: RatingSummary = field(default_factory=RatingSummary)
    next_cursor: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class VersionDownloads:
    """Downloads of one version: in the window and all time."""

    version: str = ""
    user_downloads: int = 0
    runtime_fetches: int = 0
    user_downloads_total: int = 0
    runtime_fetches_total: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class DailyDownloads:
    """Downloads on one UTC day (``date`` is ``YYYY-MM-DD``)."""

    date: str = ""
    user_downloads: int = 0
    runtime_fetches: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class DownloadStats:
    """Download totals over the last `days` days and all time, per version and per day."""

    name: str = ""
    days: int = 0
    user_downloads: int = 0
    runtime_fetches: int = 0
    user_downloads_total: int = 0
    runtime_fetches_total: int = 0
    versions: tuple[VersionDownloads, ...] = ()
    daily: tuple[DailyDownloads, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Download:
    """A downloaded version whose bytes matched the digest the server announced."""

    name: str
    version: str
    digest: str
    size_bytes: int
    #: The module bytes (empty when written to a file by :meth:`Client.download_to`).
    data: bytes = b""
