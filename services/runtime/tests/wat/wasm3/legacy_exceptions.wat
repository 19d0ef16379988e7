;; legacy-exceptions: the pre-standard try/catch encoding LLVM 19 and older emit.
;; wasmtime does not run it; the runtime and the marketplace refuse it, naming it.
;; Kind: function. Exports: run() -> i32.
(module
  (tag $e (param i32))
  (func (export "run") (result i32)
    try (result i32)
      i32.const 1
      throw $e
    catch $e
    end))
