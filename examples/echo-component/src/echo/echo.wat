;; The echo component of examples/echo-component, written by hand in WebAssembly text.
;;
;; It exports greentic:component/node@0.6.0 (see wit/deps/component@0.6.0.wit):
;;   invoke: func(op: string, envelope: invocation-envelope) -> result<invocation-result, node-error>
;; and answers every operation with output-cbor = the envelope's payload-cbor, byte for byte, so
;; the flow gets back exactly the JSON it sent.
;;
;; Canonical ABI layout it relies on (all offsets in bytes):
;; - invoke's parameters flatten to more than 16 values, so the host writes them to memory and
;;   passes one pointer, $args: op (string: ptr, len) at 0, the envelope at 8. In the envelope,
;;   ctx (tenant-ctx) takes 88 bytes, then flow-id 88, step-id 96, component-id 104, attempt 112
;;   and payload-cbor (ptr, len) at 116: so the payload is at $args+124 (ptr) and $args+128 (len).
;; - the result is returned through a pointer to a return area (here the static one at 64):
;;   discriminant at 0 (0 = ok), then the invocation-result at 8 (node-error aligns to 8):
;;   ok (bool) at 8, output-cbor (ptr, len) at 12 and 16, output-metadata-cbor (option) at 20.
(module
  (memory (export "memory") 1)

  ;; cabi_realloc: the host allocates argument memory through it. A bump allocator is enough:
  ;; the runner instantiates a fresh instance for every call and drops it afterwards.
  (global $heap (mut i32) (i32.const 1024))
  (func $realloc (export "cabi_realloc")
    (param $old_ptr i32) (param $old_size i32) (param $align i32) (param $size i32) (result i32)
    (local $ptr i32) (local $end i32)
    ;; round the heap pointer up to the requested alignment
    (local.set $ptr
      (i32.and (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
               (i32.sub (i32.const 0) (local.get $align))))
    (local.set $end (i32.add (local.get $ptr) (local.get $size)))
    ;; grow the memory when the block does not fit (trap if the host refuses)
    (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (if (i32.eq (i32.const -1)
              (memory.grow
                (i32.add (i32.const 1)
                  (i32.shr_u (i32.sub (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
                             (i32.const 16)))))
          (then unreachable))))
    (global.set $heap (local.get $end))
    (local.get $ptr))

  ;; describe is part of the world but the runner never calls it to run a flow.
  (func (export "greentic:component/node@0.6.0#describe") (result i32) unreachable)

  (func (export "greentic:component/node@0.6.0#invoke") (param $args i32) (result i32)
    (i32.store8 (i32.const 64) (i32.const 0))                          ;; result: ok
    (i32.store8 (i32.const 72) (i32.const 1))                          ;; ok: true
    (i32.store (i32.const 76) (i32.load offset=124 (local.get $args))) ;; output-cbor ptr
    (i32.store (i32.const 80) (i32.load offset=128 (local.get $args))) ;; output-cbor len
    (i32.store8 (i32.const 84) (i32.const 0))                          ;; no output metadata
    (i32.const 64))
)
