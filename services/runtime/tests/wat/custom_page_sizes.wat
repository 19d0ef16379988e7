;; custom_page_sizes: uses a proposal that wasmtime (wasmtime-py 50) leaves
;; DISABLED by default: custom-page-sizes (a memory with 1-byte pages).
;; Kind: function (reactor, no _start). Imports: none.
;; Exports: memory (1 page of 1 byte, max 1024 pages), size() -> i32 == 1.
;; Expected with a default wasmtime.Config(): wasmtime.wat2wasm() accepts it,
;; but Module(engine, wasm) raises WasmtimeError:
;;   failed to parse WebAssembly module
;;
;;   Caused by:
;;       the custom page sizes proposal must be enabled to customize a
;;       memory's page size (at offset 0x16)
;; (threads/shared memory, exceptions, gc, tail calls, memory64 and
;; multi-memory are all ENABLED by default in wasmtime 50, so they cannot
;; serve as the "disabled proposal" case.)
(module
  (memory (export "memory") 1 1024 (pagesize 1))
  (func (export "size") (result i32)
    (memory.size)))
