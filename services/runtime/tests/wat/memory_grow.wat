;; memory_grow: command module that grows its memory 1 page (64 KiB) at a time
;; until memory.grow fails, then traps.
;; Kind: command. Exports: _start, memory. Imports: none.
;; Loop: memory.grow(1); while it does not return -1, grow again. When it
;; returns -1 (the store's memory limit, e.g. Store.set_limits(memory_size=...),
;; or the 4 GiB wasm32 ceiling) execute `unreachable`.
;; Expected: trap with TrapCode.UNREACHABLE while the exported memory is at
;; (or one page short of) the configured limit: a runtime maps "unreachable
;; right after a refused memory.grow" to MEMORY_LIMIT by comparing the
;; memory's size with its limit (memory.size(store) * 65536 + 65536 > limit).
;; Without any limit it reaches 65536 pages (4 GiB reserved) before trapping.
(module
  (memory (export "memory") 1)
  (func (export "_start")
    (loop $grow
      (br_if $grow
        (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
    unreachable))
