;; tail-call (WebAssembly 3.0). Kind: command and function.
;; Exports: _start, run(i32) -> i32, memory.
;;   run(n): $even/$odd call each other with return_call and return_call_indirect
;;           n deep; a million frames would overflow the stack without tail calls.
;;           run(n) == 1 when n is even; _start prints run(1000000) + 41 as "42\n".
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (type $pred (func (param i32) (result i32)))
  (table $t 2 funcref)
  (elem (table $t) (i32.const 0) func $even $odd)
  (func $even (type $pred)
    (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 1))
      (else (return_call_indirect $t (type $pred)
        (i32.sub (local.get 0) (i32.const 1)) (i32.const 1)))))
  (func $odd (type $pred)
    (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 0))
      (else (return_call $even (i32.sub (local.get 0) (i32.const 1))))))
  (func $run (export "run") (param i32) (result i32) (call $even (local.get 0)))
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
  (func (export "_start") (call $print (i32.add (call $run (i32.const 1000000)) (i32.const 41)))))
