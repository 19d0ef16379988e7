;; mutable_global (WebAssembly 2.0: import/export of mutable globals).
;; Kind: function (reactor, no _start).
;; Imports: env.counter, a mutable i32 global supplied by the host.
;; Exports:
;;   total                 mutable i32 global, 100 in a fresh instance
;;   bump() -> i32         counter += 1; total += counter; returns counter
;; Expected with env.counter created as 41: bump() == 42, then the host sees
;; counter == 42 and total == 142 (both writes visible outside the module).
(module
  (import "env" "counter" (global $counter (mut i32)))
  (global $total (export "total") (mut i32) (i32.const 100))
  (func (export "bump") (result i32)
    (global.set $counter (i32.add (global.get $counter) (i32.const 1)))
    (global.set $total (i32.add (global.get $total) (global.get $counter)))
    (global.get $counter)))
