;; infinite_loop: command module whose _start spins forever.
;; Kind: command. Exports: _start, memory. Imports: none.
;; Expected: never returns by itself; only fuel exhaustion
;; (TrapCode.OUT_OF_FUEL) or an epoch deadline (TrapCode.INTERRUPT) ends it.
(module
  (memory (export "memory") 1)
  (func (export "_start")
    (loop $spin
      (br $spin))))
