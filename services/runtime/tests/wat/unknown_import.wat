;; unknown_import: command module importing a function no host provides.
;; Kind: command. Exports: _start, memory. Imports: env.not_a_wasi_function.
;; Expected: compiles fine, but linking fails before any code runs: wasmtime's
;; Linker (with only WASI defined) raises "unknown import:
;; `env::not_a_wasi_function` has not been defined" (instantiate / instantiate_pre).
(module
  (import "env" "not_a_wasi_function" (func $missing (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (drop (call $missing (i32.const 42)))))
