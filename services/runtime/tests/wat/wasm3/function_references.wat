;; function-references (WebAssembly 3.0 typed function references).
;; Kind: command and function. Exports: _start, run(i32) -> i32, countdown(i64) -> i64,
;; null_call() -> i32, memory.
;;   run(x): call_ref through a non-null (ref $unary), and br_on_null on a null one:
;;           (x + 1); run(41) == 42; _start prints it as "42\n".
;;   countdown(n): return_call_ref n deep (tail call through a reference): 0.
;;   null_call(): ref.as_non_null of a null reference traps (null reference).
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (type $unary (func (param i32) (result i32)))
  (type $count (func (param i64) (result i64)))
  (func $inc (type $unary) (i32.add (local.get 0) (i32.const 1)))
  (func $down (type $count)
    (if (result i64) (i64.eqz (local.get 0))
      (then (i64.const 0))
      (else (return_call_ref $count (i64.sub (local.get 0) (i64.const 1)) (ref.func $down)))))
  (elem declare func $inc $down)
  (func $run (export "run") (param $x i32) (result i32)
    (local $f (ref $unary)) (local $none (ref null $unary))
    (local.set $f (ref.func $inc))
    (block $was_null
      (br_on_null $was_null (local.get $none))
      (drop) (return (i32.const -1)))
    (call_ref $unary (local.get $x) (local.get $f)))
  (func (export "countdown") (param i64) (result i64)
    (call_ref $count (local.get 0) (ref.func $down)))
  (func (export "null_call") (result i32)
    (call_ref $unary (i32.const 1) (ref.as_non_null (ref.null $unary))))
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
