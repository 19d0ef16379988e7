;; multi_value (WebAssembly 2.0: multi-value): functions and blocks with
;; several results.
;; Kind: function (reactor, no _start). Imports: none.
;; Exports:
;;   swap(i32, i32) -> (i32, i32)      swap(1, 2) == (2, 1)
;;   divmod(i32, i32) -> (i32, i32)    divmod(17, 5) == (3, 2); traps if b == 0
;;   run() -> (i32, i64, f64)          run() == (1, 2, 3.5), built through a
;;                                     block that takes two params and yields
;;                                     three results
(module
  (func (export "swap") (param i32 i32) (result i32 i32)
    (local.get 1)
    (local.get 0))
  (func (export "divmod") (param $a i32) (param $b i32) (result i32 i32)
    (i32.div_s (local.get $a) (local.get $b))
    (i32.rem_s (local.get $a) (local.get $b)))
  (func (export "run") (result i32 i64 f64)
    (i32.const 1)
    (i64.const 2)
    (block (param i32 i64) (result i32 i64 f64)
      (f64.const 3.5))))
