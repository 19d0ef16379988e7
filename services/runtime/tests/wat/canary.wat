;; canary: proves that no state survives from one call to the next.
;; Kind: command and function in one module (has _start and a plain export).
;; Exports: _start, bump() -> i32, memory.
;; Imports: wasi_snapshot_preview1.fd_write.
;; State: a mutable global $calls and an i32 counter at memory address 16,
;; both 0 in a fresh instance. Each call of `bump` or `_start` increments both.
;;   bump()  -> the new counter value; traps (unreachable) if the global and
;;              the memory counter ever disagree.
;;   _start  -> bumps, then writes the new value as one ASCII digit plus "\n"
;;              to stdout (values above 9 are written as "9").
;; Expected on a fresh instance per call: bump() == 1 and stdout == "1\n",
;; every time. 2 or more means an instance (or its memory/globals) was reused.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $calls (mut i32) (i32.const 0))
  (func $bump (export "bump") (result i32)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (i32.store (i32.const 16) (i32.add (i32.load (i32.const 16)) (i32.const 1)))
    (if (i32.ne (global.get $calls) (i32.load (i32.const 16)))
      (then unreachable))
    (global.get $calls))
  (func (export "_start")
    (local $n i32)
    (local.set $n (call $bump))
    (if (i32.gt_u (local.get $n) (i32.const 9))
      (then (local.set $n (i32.const 9))))
    ;; text at 32: digit, '\n'; iovec at 0: {32, 2}; nwritten at 8
    (i32.store8 (i32.const 32) (i32.add (i32.const 48) (local.get $n)))
    (i32.store8 (i32.const 33) (i32.const 10))
    (i32.store (i32.const 0) (i32.const 32))
    (i32.store (i32.const 4) (i32.const 2))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
