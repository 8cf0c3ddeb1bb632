;; node@0.6.0 echo. invoke(op, envelope) has more than 16 flat params, so its single i32
;; argument points at the params tuple: op (string) at 0, envelope at 8 (align 8). In the
;; envelope, ctx (tenant-ctx) takes 88 bytes, then flow-id 88, step-id 96, component-id 104,
;; attempt 112, payload-cbor 116 (ptr, len). So payload-cbor is at args+124 / args+128.
;; The result<invocation-result, node-error> goes to a static return area at 64:
;; discriminant at 0, payload at 8 (node-error aligns to 8): ok 8, output-cbor 12/16,
;; output-metadata-cbor discriminant 20.
(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
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
  (func (export "greentic:component/node@0.6.0#describe") (result i32) unreachable)
  (func (export "greentic:component/node@0.6.0#invoke") (param $args i32) (result i32)
    (i32.store8 (i32.const 64) (i32.const 0))
    (i32.store8 (i32.const 72) (i32.const 1))
    (i32.store (i32.const 76) (i32.load offset=124 (local.get $args)))
    (i32.store (i32.const 80) (i32.load offset=128 (local.get $args)))
    (i32.store8 (i32.const 84) (i32.const 0))
    (i32.const 64))
)
