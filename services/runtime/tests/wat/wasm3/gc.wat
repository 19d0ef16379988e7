;; gc (WebAssembly 3.0 garbage collection: structs, arrays, i31, casts).
;; Kind: command and function. Exports: _start, run(i32) -> i32, hoard(i32) -> i32, memory.
;;   run(x): a mutable struct {x, 2} bumped to x + 1, stored into slot 3 of a fresh
;;           5-element array of 10s; a subtype cast and an i31 add 0 if they hold.
;;           run(41) == 42 + 5 (array.len) == 47; _start prints run(41) as "47\n".
;;   hoard(n): keeps n arrays of 64 KiB alive in a list: the GC heap grows until
;;           the call's memory limit stops it (GC heap out of memory).
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (type $point (sub (struct (field $x (mut i32)) (field $y i32))))
  (type $point3 (sub $point (struct (field $x (mut i32)) (field $y i32) (field $z i32))))
  (type $ints (array (mut i32)))
  (type $chunk (array (mut i64)))
  (type $list (struct (field (ref $chunk)) (field (ref null $list))))
  (func $run (export "run") (param $x i32) (result i32)
    (local $p (ref $point)) (local $a (ref $ints)) (local $any anyref)
    (local.set $p (struct.new $point3 (local.get $x) (i32.const 2) (i32.const 3)))
    (struct.set $point $x (local.get $p)
      (i32.add (struct.get $point $x (local.get $p)) (i32.const 1)))
    (local.set $a (array.new $ints (i32.const 10) (i32.const 5)))
    (array.set $ints (local.get $a) (i32.const 3) (struct.get $point $x (local.get $p)))
    (local.set $any (ref.i31 (i32.const -0)))
    (i32.add
      (i32.add (array.get $ints (local.get $a) (i32.const 3)) (array.len (local.get $a)))
      (i32.add
        (i32.sub (struct.get $point3 2 (ref.cast (ref $point3) (local.get $p))) (i32.const 3))
        (i31.get_s (ref.cast (ref i31) (local.get $any))))))
  (func (export "hoard") (param $n i32) (result i32)
    (local $head (ref null $list)) (local $i i32)
    (loop $more
      (local.set $head
        (struct.new $list (array.new_default $chunk (i32.const 8192)) (local.get $head)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $more (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $i))
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
