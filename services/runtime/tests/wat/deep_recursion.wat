;; deep_recursion: command module whose _start recurses without bound.
;; Kind: command. Exports: _start, memory. Imports: none.
;; $down is not a tail call (it adds 1 after the call returns), so every level
;; keeps a frame. Expected: trap with TrapCode.STACK_OVERFLOW
;; ("call stack exhausted") long before fuel runs out.
(module
  (memory (export "memory") 1)
  (func $down (param $n i32) (result i32)
    (i32.add
      (call $down (i32.add (local.get $n) (i32.const 1)))
      (i32.const 1)))
  (func (export "_start")
    (drop (call $down (i32.const 0)))))
