;; sign_extension (WebAssembly 2.0: sign-extension operators).
;; Kind: function (reactor, no _start). Imports: none.
;; Exports:
;;   run() -> i32                 i32.extend8_s(0x80) == -128
;;   extend8_s(i32) -> i32        extend8_s(255) == -1, extend8_s(127) == 127
;;   extend16_s(i32) -> i32       extend16_s(0x8000) == -32768
;;   extend32_s_i64(i64) -> i64   extend32_s_i64(0xFFFFFFFF) == -1
(module
  (func (export "run") (result i32)
    (i32.extend8_s (i32.const 0x80)))
  (func (export "extend8_s") (param i32) (result i32)
    (i32.extend8_s (local.get 0)))
  (func (export "extend16_s") (param i32) (result i32)
    (i32.extend16_s (local.get 0)))
  (func (export "extend32_s_i64") (param i64) (result i64)
    (i64.extend32_s (local.get 0))))
