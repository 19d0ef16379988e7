;; env_dump: writes its whole WASI environment to stdout, one NAME=value per
;; line, in the order the host passed it.
;; Kind: command. Exports: _start, memory.
;; Imports: wasi_snapshot_preview1.environ_sizes_get, environ_get, fd_write.
;; Use: call once with env CANARY=<secret>, then again without it; the second
;; stdout must not contain CANARY (no environment leaks between calls). With an
;; empty environment stdout is empty. Memory grows to fit a large environment.
(module
  (import "wasi_snapshot_preview1" "environ_sizes_get"
    (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get"
    (func $environ_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; layout: 0 count, 4 buf size, 8 iovec {buf, len}, 16 nwritten,
  ;; 64 pointer array (count * 4 bytes), then the NUL-separated strings.
  (func (export "_start")
    (local $count i32) (local $size i32) (local $buf i32) (local $end i32) (local $i i32)
    (if (call $environ_sizes_get (i32.const 0) (i32.const 4))
      (then unreachable))
    (local.set $count (i32.load (i32.const 0)))
    (local.set $size (i32.load (i32.const 4)))
    (if (i32.eqz (local.get $size)) (then return))
    (local.set $buf (i32.add (i32.const 64) (i32.shl (local.get $count) (i32.const 2))))
    (local.set $end (i32.add (local.get $buf) (local.get $size)))
    ;; grow memory until [0, end) fits
    (block $fits
      (loop $more
        (br_if $fits (i32.le_u (local.get $end)
                               (i32.shl (memory.size) (i32.const 16))))
        (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1))
          (then unreachable))
        (br $more)))
    (if (call $environ_get (i32.const 64) (local.get $buf))
      (then unreachable))
    ;; NUL terminators become newlines
    (local.set $i (local.get $buf))
    (loop $scan
      (if (i32.eqz (i32.load8_u (local.get $i)))
        (then (i32.store8 (local.get $i) (i32.const 10))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $scan (i32.lt_u (local.get $i) (local.get $end))))
    (i32.store (i32.const 8) (local.get $buf))
    (i32.store (i32.const 12) (local.get $size))
    (drop (call $fd_write (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 16)))))
