;; simd (WebAssembly 2.0: fixed-width 128-bit SIMD).
;; Kind: function (reactor, no _start). Imports: none.
;; Exports:
;;   run() -> i32         i32x4.add (1,2,3,4) + (10,20,30,40), extract lane 2
;;                        == 33
;;   lane_sum(i32) -> i32 splats x into i32x4, adds (0,1,2,3), sums the four
;;                        lanes: lane_sum(x) == 4*x + 6, lane_sum(10) == 46
(module
  (func (export "run") (result i32)
    (i32x4.extract_lane 2
      (i32x4.add
        (v128.const i32x4 1 2 3 4)
        (v128.const i32x4 10 20 30 40))))
  (func (export "lane_sum") (param $x i32) (result i32)
    (local $v v128)
    (local.set $v
      (i32x4.add (i32x4.splat (local.get $x)) (v128.const i32x4 0 1 2 3)))
    (i32.add
      (i32.add (i32x4.extract_lane 0 (local.get $v)) (i32x4.extract_lane 1 (local.get $v)))
      (i32.add (i32x4.extract_lane 2 (local.get $v)) (i32x4.extract_lane 3 (local.get $v))))))
