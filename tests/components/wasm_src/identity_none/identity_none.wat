;; identify-instance -> none (NoMatch) and describe-identify-instance -> none (unhinted).
;; option<T> results go to a return area: discriminant 0 = none.
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
  (func (export "greentic:provider-instance-identity/instance-identity-api@0.1.0#identify-instance")
    (param i32 i32) (result i32)
    (i32.store8 (i32.const 64) (i32.const 0))
    (i32.const 64))
  (func (export "greentic:provider-instance-identity/instance-identity-describe-api@0.1.0#describe-identify-instance")
    (result i32)
    (i32.store8 (i32.const 64) (i32.const 0))
    (i32.const 64))
)
