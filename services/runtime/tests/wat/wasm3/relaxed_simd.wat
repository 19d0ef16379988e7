;; relaxed-simd (WebAssembly 3.0), run in wasmtime's deterministic mode: the same
;; result on every CPU. Kind: command and function. Exports: _start, run(i32) -> i32,
;; memory.
;;   run(x): relaxed_trunc of 1e10 saturates to 2147483647; relaxed_swizzle with an
;;           out-of-range index gives 0; relaxed_madd(2, 3, x) == x + 6 (lane 0).
;;           The sum modulo 1000 plus the madd lane: (2147483647 % 1000) + 0 + (x + 6)
;;           == 647 + 47 == 694 for x = 41; _start prints it as "694\n".
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func $run (export "run") (param $x i32) (result i32)
    (i32.add
      (i32.add
        (i32.rem_u
          (i32x4.extract_lane 0 (i32x4.relaxed_trunc_f32x4_s (f32x4.splat (f32.const 1e10))))
          (i32.const 1000))
        (i8x16.extract_lane_u 0
          (i8x16.relaxed_swizzle (v128.const i8x16 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9)
            (v128.const i8x16 200 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0))))
      (i32.trunc_f32_s (f32x4.extract_lane 0
        (f32x4.relaxed_madd (f32x4.splat (f32.const 2)) (f32x4.splat (f32.const 3))
          (f32x4.splat (f32.convert_i32_s (local.get $x))))))))
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
