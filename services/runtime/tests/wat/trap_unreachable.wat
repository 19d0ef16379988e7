;; trap_unreachable: command module whose _start executes `unreachable`.
;; Kind: command. Exports: _start, memory. Imports: none.
;; Expected: trap with TrapCode.UNREACHABLE ("wasm `unreachable` instruction
;; executed"), right away, after writing nothing.
(module
  (memory (export "memory") 1)
  (func (export "_start")
    unreachable))
