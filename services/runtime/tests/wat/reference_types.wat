;; reference_types (WebAssembly 2.0: reference types): funcref table,
;; table.set/get/size/grow, ref.func, ref.null, ref.is_null, call_indirect,
;; externref.
;; Kind: function (reactor, no _start). Imports: none.
;; Exports:
;;   run() -> i32                     == 1133:
;;       call_indirect slot 0 ($eleven)            11
;;     + call_indirect slot 1 ($twentytwo)         22
;;     + 100  * ref.is_null(ref.null func)         100  (1)
;;     + 1000 * ref.is_null(table.get 0)           0    (slot 0 is set)
;;     + 1000 * (table.grow by 1 returned old size 2, so == 2 -> 1)   1000
;;   is_null_extern(externref) -> i32 1 for a null externref (Python None),
;;                                    0 for any other value
;;   A fresh instance's table has 2 null slots; run() fills them.
(module
  (type $get_i32 (func (result i32)))
  (table $t 2 funcref)
  (elem declare func $eleven $twentytwo)
  (func $eleven (type $get_i32) (i32.const 11))
  (func $twentytwo (type $get_i32) (i32.const 22))
  (func (export "run") (result i32)
    (table.set $t (i32.const 0) (ref.func $eleven))
    (table.set $t (i32.const 1) (ref.func $twentytwo))
    (i32.add
      (i32.add
        (call_indirect $t (type $get_i32) (i32.const 0))
        (call_indirect $t (type $get_i32) (i32.const 1)))
      (i32.add
        (i32.add
          (i32.mul (i32.const 100) (ref.is_null (ref.null func)))
          (i32.mul (i32.const 1000) (ref.is_null (table.get $t (i32.const 0)))))
        (i32.mul (i32.const 1000)
          (i32.eq (table.grow $t (ref.null func) (i32.const 1))
                  (i32.const 2))))))
  (func (export "is_null_extern") (param externref) (result i32)
    (ref.is_null (local.get 0))))
