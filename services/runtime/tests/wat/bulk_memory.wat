;; bulk_memory (WebAssembly 2.0: bulk memory operations): memory.fill,
;; memory.copy, passive data + memory.init + data.drop.
;; Kind: function (reactor, no _start). Imports: none. Exports: memory and
;;   fill_copy() -> i32   fills 16 bytes at 0 with 0x2A, copies them to 100,
;;                        returns i32.load(100) == 0x2A2A2A2A == 707406378
;;   init() -> i32        copies the passive segment 01 02 03 04 to 200, drops
;;                        the segment, returns i32.load(200) == 0x04030201 ==
;;                        67305985. A second init() on the same instance traps
;;                        ("out of bounds memory access": the segment is gone).
(module
  (memory (export "memory") 1)
  (data $bytes "\01\02\03\04")
  (func (export "fill_copy") (result i32)
    (memory.fill (i32.const 0) (i32.const 0x2A) (i32.const 16))
    (memory.copy (i32.const 100) (i32.const 0) (i32.const 16))
    (i32.load (i32.const 100)))
  (func (export "init") (result i32)
    (memory.init $bytes (i32.const 200) (i32.const 0) (i32.const 4))
    (data.drop $bytes)
    (i32.load (i32.const 200))))
