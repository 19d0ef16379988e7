;; extended-const (WebAssembly 3.0 arithmetic in constant expressions).
;; Kind: command and function. Exports: _start, run(i32) -> i32, memory.
;;   $base = 40; $derived = $base + 2 * 1 = 42 (an extended constant expression);
;;   a data segment placed at $base * 4 + 160 (= 320) holds the byte 5.
;;   run(x): $derived + the byte at 320 + x - 41 == 47 for x = 41; _start prints "47\n".
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $base i32 (i32.const 40))
  (global $derived i32 (i32.add (global.get $base) (i32.mul (i32.const 2) (i32.const 1))))
  (data (offset (i32.add (i32.mul (global.get $base) (i32.const 4)) (i32.const 160))) "\05")
  (func $run (export "run") (param $x i32) (result i32)
    (i32.add (i32.add (global.get $derived) (i32.load8_u (i32.const 320)))
      (i32.sub (local.get $x) (i32.const 41))))
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
