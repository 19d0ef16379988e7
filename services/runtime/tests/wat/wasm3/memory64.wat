;; memory64 (WebAssembly 3.0 64-bit memories and tables). A 64-bit memory cannot be
;; the one WASI reads, so this is a function module, printing nothing.
;; Kind: function. Exports: run(i32) -> i64, grow(i64) -> i64, past_end() -> i64, mem.
;;   run(x): stores x at byte 70000 (page 2) after growing by one page with an i64
;;           delta, reads it back through i64 addresses: x + memory.size (2) + table.size
;;           (3) == x + 5; run(41) == 46.
;;   grow(n): memory.grow by n pages: the old size (1), or -1 past the memory limit.
;;   past_end(): a load at 4 GiB, beyond the memory: traps (out of bounds).
(module
  (memory (export "mem") i64 1)
  (table i64 3 funcref)
  (func (export "run") (param $x i32) (result i64)
    (drop (memory.grow (i64.const 1)))
    (i32.store (i64.const 70000) (local.get $x))
    (i64.add
      (i64.add (i64.extend_i32_u (i32.load (i64.const 70000))) (memory.size))
      (table.size)))
  (func (export "grow") (param i64) (result i64) (memory.grow (local.get 0)))
  (func (export "past_end") (result i64) (i64.load (i64.const 0x100000000))))
