;; exit_code: command module that exits through WASI with status 7.
;; Kind: command. Exports: _start, memory.
;; Imports: wasi_snapshot_preview1.proc_exit.
;; Expected: ExitTrap with code 7; nothing on stdout or stderr.
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (call $proc_exit (i32.const 7))))
