;; nontrapping_f2i (WebAssembly 2.0: non-trapping float-to-int conversions).
;; Kind: function (reactor, no _start). Imports: none.
;; Exports:
;;   run() -> i32              i32.trunc_sat_f32_s(3.0e9) == 2147483647
;;                             (a plain i32.trunc_f32_s would trap here)
;;   trunc_sat(f32) -> i32     saturating: trunc_sat(-3.7) == -3,
;;                             trunc_sat(nan) == 0, trunc_sat(-inf) == -2147483648
;;   trunc_sat_u64(f64) -> i64 i64.trunc_sat_f64_u: trunc_sat_u64(-1.0) == 0
;;   trunc_trap(f32) -> i32    plain i32.trunc_f32_s for contrast:
;;                             trunc_trap(3.0e9) traps (integer overflow)
(module
  (func (export "run") (result i32)
    (i32.trunc_sat_f32_s (f32.const 3.0e9)))
  (func (export "trunc_sat") (param f32) (result i32)
    (i32.trunc_sat_f32_s (local.get 0)))
  (func (export "trunc_sat_u64") (param f64) (result i64)
    (i64.trunc_sat_f64_u (local.get 0)))
  (func (export "trunc_trap") (param f32) (result i32)
    (i32.trunc_f32_s (local.get 0))))
