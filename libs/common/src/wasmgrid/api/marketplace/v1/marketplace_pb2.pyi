import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from wasmgrid.api.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROLE_UNSPECIFIED: _ClassVar[Role]
    ROLE_USER: _ClassVar[Role]
    ROLE_PUBLISHER: _ClassVar[Role]
    ROLE_ADMIN: _ClassVar[Role]

class Scope(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SCOPE_UNSPECIFIED: _ClassVar[Scope]
    SCOPE_PUBLISH: _ClassVar[Scope]
    SCOPE_YANK: _ClassVar[Scope]
    SCOPE_RATE: _ClassVar[Scope]
    SCOPE_ADMIN: _ClassVar[Scope]

class ModuleKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODULE_KIND_UNSPECIFIED: _ClassVar[ModuleKind]
    MODULE_KIND_COMMAND: _ClassVar[ModuleKind]
    MODULE_KIND_REACTOR: _ClassVar[ModuleKind]
    MODULE_KIND_COMPONENT: _ClassVar[ModuleKind]

class Severity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEVERITY_UNSPECIFIED: _ClassVar[Severity]
    SEVERITY_INFO: _ClassVar[Severity]
    SEVERITY_WARNING: _ClassVar[Severity]
    SEVERITY_ERROR: _ClassVar[Severity]

class DownloadPurpose(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DOWNLOAD_PURPOSE_UNSPECIFIED: _ClassVar[DownloadPurpose]
    DOWNLOAD_PURPOSE_USER: _ClassVar[DownloadPurpose]
    DOWNLOAD_PURPOSE_RUNTIME: _ClassVar[DownloadPurpose]

class SearchSort(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEARCH_SORT_UNSPECIFIED: _ClassVar[SearchSort]
    SEARCH_SORT_RELEVANCE: _ClassVar[SearchSort]
    SEARCH_SORT_DOWNLOADS: _ClassVar[SearchSort]
    SEARCH_SORT_RATING: _ClassVar[SearchSort]
    SEARCH_SORT_RECENT: _ClassVar[SearchSort]
    SEARCH_SORT_NAME: _ClassVar[SearchSort]

class AuditAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AUDIT_ACTION_UNSPECIFIED: _ClassVar[AuditAction]
    AUDIT_ACTION_PUBLISH: _ClassVar[AuditAction]
    AUDIT_ACTION_YANK: _ClassVar[AuditAction]
    AUDIT_ACTION_UNYANK: _ClassVar[AuditAction]
    AUDIT_ACTION_TOKEN_CREATE: _ClassVar[AuditAction]
    AUDIT_ACTION_TOKEN_REVOKE: _ClassVar[AuditAction]
    AUDIT_ACTION_USER_CREATE: _ClassVar[AuditAction]
    AUDIT_ACTION_OWNER_ADD: _ClassVar[AuditAction]
    AUDIT_ACTION_OWNER_REMOVE: _ClassVar[AuditAction]
    AUDIT_ACTION_LIMITS_SET: _ClassVar[AuditAction]
    AUDIT_ACTION_RATE: _ClassVar[AuditAction]
    AUDIT_ACTION_ROLE_CHANGE: _ClassVar[AuditAction]
ROLE_UNSPECIFIED: Role
ROLE_USER: Role
ROLE_PUBLISHER: Role
ROLE_ADMIN: Role
SCOPE_UNSPECIFIED: Scope
SCOPE_PUBLISH: Scope
SCOPE_YANK: Scope
SCOPE_RATE: Scope
SCOPE_ADMIN: Scope
MODULE_KIND_UNSPECIFIED: ModuleKind
MODULE_KIND_COMMAND: ModuleKind
MODULE_KIND_REACTOR: ModuleKind
MODULE_KIND_COMPONENT: ModuleKind
SEVERITY_UNSPECIFIED: Severity
SEVERITY_INFO: Severity
SEVERITY_WARNING: Severity
SEVERITY_ERROR: Severity
DOWNLOAD_PURPOSE_UNSPECIFIED: DownloadPurpose
DOWNLOAD_PURPOSE_USER: DownloadPurpose
DOWNLOAD_PURPOSE_RUNTIME: DownloadPurpose
SEARCH_SORT_UNSPECIFIED: SearchSort
SEARCH_SORT_RELEVANCE: SearchSort
SEARCH_SORT_DOWNLOADS: SearchSort
SEARCH_SORT_RATING: SearchSort
SEARCH_SORT_RECENT: SearchSort
SEARCH_SORT_NAME: SearchSort
AUDIT_ACTION_UNSPECIFIED: AuditAction
AUDIT_ACTION_PUBLISH: AuditAction
AUDIT_ACTION_YANK: AuditAction
AUDIT_ACTION_UNYANK: AuditAction
AUDIT_ACTION_TOKEN_CREATE: AuditAction
AUDIT_ACTION_TOKEN_REVOKE: AuditAction
AUDIT_ACTION_USER_CREATE: AuditAction
AUDIT_ACTION_OWNER_ADD: AuditAction
AUDIT_ACTION_OWNER_REMOVE: AuditAction
AUDIT_ACTION_LIMITS_SET: AuditAction
AUDIT_ACTION_RATE: AuditAction
AUDIT_ACTION_ROLE_CHANGE: AuditAction

class User(_message.Message):
    __slots__ = ("username", "role", "created_at")
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    username: str
    role: Role
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, username: _Optional[str] = ..., role: _Optional[_Union[Role, str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Token(_message.Message):
    __slots__ = ("id", "name", "prefix", "scopes", "created_at", "expires_at", "last_used_at", "revoked_at", "username")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_USED_AT_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    prefix: str
    scopes: _containers.RepeatedScalarFieldContainer[Scope]
    created_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    last_used_at: _timestamp_pb2.Timestamp
    revoked_at: _timestamp_pb2.Timestamp
    username: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., prefix: _Optional[str] = ..., scopes: _Optional[_Iterable[_Union[Scope, str]]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_used_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., username: _Optional[str] = ...) -> None: ...

class CreateUserRequest(_message.Message):
    __slots__ = ("username", "role", "token_name")
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    TOKEN_NAME_FIELD_NUMBER: _ClassVar[int]
    username: str
    role: Role
    token_name: str
    def __init__(self, username: _Optional[str] = ..., role: _Optional[_Union[Role, str]] = ..., token_name: _Optional[str] = ...) -> None: ...

class CreateUserResponse(_message.Message):
    __slots__ = ("user", "token", "secret")
    USER_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    user: User
    token: Token
    secret: str
    def __init__(self, user: _Optional[_Union[User, _Mapping]] = ..., token: _Optional[_Union[Token, _Mapping]] = ..., secret: _Optional[str] = ...) -> None: ...

class WhoAmIRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WhoAmIResponse(_message.Message):
    __slots__ = ("user", "token", "namespaces", "effective_scopes")
    USER_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    NAMESPACES_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_SCOPES_FIELD_NUMBER: _ClassVar[int]
    user: User
    token: Token
    namespaces: _containers.RepeatedScalarFieldContainer[str]
    effective_scopes: _containers.RepeatedScalarFieldContainer[Scope]
    def __init__(self, user: _Optional[_Union[User, _Mapping]] = ..., token: _Optional[_Union[Token, _Mapping]] = ..., namespaces: _Optional[_Iterable[str]] = ..., effective_scopes: _Optional[_Iterable[_Union[Scope, str]]] = ...) -> None: ...

class CreateTokenRequest(_message.Message):
    __slots__ = ("name", "scopes", "ttl_seconds")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    name: str
    scopes: _containers.RepeatedScalarFieldContainer[Scope]
    ttl_seconds: int
    def __init__(self, name: _Optional[str] = ..., scopes: _Optional[_Iterable[_Union[Scope, str]]] = ..., ttl_seconds: _Optional[int] = ...) -> None: ...

class CreateTokenResponse(_message.Message):
    __slots__ = ("token", "secret")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    token: Token
    secret: str
    def __init__(self, token: _Optional[_Union[Token, _Mapping]] = ..., secret: _Optional[str] = ...) -> None: ...

class ListTokensRequest(_message.Message):
    __slots__ = ("include_inactive",)
    INCLUDE_INACTIVE_FIELD_NUMBER: _ClassVar[int]
    include_inactive: bool
    def __init__(self, include_inactive: _Optional[bool] = ...) -> None: ...

class ListTokensResponse(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: _containers.RepeatedCompositeFieldContainer[Token]
    def __init__(self, tokens: _Optional[_Iterable[_Union[Token, _Mapping]]] = ...) -> None: ...

class RevokeTokenRequest(_message.Message):
    __slots__ = ("token_id",)
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    token_id: str
    def __init__(self, token_id: _Optional[str] = ...) -> None: ...

class RevokeTokenResponse(_message.Message):
    __slots__ = ("token",)
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    token: Token
    def __init__(self, token: _Optional[_Union[Token, _Mapping]] = ...) -> None: ...

class ListUsersRequest(_message.Message):
    __slots__ = ("role", "page")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    role: Role
    page: _common_pb2.PageRequest
    def __init__(self, role: _Optional[_Union[Role, str]] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListUsersResponse(_message.Message):
    __slots__ = ("users", "page")
    USERS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    users: _containers.RepeatedCompositeFieldContainer[User]
    page: _common_pb2.PageResponse
    def __init__(self, users: _Optional[_Iterable[_Union[User, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ...) -> None: ...

class SetUserRoleRequest(_message.Message):
    __slots__ = ("username", "role", "issue_token")
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    ISSUE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    username: str
    role: Role
    issue_token: bool
    def __init__(self, username: _Optional[str] = ..., role: _Optional[_Union[Role, str]] = ..., issue_token: _Optional[bool] = ...) -> None: ...

class SetUserRoleResponse(_message.Message):
    __slots__ = ("user", "previous_role", "token", "secret")
    USER_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_ROLE_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    user: User
    previous_role: Role
    token: Token
    secret: str
    def __init__(self, user: _Optional[_Union[User, _Mapping]] = ..., previous_role: _Optional[_Union[Role, str]] = ..., token: _Optional[_Union[Token, _Mapping]] = ..., secret: _Optional[str] = ...) -> None: ...

class AddOwnerRequest(_message.Message):
    __slots__ = ("namespace", "username")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    username: str
    def __init__(self, namespace: _Optional[str] = ..., username: _Optional[str] = ...) -> None: ...

class AddOwnerResponse(_message.Message):
    __slots__ = ("owners",)
    OWNERS_FIELD_NUMBER: _ClassVar[int]
    owners: _containers.RepeatedCompositeFieldContainer[User]
    def __init__(self, owners: _Optional[_Iterable[_Union[User, _Mapping]]] = ...) -> None: ...

class RemoveOwnerRequest(_message.Message):
    __slots__ = ("namespace", "username")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    username: str
    def __init__(self, namespace: _Optional[str] = ..., username: _Optional[str] = ...) -> None: ...

class RemoveOwnerResponse(_message.Message):
    __slots__ = ("owners",)
    OWNERS_FIELD_NUMBER: _ClassVar[int]
    owners: _containers.RepeatedCompositeFieldContainer[User]
    def __init__(self, owners: _Optional[_Iterable[_Union[User, _Mapping]]] = ...) -> None: ...

class ListOwnersRequest(_message.Message):
    __slots__ = ("namespace",)
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    def __init__(self, namespace: _Optional[str] = ...) -> None: ...

class ListOwnersResponse(_message.Message):
    __slots__ = ("owners",)
    OWNERS_FIELD_NUMBER: _ClassVar[int]
    owners: _containers.RepeatedCompositeFieldContainer[User]
    def __init__(self, owners: _Optional[_Iterable[_Union[User, _Mapping]]] = ...) -> None: ...

class GetNamespaceLimitsRequest(_message.Message):
    __slots__ = ("namespace",)
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    def __init__(self, namespace: _Optional[str] = ...) -> None: ...

class SetNamespaceLimitsRequest(_message.Message):
    __slots__ = ("namespace", "max_module_bytes", "max_assets_bytes")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    MAX_MODULE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_ASSETS_BYTES_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    max_module_bytes: int
    max_assets_bytes: int
    def __init__(self, namespace: _Optional[str] = ..., max_module_bytes: _Optional[int] = ..., max_assets_bytes: _Optional[int] = ...) -> None: ...

class NamespaceLimits(_message.Message):
    __slots__ = ("namespace", "max_module_bytes", "max_assets_bytes", "custom")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    MAX_MODULE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_ASSETS_BYTES_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    max_module_bytes: int
    max_assets_bytes: int
    custom: bool
    def __init__(self, namespace: _Optional[str] = ..., max_module_bytes: _Optional[int] = ..., max_assets_bytes: _Optional[int] = ..., custom: _Optional[bool] = ...) -> None: ...

class PublishMetadata(_message.Message):
    __slots__ = ("name", "version", "description", "license", "category", "tags", "homepage", "repository", "size_bytes", "sha256", "assets_mount", "assets_size_bytes", "scratch")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LICENSE_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    HOMEPAGE_FIELD_NUMBER: _ClassVar[int]
    REPOSITORY_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    ASSETS_MOUNT_FIELD_NUMBER: _ClassVar[int]
    ASSETS_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SCRATCH_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    description: str
    license: str
    category: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    homepage: str
    repository: str
    size_bytes: int
    sha256: str
    assets_mount: str
    assets_size_bytes: int
    scratch: ScratchSpace
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., description: _Optional[str] = ..., license: _Optional[str] = ..., category: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., homepage: _Optional[str] = ..., repository: _Optional[str] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ..., assets_mount: _Optional[str] = ..., assets_size_bytes: _Optional[int] = ..., scratch: _Optional[_Union[ScratchSpace, _Mapping]] = ...) -> None: ...

class ScratchSpace(_message.Message):
    __slots__ = ("mount", "max_bytes", "max_files")
    MOUNT_FIELD_NUMBER: _ClassVar[int]
    MAX_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_FILES_FIELD_NUMBER: _ClassVar[int]
    mount: str
    max_bytes: int
    max_files: int
    def __init__(self, mount: _Optional[str] = ..., max_bytes: _Optional[int] = ..., max_files: _Optional[int] = ...) -> None: ...

class PublishRequest(_message.Message):
    __slots__ = ("metadata", "chunk", "assets_chunk")
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    ASSETS_CHUNK_FIELD_NUMBER: _ClassVar[int]
    metadata: PublishMetadata
    chunk: bytes
    assets_chunk: bytes
    def __init__(self, metadata: _Optional[_Union[PublishMetadata, _Mapping]] = ..., chunk: _Optional[bytes] = ..., assets_chunk: _Optional[bytes] = ...) -> None: ...

class PublishResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: ModuleVersion
    def __init__(self, version: _Optional[_Union[ModuleVersion, _Mapping]] = ...) -> None: ...

class WasmImport(_message.Message):
    __slots__ = ("module", "name", "kind")
    MODULE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    module: str
    name: str
    kind: str
    def __init__(self, module: _Optional[str] = ..., name: _Optional[str] = ..., kind: _Optional[str] = ...) -> None: ...

class WasmExport(_message.Message):
    __slots__ = ("name", "kind")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: str
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[str] = ...) -> None: ...

class WasmMemory(_message.Message):
    __slots__ = ("min_pages", "max_pages", "has_max", "shared", "memory64", "imported")
    MIN_PAGES_FIELD_NUMBER: _ClassVar[int]
    MAX_PAGES_FIELD_NUMBER: _ClassVar[int]
    HAS_MAX_FIELD_NUMBER: _ClassVar[int]
    SHARED_FIELD_NUMBER: _ClassVar[int]
    MEMORY64_FIELD_NUMBER: _ClassVar[int]
    IMPORTED_FIELD_NUMBER: _ClassVar[int]
    min_pages: int
    max_pages: int
    has_max: bool
    shared: bool
    memory64: bool
    imported: bool
    def __init__(self, min_pages: _Optional[int] = ..., max_pages: _Optional[int] = ..., has_max: _Optional[bool] = ..., shared: _Optional[bool] = ..., memory64: _Optional[bool] = ..., imported: _Optional[bool] = ...) -> None: ...

class Producer(_message.Message):
    __slots__ = ("field", "name", "version")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    field: str
    name: str
    version: str
    def __init__(self, field: _Optional[str] = ..., name: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class Finding(_message.Message):
    __slots__ = ("severity", "code", "message")
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    severity: Severity
    code: str
    message: str
    def __init__(self, severity: _Optional[_Union[Severity, str]] = ..., code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class ValidationReport(_message.Message):
    __slots__ = ("valid", "kind", "size_bytes", "imports", "exports", "memories", "custom_sections", "producers", "language", "toolchain", "features", "findings", "validator", "world")
    VALID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    IMPORTS_FIELD_NUMBER: _ClassVar[int]
    EXPORTS_FIELD_NUMBER: _ClassVar[int]
    MEMORIES_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_SECTIONS_FIELD_NUMBER: _ClassVar[int]
    PRODUCERS_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    TOOLCHAIN_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    VALIDATOR_FIELD_NUMBER: _ClassVar[int]
    WORLD_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    kind: ModuleKind
    size_bytes: int
    imports: _containers.RepeatedCompositeFieldContainer[WasmImport]
    exports: _containers.RepeatedCompositeFieldContainer[WasmExport]
    memories: _containers.RepeatedCompositeFieldContainer[WasmMemory]
    custom_sections: _containers.RepeatedScalarFieldContainer[str]
    producers: _containers.RepeatedCompositeFieldContainer[Producer]
    language: str
    toolchain: str
    features: _containers.RepeatedScalarFieldContainer[str]
    findings: _containers.RepeatedCompositeFieldContainer[Finding]
    validator: str
    world: ComponentWorld
    def __init__(self, valid: _Optional[bool] = ..., kind: _Optional[_Union[ModuleKind, str]] = ..., size_bytes: _Optional[int] = ..., imports: _Optional[_Iterable[_Union[WasmImport, _Mapping]]] = ..., exports: _Optional[_Iterable[_Union[WasmExport, _Mapping]]] = ..., memories: _Optional[_Iterable[_Union[WasmMemory, _Mapping]]] = ..., custom_sections: _Optional[_Iterable[str]] = ..., producers: _Optional[_Iterable[_Union[Producer, _Mapping]]] = ..., language: _Optional[str] = ..., toolchain: _Optional[str] = ..., features: _Optional[_Iterable[str]] = ..., findings: _Optional[_Iterable[_Union[Finding, _Mapping]]] = ..., validator: _Optional[str] = ..., world: _Optional[_Union[ComponentWorld, _Mapping]] = ...) -> None: ...

class WorldItem(_message.Message):
    __slots__ = ("name", "kind", "wit", "items", "access")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    WIT_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    ACCESS_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: str
    wit: str
    items: _containers.RepeatedScalarFieldContainer[str]
    access: str
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[str] = ..., wit: _Optional[str] = ..., items: _Optional[_Iterable[str]] = ..., access: _Optional[str] = ...) -> None: ...

class ComponentWorld(_message.Message):
    __slots__ = ("imports", "exports", "is_command")
    IMPORTS_FIELD_NUMBER: _ClassVar[int]
    EXPORTS_FIELD_NUMBER: _ClassVar[int]
    IS_COMMAND_FIELD_NUMBER: _ClassVar[int]
    imports: _containers.RepeatedCompositeFieldContainer[WorldItem]
    exports: _containers.RepeatedCompositeFieldContainer[WorldItem]
    is_command: bool
    def __init__(self, imports: _Optional[_Iterable[_Union[WorldItem, _Mapping]]] = ..., exports: _Optional[_Iterable[_Union[WorldItem, _Mapping]]] = ..., is_command: _Optional[bool] = ...) -> None: ...

class Module(_message.Message):
    __slots__ = ("name", "namespace", "latest_version", "description", "license", "category", "tags", "homepage", "repository", "kind", "downloads", "runtime_fetches", "rating_average", "rating_count", "version_count", "owners", "created_at", "updated_at", "all_yanked")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    LATEST_VERSION_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LICENSE_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    HOMEPAGE_FIELD_NUMBER: _ClassVar[int]
    REPOSITORY_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DOWNLOADS_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_FETCHES_FIELD_NUMBER: _ClassVar[int]
    RATING_AVERAGE_FIELD_NUMBER: _ClassVar[int]
    RATING_COUNT_FIELD_NUMBER: _ClassVar[int]
    VERSION_COUNT_FIELD_NUMBER: _ClassVar[int]
    OWNERS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    ALL_YANKED_FIELD_NUMBER: _ClassVar[int]
    name: str
    namespace: str
    latest_version: str
    description: str
    license: str
    category: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    homepage: str
    repository: str
    kind: ModuleKind
    downloads: int
    runtime_fetches: int
    rating_average: float
    rating_count: int
    version_count: int
    owners: _containers.RepeatedScalarFieldContainer[str]
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    all_yanked: bool
    def __init__(self, name: _Optional[str] = ..., namespace: _Optional[str] = ..., latest_version: _Optional[str] = ..., description: _Optional[str] = ..., license: _Optional[str] = ..., category: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., homepage: _Optional[str] = ..., repository: _Optional[str] = ..., kind: _Optional[_Union[ModuleKind, str]] = ..., downloads: _Optional[int] = ..., runtime_fetches: _Optional[int] = ..., rating_average: _Optional[float] = ..., rating_count: _Optional[int] = ..., version_count: _Optional[int] = ..., owners: _Optional[_Iterable[str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., all_yanked: _Optional[bool] = ...) -> None: ...

class Assets(_message.Message):
    __slots__ = ("digest", "size_bytes", "file_count", "mount", "content_bytes")
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    FILE_COUNT_FIELD_NUMBER: _ClassVar[int]
    MOUNT_FIELD_NUMBER: _ClassVar[int]
    CONTENT_BYTES_FIELD_NUMBER: _ClassVar[int]
    digest: str
    size_bytes: int
    file_count: int
    mount: str
    content_bytes: int
    def __init__(self, digest: _Optional[str] = ..., size_bytes: _Optional[int] = ..., file_count: _Optional[int] = ..., mount: _Optional[str] = ..., content_bytes: _Optional[int] = ...) -> None: ...

class ModuleVersion(_message.Message):
    __slots__ = ("name", "version", "digest", "size_bytes", "kind", "description", "license", "category", "tags", "homepage", "repository", "published_at", "published_by", "yanked", "yank_reason", "yanked_at", "validation", "downloads", "prerelease", "assets", "scratch")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LICENSE_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    HOMEPAGE_FIELD_NUMBER: _ClassVar[int]
    REPOSITORY_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_AT_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_BY_FIELD_NUMBER: _ClassVar[int]
    YANKED_FIELD_NUMBER: _ClassVar[int]
    YANK_REASON_FIELD_NUMBER: _ClassVar[int]
    YANKED_AT_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_FIELD_NUMBER: _ClassVar[int]
    DOWNLOADS_FIELD_NUMBER: _ClassVar[int]
    PRERELEASE_FIELD_NUMBER: _ClassVar[int]
    ASSETS_FIELD_NUMBER: _ClassVar[int]
    SCRATCH_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    digest: str
    size_bytes: int
    kind: ModuleKind
    description: str
    license: str
    category: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    homepage: str
    repository: str
    published_at: _timestamp_pb2.Timestamp
    published_by: str
    yanked: bool
    yank_reason: str
    yanked_at: _timestamp_pb2.Timestamp
    validation: ValidationReport
    downloads: int
    prerelease: bool
    assets: Assets
    scratch: ScratchSpace
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., digest: _Optional[str] = ..., size_bytes: _Optional[int] = ..., kind: _Optional[_Union[ModuleKind, str]] = ..., description: _Optional[str] = ..., license: _Optional[str] = ..., category: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., homepage: _Optional[str] = ..., repository: _Optional[str] = ..., published_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., published_by: _Optional[str] = ..., yanked: _Optional[bool] = ..., yank_reason: _Optional[str] = ..., yanked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., validation: _Optional[_Union[ValidationReport, _Mapping]] = ..., downloads: _Optional[int] = ..., prerelease: _Optional[bool] = ..., assets: _Optional[_Union[Assets, _Mapping]] = ..., scratch: _Optional[_Union[ScratchSpace, _Mapping]] = ...) -> None: ...

class GetModuleRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetModuleResponse(_message.Message):
    __slots__ = ("module",)
    MODULE_FIELD_NUMBER: _ClassVar[int]
    module: Module
    def __init__(self, module: _Optional[_Union[Module, _Mapping]] = ...) -> None: ...

class ListVersionsRequest(_message.Message):
    __slots__ = ("name", "page")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    name: str
    page: _common_pb2.PageRequest
    def __init__(self, name: _Optional[str] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListVersionsResponse(_message.Message):
    __slots__ = ("versions", "page")
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[ModuleVersion]
    page: _common_pb2.PageResponse
    def __init__(self, versions: _Optional[_Iterable[_Union[ModuleVersion, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ...) -> None: ...

class GetVersionRequest(_message.Message):
    __slots__ = ("name", "version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class GetVersionResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: ModuleVersion
    def __init__(self, version: _Optional[_Union[ModuleVersion, _Mapping]] = ...) -> None: ...

class ResolveRequest(_message.Message):
    __slots__ = ("name", "requirement")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REQUIREMENT_FIELD_NUMBER: _ClassVar[int]
    name: str
    requirement: str
    def __init__(self, name: _Optional[str] = ..., requirement: _Optional[str] = ...) -> None: ...

class ResolveResponse(_message.Message):
    __slots__ = ("name", "version", "digest", "size_bytes", "kind", "yanked", "assets", "scratch")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    YANKED_FIELD_NUMBER: _ClassVar[int]
    ASSETS_FIELD_NUMBER: _ClassVar[int]
    SCRATCH_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    digest: str
    size_bytes: int
    kind: ModuleKind
    yanked: bool
    assets: Assets
    scratch: ScratchSpace
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., digest: _Optional[str] = ..., size_bytes: _Optional[int] = ..., kind: _Optional[_Union[ModuleKind, str]] = ..., yanked: _Optional[bool] = ..., assets: _Optional[_Union[Assets, _Mapping]] = ..., scratch: _Optional[_Union[ScratchSpace, _Mapping]] = ...) -> None: ...

class DownloadRequest(_message.Message):
    __slots__ = ("name", "version", "digest", "purpose", "chunk_bytes")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    CHUNK_BYTES_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    digest: str
    purpose: DownloadPurpose
    chunk_bytes: int
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., digest: _Optional[str] = ..., purpose: _Optional[_Union[DownloadPurpose, str]] = ..., chunk_bytes: _Optional[int] = ...) -> None: ...

class DownloadHeader(_message.Message):
    __slots__ = ("digest", "size_bytes", "name", "version", "kind")
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    digest: str
    size_bytes: int
    name: str
    version: str
    kind: ModuleKind
    def __init__(self, digest: _Optional[str] = ..., size_bytes: _Optional[int] = ..., name: _Optional[str] = ..., version: _Optional[str] = ..., kind: _Optional[_Union[ModuleKind, str]] = ...) -> None: ...

class DownloadResponse(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: DownloadHeader
    chunk: bytes
    def __init__(self, header: _Optional[_Union[DownloadHeader, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class WatchPublishesRequest(_message.Message):
    __slots__ = ("after_seq",)
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    after_seq: int
    def __init__(self, after_seq: _Optional[int] = ...) -> None: ...

class PublishEvent(_message.Message):
    __slots__ = ("seq", "version")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    seq: int
    version: ModuleVersion
    def __init__(self, seq: _Optional[int] = ..., version: _Optional[_Union[ModuleVersion, _Mapping]] = ...) -> None: ...

class YankRequest(_message.Message):
    __slots__ = ("name", "version", "reason")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    reason: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class YankResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: ModuleVersion
    def __init__(self, version: _Optional[_Union[ModuleVersion, _Mapping]] = ...) -> None: ...

class UnyankRequest(_message.Message):
    __slots__ = ("name", "version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class UnyankResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: ModuleVersion
    def __init__(self, version: _Optional[_Union[ModuleVersion, _Mapping]] = ...) -> None: ...

class SearchModulesRequest(_message.Message):
    __slots__ = ("query", "category", "tag", "license", "kind", "owner", "namespace", "sort", "page")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    LICENSE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    SORT_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    query: str
    category: str
    tag: str
    license: str
    kind: ModuleKind
    owner: str
    namespace: str
    sort: SearchSort
    page: _common_pb2.PageRequest
    def __init__(self, query: _Optional[str] = ..., category: _Optional[str] = ..., tag: _Optional[str] = ..., license: _Optional[str] = ..., kind: _Optional[_Union[ModuleKind, str]] = ..., owner: _Optional[str] = ..., namespace: _Optional[str] = ..., sort: _Optional[_Union[SearchSort, str]] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ModuleSummary(_message.Message):
    __slots__ = ("name", "latest_version", "description", "license", "category", "tags", "kind", "downloads", "rating_average", "rating_count", "updated_at", "score")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LATEST_VERSION_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LICENSE_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DOWNLOADS_FIELD_NUMBER: _ClassVar[int]
    RATING_AVERAGE_FIELD_NUMBER: _ClassVar[int]
    RATING_COUNT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    name: str
    latest_version: str
    description: str
    license: str
    category: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    kind: ModuleKind
    downloads: int
    rating_average: float
    rating_count: int
    updated_at: _timestamp_pb2.Timestamp
    score: float
    def __init__(self, name: _Optional[str] = ..., latest_version: _Optional[str] = ..., description: _Optional[str] = ..., license: _Optional[str] = ..., category: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., kind: _Optional[_Union[ModuleKind, str]] = ..., downloads: _Optional[int] = ..., rating_average: _Optional[float] = ..., rating_count: _Optional[int] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., score: _Optional[float] = ...) -> None: ...

class SearchModulesResponse(_message.Message):
    __slots__ = ("modules", "page")
    MODULES_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    modules: _containers.RepeatedCompositeFieldContainer[ModuleSummary]
    page: _common_pb2.PageResponse
    def __init__(self, modules: _Optional[_Iterable[_Union[ModuleSummary, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ...) -> None: ...

class Rating(_message.Message):
    __slots__ = ("username", "stars", "review", "created_at", "updated_at")
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    STARS_FIELD_NUMBER: _ClassVar[int]
    REVIEW_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    username: str
    stars: int
    review: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, username: _Optional[str] = ..., stars: _Optional[int] = ..., review: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RatingSummary(_message.Message):
    __slots__ = ("count", "average", "histogram")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_FIELD_NUMBER: _ClassVar[int]
    HISTOGRAM_FIELD_NUMBER: _ClassVar[int]
    count: int
    average: float
    histogram: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, count: _Optional[int] = ..., average: _Optional[float] = ..., histogram: _Optional[_Iterable[int]] = ...) -> None: ...

class RateModuleRequest(_message.Message):
    __slots__ = ("name", "stars", "review")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STARS_FIELD_NUMBER: _ClassVar[int]
    REVIEW_FIELD_NUMBER: _ClassVar[int]
    name: str
    stars: int
    review: str
    def __init__(self, name: _Optional[str] = ..., stars: _Optional[int] = ..., review: _Optional[str] = ...) -> None: ...

class RateModuleResponse(_message.Message):
    __slots__ = ("rating", "summary")
    RATING_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    rating: Rating
    summary: RatingSummary
    def __init__(self, rating: _Optional[_Union[Rating, _Mapping]] = ..., summary: _Optional[_Union[RatingSummary, _Mapping]] = ...) -> None: ...

class ListRatingsRequest(_message.Message):
    __slots__ = ("name", "page")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    name: str
    page: _common_pb2.PageRequest
    def __init__(self, name: _Optional[str] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListRatingsResponse(_message.Message):
    __slots__ = ("ratings", "summary", "page")
    RATINGS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    ratings: _containers.RepeatedCompositeFieldContainer[Rating]
    summary: RatingSummary
    page: _common_pb2.PageResponse
    def __init__(self, ratings: _Optional[_Iterable[_Union[Rating, _Mapping]]] = ..., summary: _Optional[_Union[RatingSummary, _Mapping]] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ...) -> None: ...

class GetDownloadStatsRequest(_message.Message):
    __slots__ = ("name", "days")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DAYS_FIELD_NUMBER: _ClassVar[int]
    name: str
    days: int
    def __init__(self, name: _Optional[str] = ..., days: _Optional[int] = ...) -> None: ...

class VersionDownloads(_message.Message):
    __slots__ = ("version", "user_downloads", "runtime_fetches", "user_downloads_total", "runtime_fetches_total")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    USER_DOWNLOADS_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_FETCHES_FIELD_NUMBER: _ClassVar[int]
    USER_DOWNLOADS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_FETCHES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    version: str
    user_downloads: int
    runtime_fetches: int
    user_downloads_total: int
    runtime_fetches_total: int
    def __init__(self, version: _Optional[str] = ..., user_downloads: _Optional[int] = ..., runtime_fetches: _Optional[int] = ..., user_downloads_total: _Optional[int] = ..., runtime_fetches_total: _Optional[int] = ...) -> None: ...

class DailyDownloads(_message.Message):
    __slots__ = ("date", "user_downloads", "runtime_fetches")
    DATE_FIELD_NUMBER: _ClassVar[int]
    USER_DOWNLOADS_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_FETCHES_FIELD_NUMBER: _ClassVar[int]
    date: str
    user_downloads: int
    runtime_fetches: int
    def __init__(self, date: _Optional[str] = ..., user_downloads: _Optional[int] = ..., runtime_fetches: _Optional[int] = ...) -> None: ...

class GetDownloadStatsResponse(_message.Message):
    __slots__ = ("name", "days", "user_downloads", "runtime_fetches", "user_downloads_total", "runtime_fetches_total", "versions", "daily")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DAYS_FIELD_NUMBER: _ClassVar[int]
    USER_DOWNLOADS_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_FETCHES_FIELD_NUMBER: _ClassVar[int]
    USER_DOWNLOADS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_FETCHES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    DAILY_FIELD_NUMBER: _ClassVar[int]
    name: str
    days: int
    user_downloads: int
    runtime_fetches: int
    user_downloads_total: int
    runtime_fetches_total: int
    versions: _containers.RepeatedCompositeFieldContainer[VersionDownloads]
    daily: _containers.RepeatedCompositeFieldContainer[DailyDownloads]
    def __init__(self, name: _Optional[str] = ..., days: _Optional[int] = ..., user_downloads: _Optional[int] = ..., runtime_fetches: _Optional[int] = ..., user_downloads_total: _Optional[int] = ..., runtime_fetches_total: _Optional[int] = ..., versions: _Optional[_Iterable[_Union[VersionDownloads, _Mapping]]] = ..., daily: _Optional[_Iterable[_Union[DailyDownloads, _Mapping]]] = ...) -> None: ...

class AuditEvent(_message.Message):
    __slots__ = ("id", "at", "actor", "action", "namespace", "module", "version", "token_id", "subject", "detail", "client_address", "peer_address", "trace_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    MODULE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PEER_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    id: int
    at: _timestamp_pb2.Timestamp
    actor: str
    action: AuditAction
    namespace: str
    module: str
    version: str
    token_id: str
    subject: str
    detail: _struct_pb2.Struct
    client_address: str
    peer_address: str
    trace_id: str
    def __init__(self, id: _Optional[int] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor: _Optional[str] = ..., action: _Optional[_Union[AuditAction, str]] = ..., namespace: _Optional[str] = ..., module: _Optional[str] = ..., version: _Optional[str] = ..., token_id: _Optional[str] = ..., subject: _Optional[str] = ..., detail: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., client_address: _Optional[str] = ..., peer_address: _Optional[str] = ..., trace_id: _Optional[str] = ...) -> None: ...

class ListAuditEventsRequest(_message.Message):
    __slots__ = ("namespace", "actor", "action", "since", "until", "page")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    actor: str
    action: AuditAction
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    page: _common_pb2.PageRequest
    def __init__(self, namespace: _Optional[str] = ..., actor: _Optional[str] = ..., action: _Optional[_Union[AuditAction, str]] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListAuditEventsResponse(_message.Message):
    __slots__ = ("events", "page")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[AuditEvent]
    page: _common_pb2.PageResponse
    def __init__(self, events: _Optional[_Iterable[_Union[AuditEvent, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ...) -> None: ...
