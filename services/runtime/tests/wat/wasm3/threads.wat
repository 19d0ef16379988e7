;; threads (shared memory + atomics): refused by the runtime and the marketplace.
;; Kind: function. Exports: run() -> i32.
(module
  (memory 1 1 shared)
  (func (export "run") (result i32) (i32.atomic.rmw.add (i32.const 0) (i32.const 1))))
