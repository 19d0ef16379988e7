"""Names and publish metadata rules: normalisation, charset, length, reserved names.

Names are compared normalised (lowercase, ``_`` ≡ ``-``) so ``Foo_Bar`` and
``foo-bar`` are one name and a confusable second spelling is refused. Every
check raises :class:`InvalidArgument` naming the field, the value and the rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from packaging.licenses import InvalidLicenseExpression, canonicalize_license_expression

from wasmgrid.common.categories import CATEGORIES
from wasmgrid.common.errors import InvalidArgument
from wasmgrid.marketplace import semver

_CHARSET = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?\Z")
_TAG = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\Z")
#: A sha256 digest as the registry spells it: 64 lowercase hex characters.
SHA256_HEX = re.compile(r"^[0-9a-f]{64}\Z")

NAMESPACE_MIN, NAMESPACE_MAX = 2, 39
MODULE_MIN, MODULE_MAX = 1, 64
MAX_DESCRIPTION = 2000
MAX_TAGS, MAX_TAG_LENGTH = 10, 32
MAX_URL = 512
MAX_TOKEN_NAME = 64

#: Namespaces/usernames nobody may claim (normalised): routes, roles, impersonation bait,
#: and Windows device names (they break tools that write names to disk).
RESERVED_NAMESPACES = frozenset(
    {
        "admin", "administrator", "api", "root", "system", "wasmgrid", "marketplace",
        "registry", "www", "static", "assets", "v1", "v2", "login", "logout", "signup",
        "users", "user", "tokens", "token", "modules", "module", "search", "help",
        "support", "security", "official", "null", "undefined", "none", "anonymous",
        "wasi", "wasm", "webassembly", "std", "core",
        "con", "prn", "aux", "nul", "com1", "com2", "com3", "lpt1", "lpt2", "lpt3",
    }
)  # fmt: skip
#: Module names refused in every namespace.
RESERVED_MODULE_NAMES = frozenset(
    {"con", "prn", "aux", "nul", "com1", "com2", "com3", "lpt1", "lpt2", "lpt3", "versions"}
)

#: Spellings accepted for a category slug (the slugs are the kit's, shared with the gateway).
_CATEGORY_ALIASES = {
    "crypto": "crypto-security",
    "crypto-and-security": "crypto-security",
    "security": "crypto-security",
    "math": "mathematics",
    "ml": "machine-learning",
    "utility": "utilities",
    "image": "image-processing",
    "games": "game-engine",
}


def normalize(name: str) -> str:
    """The comparison key of a name: lowercase with ``_`` folded into ``-``."""
    return name.lower().replace("_", "-")


def _check_part(field: str, value: str, lo: int, hi: int, what: str) -> None:
    if not value:
        raise InvalidArgument(f"{field} is required")
    if not lo <= len(value) <= hi:
        raise InvalidArgument(
            f"{field} {value!r} is {len(value)} characters; {what} must be {lo}..{hi}"
        )
    if not _CHARSET.match(value):
        raise InvalidArgument(
            f"{field} {value!r} must use only letters, digits, '-' and '_',"
            " and start and end with a letter or digit"
        )
    if "--" in normalize(value):
        raise InvalidArgument(f"{field} {value!r} must not contain consecutive '-'/'_'")


def check_username(value: str, field: str = "username") -> str:
    """Validate a username (also the user's namespace); return its normalised form."""
    _check_part(field, value, NAMESPACE_MIN, NAMESPACE_MAX, "a username")
    norm = normalize(value)
    if norm in RESERVED_NAMESPACES:
        raise InvalidArgument(f"{field} {value!r} is reserved")
    return norm


def check_namespace(value: str, field: str = "namespace", *, claiming: bool = False) -> str:
    """Validate a namespace; reserved names are refused only when claiming a new one."""
    _check_part(field, value, NAMESPACE_MIN, NAMESPACE_MAX, "a namespace")
    norm = normalize(value)
    if claiming and norm in RESERVED_NAMESPACES:
        raise InvalidArgument(f"{field} {value!r} is reserved")
    return norm


@dataclass(frozen=True)
class ModuleName:
    """A parsed ``namespace/name`` with its display spelling and normalised key."""

    namespace: str
    name: str

    @property
    def display(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def namespace_norm(self) -> str:
        return normalize(self.namespace)

    @property
    def name_norm(self) -> str:
        return normalize(self.name)

    @property
    def full_norm(self) -> str:
        return f"{self.namespace_norm}/{self.name_norm}"


def parse_module_name(value: str, field: str = "name") -> ModuleName:
    """Parse and validate ``namespace/name``."""
    if not value:
        raise InvalidArgument(f'{field} is required ("namespace/name")')
    if value.count("/") != 1:
        raise InvalidArgument(f'{field} {value[:100]!r} must be "namespace/name"')
    ns, name = value.split("/")
    _check_part(f"{field} namespace", ns, NAMESPACE_MIN, NAMESPACE_MAX, "a namespace")
    _check_part(f"{field} module name", name, MODULE_MIN, MODULE_MAX, "a module name")
    if normalize(name) in RESERVED_MODULE_NAMES:
        raise InvalidArgument(f"{field} module name {name!r} is reserved")
    return ModuleName(ns, name)


def check_version(value: str, field: str = "version") -> semver.Version:
    """Parse a required semantic version, naming `field` when it is missing or bad."""
    if not value:
        raise InvalidArgument(f"{field} is required")
    try:
        return semver.Version.parse(value)
    except semver.SemverError as exc:
        raise InvalidArgument(f"{field} {exc}") from None


def check_category(value: str, field: str = "category") -> str:
    """The category slug for `value` (``_``/space accepted for ``-``)."""
    slug = re.sub(r"[\s_&]+", "-", value.strip().lower()).replace("-and-", "-")
    slug = re.sub(r"-+", "-", slug).strip("-")
    slug = _CATEGORY_ALIASES.get(slug, slug)
    if slug not in CATEGORIES:
        raise InvalidArgument(f"{field} {value[:64]!r} is not one of: {', '.join(CATEGORIES)}")
    return slug


def check_tags(values: list[str], field: str = "tags") -> list[str]:
    """Lowercased, validated, duplicate-free tags in the given order."""
    if len(values) > MAX_TAGS:
        raise InvalidArgument(f"{field} has {len(values)} entries, at most {MAX_TAGS}")
    out: list[str] = []
    for raw in values:
        tag = raw.strip().lower()
        if not 1 <= len(tag) <= MAX_TAG_LENGTH or not _TAG.match(tag):
            raise InvalidArgument(
                f"{field} entry {raw[:64]!r} must be 1..{MAX_TAG_LENGTH} characters of"
                " [a-z0-9-], starting and ending with a letter or digit"
            )
        if tag in out:
            raise InvalidArgument(f"{field} entry {tag!r} appears twice")
        out.append(tag)
    return out


def check_url(value: str, field: str) -> str:
    """An optional absolute http(s) URL."""
    if not value:
        return ""
    if len(value) > MAX_URL:
        raise InvalidArgument(f"{field} is {len(value)} characters, at most {MAX_URL}")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in value):
        raise InvalidArgument(f"{field} {value[:100]!r} must be an absolute http(s) URL")
    return value


def check_license(value: str, field: str = "license") -> str:
    """The canonical form of an SPDX license expression."""
    if not value.strip():
        raise InvalidArgument(f'{field} is required (an SPDX expression such as "MIT")')
    if len(value) > 200:
        raise InvalidArgument(f"{field} is {len(value)} characters, at most 200")
    try:
        return str(canonicalize_license_expression(value))
    except InvalidLicenseExpression as exc:
        raise InvalidArgument(
            f"{field} {value[:100]!r} is not a valid SPDX expression: {exc}"
        ) from None


def check_description(value: str, field: str = "description") -> str:
    if len(value) > MAX_DESCRIPTION:
        raise InvalidArgument(f"{field} is {len(value)} characters, at most {MAX_DESCRIPTION}")
    if "\x00" in value:
        raise InvalidArgument(f"{field} must not contain NUL characters")
    return value.strip()
