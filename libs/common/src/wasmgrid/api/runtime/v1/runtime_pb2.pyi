from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Outcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTCOME_UNSPECIFIED: _ClassVar[Outcome]
    OUTCOME_OK: _ClassVar[Outcome]
    OUTCOME_EXIT: _ClassVar[Outcome]
    OUTCOME_TRAP: _ClassVar[Outcome]
    OUTCOME_FUEL_EXHAUSTED: _ClassVar[Outcome]
    OUTCOME_TIMEOUT: _ClassVar[Outcome]
    OUTCOME_MEMORY_LIMIT: _ClassVar[Outcome]
    OUTCOME_STACK_OVERFLOW: _ClassVar[Outcome]
    OUTCOME_OUTPUT_TRUNCATED: _ClassVar[Outcome]
    OUTCOME_SCRATCH_LIMIT: _ClassVar[Outcome]

class CacheTier(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CACHE_TIER_UNSPECIFIED: _ClassVar[CacheTier]
    CACHE_TIER_MEMORY: _ClassVar[CacheTier]
    CACHE_TIER_DISK: _ClassVar[CacheTier]
    CACHE_TIER_COMPILED: _ClassVar[CacheTier]

class ValueType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VALUE_TYPE_UNSPECIFIED: _ClassVar[ValueType]
    VALUE_TYPE_I32: _ClassVar[ValueType]
    VALUE_TYPE_I64: _ClassVar[ValueType]
    VALUE_TYPE_F32: _ClassVar[ValueType]
    VALUE_TYPE_F64: _ClassVar[ValueType]
OUTCOME_UNSPECIFIED: Outcome
OUTCOME_OK: Outcome
OUTCOME_EXIT: Outcome
OUTCOME_TRAP: Outcome
OUTCOME_FUEL_EXHAUSTED: Outcome
OUTCOME_TIMEOUT: Outcome
OUTCOME_MEMORY_LIMIT: Outcome
OUTCOME_STACK_OVERFLOW: Outcome
OUTCOME_OUTPUT_TRUNCATED: Outcome
OUTCOME_SCRATCH_LIMIT: Outcome
CACHE_TIER_UNSPECIFIED: CacheTier
CACHE_TIER_MEMORY: CacheTier
CACHE_TIER_DISK: CacheTier
CACHE_TIER_COMPILED: CacheTier
VALUE_TYPE_UNSPECIFIED: ValueType
VALUE_TYPE_I32: ValueType
VALUE_TYPE_I64: ValueType
VALUE_TYPE_F32: ValueType
VALUE_TYPE_F64: ValueType

class StreamRequests(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[StreamRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[StreamRequest, _Mapping]]] = ...) -> None: ...

class StreamResponses(_message.Message):
    __slots__ = ("responses",)
    RESPONSES_FIELD_NUMBER: _ClassVar[int]
    responses: _containers.RepeatedCompositeFieldContainer[StreamResponse]
    def __init__(self, responses: _Optional[_Iterable[_Union[StreamResponse, _Mapping]]] = ...) -> None: ...

class StreamRequest(_message.Message):
    __slots__ = ("id", "timeout_ms", "metadata", "invoke", "call", "cancel")
    ID_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    INVOKE_FIELD_NUMBER: _ClassVar[int]
    CALL_FIELD_NUMBER: _ClassVar[int]
    CANCEL_FIELD_NUMBER: _ClassVar[int]
    id: int
    timeout_ms: int
    metadata: _containers.RepeatedCompositeFieldContainer[StreamMetadata]
    invoke: InvokeRequest
    call: CallRequest
    cancel: bool
    def __init__(self, id: _Optional[int] = ..., timeout_ms: _Optional[int] = ..., metadata: _Optional[_Iterable[_Union[StreamMetadata, _Mapping]]] = ..., invoke: _Optional[_Union[InvokeRequest, _Mapping]] = ..., call: _Optional[_Union[CallRequest, _Mapping]] = ..., cancel: _Optional[bool] = ...) -> None: ...

class StreamResponse(_message.Message):
    __slots__ = ("id", "invoke", "call", "error")
    ID_FIELD_NUMBER: _ClassVar[int]
    INVOKE_FIELD_NUMBER: _ClassVar[int]
    CALL_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    id: int
    invoke: InvokeResponse
    call: CallResponse
    error: StreamError
    def __init__(self, id: _Optional[int] = ..., invoke: _Optional[_Union[InvokeResponse, _Mapping]] = ..., call: _Optional[_Union[CallResponse, _Mapping]] = ..., error: _Optional[_Union[StreamError, _Mapping]] = ...) -> None: ...

class StreamError(_message.Message):
    __slots__ = ("code", "message", "trailers")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TRAILERS_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    trailers: _containers.RepeatedCompositeFieldContainer[StreamMetadata]
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ..., trailers: _Optional[_Iterable[_Union[StreamMetadata, _Mapping]]] = ...) -> None: ...

class StreamMetadata(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: str
    def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class ModuleSource(_message.Message):
    __slots__ = ("digest", "wasm", "display_name")
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    WASM_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    digest: str
    wasm: bytes
    display_name: str
    def __init__(self, digest: _Optional[str] = ..., wasm: _Optional[bytes] = ..., display_name: _Optional[str] = ...) -> None: ...

class Assets(_message.Message):
    __slots__ = ("digest", "mount")
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    MOUNT_FIELD_NUMBER: _ClassVar[int]
    digest: str
    mount: str
    def __init__(self, digest: _Optional[str] = ..., mount: _Optional[str] = ...) -> None: ...

class Scratch(_message.Message):
    __slots__ = ("mount", "max_bytes", "max_files")
    MOUNT_FIELD_NUMBER: _ClassVar[int]
    MAX_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_FILES_FIELD_NUMBER: _ClassVar[int]
    mount: str
    max_bytes: int
    max_files: int
    def __init__(self, mount: _Optional[str] = ..., max_bytes: _Optional[int] = ..., max_files: _Optional[int] = ...) -> None: ...

class Limits(_message.Message):
    __slots__ = ("fuel", "timeout_ms", "memory_bytes", "stdout_bytes", "stderr_bytes")
    FUEL_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    STDOUT_BYTES_FIELD_NUMBER: _ClassVar[int]
    STDERR_BYTES_FIELD_NUMBER: _ClassVar[int]
    fuel: int
    timeout_ms: int
    memory_bytes: int
    stdout_bytes: int
    stderr_bytes: int
    def __init__(self, fuel: _Optional[int] = ..., timeout_ms: _Optional[int] = ..., memory_bytes: _Optional[int] = ..., stdout_bytes: _Optional[int] = ..., stderr_bytes: _Optional[int] = ...) -> None: ...

class AppliedLimits(_message.Message):
    __slots__ = ("fuel", "timeout_ms", "memory_bytes", "stdout_bytes", "stderr_bytes", "stack_bytes")
    FUEL_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    STDOUT_BYTES_FIELD_NUMBER: _ClassVar[int]
    STDERR_BYTES_FIELD_NUMBER: _ClassVar[int]
    STACK_BYTES_FIELD_NUMBER: _ClassVar[int]
    fuel: int
    timeout_ms: int
    memory_bytes: int
    stdout_bytes: int
    stderr_bytes: int
    stack_bytes: int
    def __init__(self, fuel: _Optional[int] = ..., timeout_ms: _Optional[int] = ..., memory_bytes: _Optional[int] = ..., stdout_bytes: _Optional[int] = ..., stderr_bytes: _Optional[int] = ..., stack_bytes: _Optional[int] = ...) -> None: ...

class EnvVar(_message.Message):
    __slots__ = ("name", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: str
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class InvokeRequest(_message.Message):
    __slots__ = ("module", "stdin", "args", "env", "limits", "assets", "scratch")
    MODULE_FIELD_NUMBER: _ClassVar[int]
    STDIN_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    ASSETS_FIELD_NUMBER: _ClassVar[int]
    SCRATCH_FIELD_NUMBER: _ClassVar[int]
    module: ModuleSource
    stdin: bytes
    args: _containers.RepeatedScalarFieldContainer[str]
    env: _containers.RepeatedCompositeFieldContainer[EnvVar]
    limits: Limits
    assets: Assets
    scratch: Scratch
    def __init__(self, module: _Optional[_Union[ModuleSource, _Mapping]] = ..., stdin: _Optional[bytes] = ..., args: _Optional[_Iterable[str]] = ..., env: _Optional[_Iterable[_Union[EnvVar, _Mapping]]] = ..., limits: _Optional[_Union[Limits, _Mapping]] = ..., assets: _Optional[_Union[Assets, _Mapping]] = ..., scratch: _Optional[_Union[Scratch, _Mapping]] = ...) -> None: ...

class InvokeResponse(_message.Message):
    __slots__ = ("outcome", "exit_code", "trap_message", "output", "execution")
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    TRAP_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_FIELD_NUMBER: _ClassVar[int]
    outcome: Outcome
    exit_code: int
    trap_message: str
    output: Output
    execution: Execution
    def __init__(self, outcome: _Optional[_Union[Outcome, str]] = ..., exit_code: _Optional[int] = ..., trap_message: _Optional[str] = ..., output: _Optional[_Union[Output, _Mapping]] = ..., execution: _Optional[_Union[Execution, _Mapping]] = ...) -> None: ...

class Output(_message.Message):
    __slots__ = ("stdout", "stderr", "stdout_truncated", "stdout_dropped_bytes", "stderr_truncated", "stderr_dropped_bytes")
    STDOUT_FIELD_NUMBER: _ClassVar[int]
    STDERR_FIELD_NUMBER: _ClassVar[int]
    STDOUT_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    STDOUT_DROPPED_BYTES_FIELD_NUMBER: _ClassVar[int]
    STDERR_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    STDERR_DROPPED_BYTES_FIELD_NUMBER: _ClassVar[int]
    stdout: bytes
    stderr: bytes
    stdout_truncated: bool
    stdout_dropped_bytes: int
    stderr_truncated: bool
    stderr_dropped_bytes: int
    def __init__(self, stdout: _Optional[bytes] = ..., stderr: _Optional[bytes] = ..., stdout_truncated: _Optional[bool] = ..., stdout_dropped_bytes: _Optional[int] = ..., stderr_truncated: _Optional[bool] = ..., stderr_dropped_bytes: _Optional[int] = ...) -> None: ...

class Execution(_message.Message):
    __slots__ = ("digest", "fuel_consumed", "wall_time_us", "compiled_cache_hit", "cache_tier", "limits", "memory_bytes")
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    FUEL_CONSUMED_FIELD_NUMBER: _ClassVar[int]
    WALL_TIME_US_FIELD_NUMBER: _ClassVar[int]
    COMPILED_CACHE_HIT_FIELD_NUMBER: _ClassVar[int]
    CACHE_TIER_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    digest: str
    fuel_consumed: int
    wall_time_us: int
    compiled_cache_hit: bool
    cache_tier: CacheTier
    limits: AppliedLimits
    memory_bytes: int
    def __init__(self, digest: _Optional[str] = ..., fuel_consumed: _Optional[int] = ..., wall_time_us: _Optional[int] = ..., compiled_cache_hit: _Optional[bool] = ..., cache_tier: _Optional[_Union[CacheTier, str]] = ..., limits: _Optional[_Union[AppliedLimits, _Mapping]] = ..., memory_bytes: _Optional[int] = ...) -> None: ...

class Value(_message.Message):
    __slots__ = ("i32", "i64", "f32", "f64")
    I32_FIELD_NUMBER: _ClassVar[int]
    I64_FIELD_NUMBER: _ClassVar[int]
    F32_FIELD_NUMBER: _ClassVar[int]
    F64_FIELD_NUMBER: _ClassVar[int]
    i32: int
    i64: int
    f32: float
    f64: float
    def __init__(self, i32: _Optional[int] = ..., i64: _Optional[int] = ..., f32: _Optional[float] = ..., f64: _Optional[float] = ...) -> None: ...

class CallRequest(_message.Message):
    __slots__ = ("module", "function", "args", "env", "limits", "args_json")
    MODULE_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    ARGS_JSON_FIELD_NUMBER: _ClassVar[int]
    module: ModuleSource
    function: str
    args: _containers.RepeatedCompositeFieldContainer[Value]
    env: _containers.RepeatedCompositeFieldContainer[EnvVar]
    limits: Limits
    args_json: str
    def __init__(self, module: _Optional[_Union[ModuleSource, _Mapping]] = ..., function: _Optional[str] = ..., args: _Optional[_Iterable[_Union[Value, _Mapping]]] = ..., env: _Optional[_Iterable[_Union[EnvVar, _Mapping]]] = ..., limits: _Optional[_Union[Limits, _Mapping]] = ..., args_json: _Optional[str] = ...) -> None: ...

class CallResponse(_message.Message):
    __slots__ = ("outcome", "results", "exit_code", "trap_message", "output", "execution", "results_json")
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    TRAP_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_FIELD_NUMBER: _ClassVar[int]
    RESULTS_JSON_FIELD_NUMBER: _ClassVar[int]
    outcome: Outcome
    results: _containers.RepeatedCompositeFieldContainer[Value]
    exit_code: int
    trap_message: str
    output: Output
    execution: Execution
    results_json: str
    def __init__(self, outcome: _Optional[_Union[Outcome, str]] = ..., results: _Optional[_Iterable[_Union[Value, _Mapping]]] = ..., exit_code: _Optional[int] = ..., trap_message: _Optional[str] = ..., output: _Optional[_Union[Output, _Mapping]] = ..., execution: _Optional[_Union[Execution, _Mapping]] = ..., results_json: _Optional[str] = ...) -> None: ...

class ComponentFunction(_message.Message):
    __slots__ = ("name", "signature", "callable")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    CALLABLE_FIELD_NUMBER: _ClassVar[int]
    name: str
    signature: str
    callable: bool
    def __init__(self, name: _Optional[str] = ..., signature: _Optional[str] = ..., callable: _Optional[bool] = ...) -> None: ...

class FunctionSignature(_message.Message):
    __slots__ = ("name", "params", "results", "callable")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    CALLABLE_FIELD_NUMBER: _ClassVar[int]
    name: str
    params: _containers.RepeatedScalarFieldContainer[ValueType]
    results: _containers.RepeatedScalarFieldContainer[ValueType]
    callable: bool
    def __init__(self, name: _Optional[str] = ..., params: _Optional[_Iterable[_Union[ValueType, str]]] = ..., results: _Optional[_Iterable[_Union[ValueType, str]]] = ..., callable: _Optional[bool] = ...) -> None: ...

class WarmRequest(_message.Message):
    __slots__ = ("module",)
    MODULE_FIELD_NUMBER: _ClassVar[int]
    module: ModuleSource
    def __init__(self, module: _Optional[_Union[ModuleSource, _Mapping]] = ...) -> None: ...

class WarmResponse(_message.Message):
    __slots__ = ("digest", "cache_tier", "elapsed_us", "module_bytes", "is_command", "functions", "is_component", "component_functions")
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    CACHE_TIER_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_US_FIELD_NUMBER: _ClassVar[int]
    MODULE_BYTES_FIELD_NUMBER: _ClassVar[int]
    IS_COMMAND_FIELD_NUMBER: _ClassVar[int]
    FUNCTIONS_FIELD_NUMBER: _ClassVar[int]
    IS_COMPONENT_FIELD_NUMBER: _ClassVar[int]
    COMPONENT_FUNCTIONS_FIELD_NUMBER: _ClassVar[int]
    digest: str
    cache_tier: CacheTier
    elapsed_us: int
    module_bytes: int
    is_command: bool
    functions: _containers.RepeatedCompositeFieldContainer[FunctionSignature]
    is_component: bool
    component_functions: _containers.RepeatedCompositeFieldContainer[ComponentFunction]
    def __init__(self, digest: _Optional[str] = ..., cache_tier: _Optional[_Union[CacheTier, str]] = ..., elapsed_us: _Optional[int] = ..., module_bytes: _Optional[int] = ..., is_command: _Optional[bool] = ..., functions: _Optional[_Iterable[_Union[FunctionSignature, _Mapping]]] = ..., is_component: _Optional[bool] = ..., component_functions: _Optional[_Iterable[_Union[ComponentFunction, _Mapping]]] = ...) -> None: ...

class GetStatsRequest(_message.Message):
    __slots__ = ("top_n",)
    TOP_N_FIELD_NUMBER: _ClassVar[int]
    top_n: int
    def __init__(self, top_n: _Optional[int] = ...) -> None: ...

class OutcomeCount(_message.Message):
    __slots__ = ("outcome", "count")
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    outcome: Outcome
    count: int
    def __init__(self, outcome: _Optional[_Union[Outcome, str]] = ..., count: _Optional[int] = ...) -> None: ...

class ModuleStats(_message.Message):
    __slots__ = ("digest", "display_name", "invocations", "outcomes", "total_wall_time_us", "max_wall_time_us", "total_fuel_consumed", "last_invoked_unix_ms")
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    INVOCATIONS_FIELD_NUMBER: _ClassVar[int]
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_WALL_TIME_US_FIELD_NUMBER: _ClassVar[int]
    MAX_WALL_TIME_US_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FUEL_CONSUMED_FIELD_NUMBER: _ClassVar[int]
    LAST_INVOKED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    digest: str
    display_name: str
    invocations: int
    outcomes: _containers.RepeatedCompositeFieldContainer[OutcomeCount]
    total_wall_time_us: int
    max_wall_time_us: int
    total_fuel_consumed: int
    last_invoked_unix_ms: int
    def __init__(self, digest: _Optional[str] = ..., display_name: _Optional[str] = ..., invocations: _Optional[int] = ..., outcomes: _Optional[_Iterable[_Union[OutcomeCount, _Mapping]]] = ..., total_wall_time_us: _Optional[int] = ..., max_wall_time_us: _Optional[int] = ..., total_fuel_consumed: _Optional[int] = ..., last_invoked_unix_ms: _Optional[int] = ...) -> None: ...

class GetStatsResponse(_message.Message):
    __slots__ = ("invocations", "outcomes", "in_flight", "max_concurrent", "rejected", "compiled_cache_entries", "compiled_cache_capacity", "compiled_cache_hits", "compiled_cache_misses", "modules_tracked", "modules", "worker_id", "pid", "compiled_cache_bytes", "compiled_cache_max_bytes", "compiles_in_progress", "instance_id")
    INVOCATIONS_FIELD_NUMBER: _ClassVar[int]
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    COMPILED_CACHE_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    COMPILED_CACHE_CAPACITY_FIELD_NUMBER: _ClassVar[int]
    COMPILED_CACHE_HITS_FIELD_NUMBER: _ClassVar[int]
    COMPILED_CACHE_MISSES_FIELD_NUMBER: _ClassVar[int]
    MODULES_TRACKED_FIELD_NUMBER: _ClassVar[int]
    MODULES_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    COMPILED_CACHE_BYTES_FIELD_NUMBER: _ClassVar[int]
    COMPILED_CACHE_MAX_BYTES_FIELD_NUMBER: _ClassVar[int]
    COMPILES_IN_PROGRESS_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    invocations: int
    outcomes: _containers.RepeatedCompositeFieldContainer[OutcomeCount]
    in_flight: int
    max_concurrent: int
    rejected: int
    compiled_cache_entries: int
    compiled_cache_capacity: int
    compiled_cache_hits: int
    compiled_cache_misses: int
    modules_tracked: int
    modules: _containers.RepeatedCompositeFieldContainer[ModuleStats]
    worker_id: int
    pid: int
    compiled_cache_bytes: int
    compiled_cache_max_bytes: int
    compiles_in_progress: int
    instance_id: str
    def __init__(self, invocations: _Optional[int] = ..., outcomes: _Optional[_Iterable[_Union[OutcomeCount, _Mapping]]] = ..., in_flight: _Optional[int] = ..., max_concurrent: _Optional[int] = ..., rejected: _Optional[int] = ..., compiled_cache_entries: _Optional[int] = ..., compiled_cache_capacity: _Optional[int] = ..., compiled_cache_hits: _Optional[int] = ..., compiled_cache_misses: _Optional[int] = ..., modules_tracked: _Optional[int] = ..., modules: _Optional[_Iterable[_Union[ModuleStats, _Mapping]]] = ..., worker_id: _Optional[int] = ..., pid: _Optional[int] = ..., compiled_cache_bytes: _Optional[int] = ..., compiled_cache_max_bytes: _Optional[int] = ..., compiles_in_progress: _Optional[int] = ..., instance_id: _Optional[str] = ...) -> None: ...
