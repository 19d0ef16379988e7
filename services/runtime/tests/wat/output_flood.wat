;; output_flood: command module that writes to stdout forever.
;; Kind: command. Exports: _start, memory.
;; Imports: wasi_snapshot_preview1.fd_write.
;; Fills a 4 KiB buffer with 'A' (64 lines of 63 'A' + '\n') and calls
;; fd_write(1, ...) with it in an endless loop, ignoring the result (so a
;; refused write does not end it either).
;; Expected: never stops by itself; the runtime's output cap (or fuel /
;; deadline) must end it. Output is 4096-byte chunks of "AAA...A\n" lines.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; iovec at 0: {buf = 64, len = 4096}; nwritten at 8; buffer at 64.
  (func (export "_start")
    (local $i i32)
    (memory.fill (i32.const 64) (i32.const 65) (i32.const 4096))
    (local.set $i (i32.const 127))
    (loop $nl
      (i32.store8 (i32.add (i32.const 64) (local.get $i)) (i32.const 10))
      (local.set $i (i32.add (local.get $i) (i32.const 64)))
      (br_if $nl (i32.lt_u (local.get $i) (i32.const 4096))))
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 4096))
    (loop $flood
      (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (br $flood))))
