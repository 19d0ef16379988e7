;; multi-memory (WebAssembly 3.0 several memories in one module).
;; Kind: command and function. Exports: _start, run(i32) -> i32, grow_second(i32) -> i32,
;; memory (the first memory, the one WASI uses).
;;   run(x): stores x + 1 in memory $scratch, memory.copy's it to $io, loads it back
;;           from $io, adds memory.size of $scratch (2): run(41) == 44; _start prints
;;           it as "44\n".
;;   grow_second(n): memory.grow $scratch by n pages: the old size, or -1 past the
;;           call's memory limit, which bounds each memory on its own.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory $io (export "memory") 1)
  (memory $scratch 2)
  (func $run (export "run") (param $x i32) (result i32)
    (i32.store $scratch (i32.const 100) (i32.add (local.get $x) (i32.const 1)))
    (memory.copy $io $scratch (i32.const 40) (i32.const 100) (i32.const 4))
    (i32.add (i32.load $io (i32.const 40)) (memory.size $scratch)))
  (func (export "grow_second") (param i32) (result i32) (memory.grow $scratch (local.get 0)))
  ;; $print: the decimal of an i32 (>= 0) and "\\n" to stdout; iovec at 0, text from 16.
  (func $print (param $n i32)
    (local $at i32)
    (local.set $at (i32.const 31))
    (i32.store8 (i32.const 31) (i32.const 10))
    (loop $digit
      (local.set $at (i32.sub (local.get $at) (i32.const 1)))
      (i32.store8 (local.get $at)
        (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
      (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
      (br_if $digit (local.get $n)))
    (i32.store (i32.const 0) (local.get $at))
    (i32.store (i32.const 4) (i32.sub (i32.const 32) (local.get $at)))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start") (call $print (call $run (i32.const 41)))))
