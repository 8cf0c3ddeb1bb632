;; node@0.6.0 that misbehaves on request, chosen by the first byte of op:
;;   "loop"   spins forever (stopped by fuel or the epoch deadline)
;;   "grow"   grows memory by 1 MiB until memory.grow fails, then traps like an allocator abort
;;   "trap"   executes unreachable
;;   "cancel" polls control.should-cancel until it is true, then returns node-error "cancelled"
;;   "measure" grows like "grow" but then returns the memory size in 64 KiB pages as a CBOR
;;            uint16 (0x19 hi lo), so a test can see where the host's memory cap stopped it
;;   other    echoes payload-cbor (same layout notes as echo06.wat)
;; node-error in the return area at 64: discriminant 1 at 0, then (from 8) code 8/12,
;; message 16/20, retryable 24, backoff-ms option 32 (value 40), details option 48.
(module
  (import "greentic:component/control@0.6.0" "should-cancel" (func $should_cancel (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 256) "cancelled")
  (data (i32.const 272) "control.should-cancel returned true")
  ;; Bump allocator for the canonical ABI: the host lowers arguments through it. Nothing is
  ;; freed: every invocation runs in a fresh store that is discarded afterwards.
  (func $realloc (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $ptr i32) (local $end i32)
    (local.set $ptr (i32.and (i32.add (global.get $heap) (i32.sub (local.get 2) (i32.const 1)))
                             (i32.sub (i32.const 0) (local.get 2))))
    (local.set $end (i32.add (local.get $ptr) (local.get 3)))
    (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (if (i32.eq (i32.const -1)
              (memory.grow (i32.add (i32.const 1)
                (i32.shr_u (i32.sub (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
                           (i32.const 16)))))
          (then unreachable))))
    (global.set $heap (local.get $end))
    (local.get $ptr))
  (func $echo (param $args i32) (result i32)
    (i32.store8 (i32.const 64) (i32.const 0))
    (i32.store8 (i32.const 72) (i32.const 1))
    (i32.store (i32.const 76) (i32.load offset=124 (local.get $args)))
    (i32.store (i32.const 80) (i32.load offset=128 (local.get $args)))
    (i32.store8 (i32.const 84) (i32.const 0))
    (i32.const 64))
  (func (export "greentic:component/node@0.6.0#describe") (result i32) unreachable)
  (func (export "greentic:component/node@0.6.0#invoke") (param $args i32) (result i32)
    (local $first i32)
    (if (i32.eqz (i32.load offset=4 (local.get $args)))
      (then (return (call $echo (local.get $args)))))
    (local.set $first (i32.load8_u (i32.load (local.get $args))))
    (if (i32.eq (local.get $first) (i32.const 108)) ;; 'l'
      (then (loop $forever (br $forever))))
    (if (i32.eq (local.get $first) (i32.const 103)) ;; 'g'
      (then
        (loop $more (br_if $more (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
        unreachable))
    (if (i32.eq (local.get $first) (i32.const 109)) ;; 'm'
      (then
        (loop $more (br_if $more (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
        (i32.store8 (i32.const 128) (i32.const 0x19))
        (i32.store8 (i32.const 129) (i32.shr_u (memory.size) (i32.const 8)))
        (i32.store8 (i32.const 130) (memory.size))
        (i32.store8 (i32.const 64) (i32.const 0))
        (i32.store8 (i32.const 72) (i32.const 1))
        (i32.store (i32.const 76) (i32.const 128))
        (i32.store (i32.const 80) (i32.const 3))
        (i32.store8 (i32.const 84) (i32.const 0))
        (return (i32.const 64))))
    (if (i32.eq (local.get $first) (i32.const 116)) ;; 't'
      (then unreachable))
    (if (i32.eq (local.get $first) (i32.const 99)) ;; 'c'
      (then
        (loop $spin (br_if $spin (i32.eqz (call $should_cancel))))
        (i32.store8 (i32.const 64) (i32.const 1))
        (i32.store (i32.const 72) (i32.const 256))
        (i32.store (i32.const 76) (i32.const 9))
        (i32.store (i32.const 80) (i32.const 272))
        (i32.store (i32.const 84) (i32.const 35))
        (i32.store8 (i32.const 88) (i32.const 0))
        (i32.store8 (i32.const 96) (i32.const 0))
        (i32.store8 (i32.const 112) (i32.const 0))
        (return (i32.const 64))))
    (call $echo (local.get $args)))
)
