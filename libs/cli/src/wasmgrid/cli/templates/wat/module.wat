;; {{name}}: a WASI command in the WebAssembly text format.
;; It writes a greeting to stdout with fd_write and exits 0.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; the iovec at 0: (pointer 16, length 24); the text at 16
  (data (i32.const 0) "\10\00\00\00\18\00\00\00")
  (data (i32.const 16) "Hello from WebAssembly!\n")
  (func (export "_start")
    (drop (call $fd_write
      (i32.const 1)    ;; stdout
      (i32.const 0)    ;; iovecs
      (i32.const 1)    ;; one iovec
      (i32.const 8)))) ;; where the byte count goes
)
