"""Input validation: every check names the field, the limit and the bad value."""

from __future__ import annotations

import re
from collections.abc import Sequence

from wasmgrid.cache.namespace import MAX_PRIORITY
from wasmgrid.common.errors import InvalidArgument

NAMESPACE_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,62}$"
_NAMESPACE_RE = re.compile(NAMESPACE_PATTERN)
MAX_TAGS = 16
MAX_TAG_BYTES = 128


def _shown(value: str, limit: int = 40) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "…")


def check_namespace(name: str, field: str = "namespace") -> str:
    """A valid namespace name."""
    if not _NAMESPACE_RE.match(name):
        raise InvalidArgument(f"{field}: {_shown(name)} does not match {NAMESPACE_PATTERN}")
    return name


def check_key(key: str, max_key_bytes: int, field: str = "key") -> int:
    """A non-empty key within the byte limit; returns its UTF-8 length."""
    size = len(key.encode())
    if size == 0:
        raise InvalidArgument(f"{field}: must not be empty")
    if size > max_key_bytes:
        raise InvalidArgument(
            f"{field}: {size} bytes exceeds max_key_bytes {max_key_bytes} ({_shown(key)})"
        )
    return size


def check_value(value: bytes, max_value_bytes: int, field: str = "value") -> None:
    """A value within the namespace's byte limit."""
    if len(value) > max_value_bytes:
        raise InvalidArgument(
            f"{field}: {len(value)} bytes exceeds max_value_bytes {max_value_bytes}"
        )


def check_ttl(ttl_ms: int, max_ttl_ms: int, field: str = "ttl_ms") -> int:
    """A TTL within the service's bound (0 = namespace default)."""
    if ttl_ms > max_ttl_ms:
        raise InvalidArgument(f"{field}: {ttl_ms} exceeds max_ttl_ms {max_ttl_ms}")
    return ttl_ms


def check_priority(priority: int, field: str = "priority") -> int:
    """A priority class 0..7."""
    if priority > MAX_PRIORITY:
        raise InvalidArgument(f"{field}: {priority} is outside 0..{MAX_PRIORITY}")
    return priority


def check_tag(tag: str, field: str = "tag") -> str:
    """A non-empty tag of at most MAX_TAG_BYTES bytes."""
    size = len(tag.encode())
    if size == 0:
        raise InvalidArgument(f"{field}: must not be empty")
    if size > MAX_TAG_BYTES:
        raise InvalidArgument(f"{field}: {size} bytes exceeds {MAX_TAG_BYTES} ({_shown(tag)})")
    return tag


def check_tags(tags: Sequence[str], field: str = "tags") -> tuple[str, ...]:
    """At most MAX_TAGS distinct valid tags."""
    if len(tags) > MAX_TAGS:
        raise InvalidArgument(f"{field}: {len(tags)} tags exceeds {MAX_TAGS}")
    for i, tag in enumerate(tags):
        check_tag(tag, f"{field}[{i}]")
    if len(set(tags)) != len(tags):
        raise InvalidArgument(f"{field}: duplicate tags")
    return tuple(tags)


def check_batch(size: int, max_batch: int, field: str) -> None:
    """A batch of 1..max_batch items."""
    if size == 0:
        raise InvalidArgument(f"{field}: must not be empty")
    if size > max_batch:
        raise InvalidArgument(f"{field}: {size} items exceeds max_batch {max_batch}")
