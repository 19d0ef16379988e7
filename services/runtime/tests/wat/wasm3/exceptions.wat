;; exceptions (WebAssembly 3.0 exception handling, the standard exnref encoding).
;; Kind: command and function. Exports: _start, run(i32) -> i32, rethrown() -> i32,
;; uncaught(i32) -> i32, memory.
;;   run(x): a callee throws $e(x) two frames down; try_table catches it: x + 1.
;;           run(41) == 42; _start prints run(41) as "42\n".
;;   rethrown(): catch_all_ref keeps the exception as an exnref, throw_ref throws it
;;           again and an outer handler catches its payload: 7.
;;   uncaught(x): throws out of wasm: the call traps ("thrown Wasm exception").
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (tag $e (param i32))
  (func $deepest (param i32) (throw $e (local.get 0)))
  (func $middle (param i32) (call $deepest (local.get 0)) (unreachable))
  (func $run (export "run") (param $x i32) (result i32)
    (block $caught (result i32)
      (try_table (catch $e $caught) (call $middle (local.get $x)))
      (i32.const -1))
    (i32.add (i32.const 1)))
  (func (export "rethrown") (result i32)
    (block $outer (result i32)
      (try_table (catch $e $outer)
        (block $kept (result exnref)
          (try_table (catch_all_ref $kept) (throw $e (i32.const 7)))
          (unreachable))
        (throw_ref))
      (unreachable)))
  (func (export "uncaught") (param i32) (result i32) (throw $e (local.get 0)))
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
