;; node@0.4.0 with JSON strings. invoke(ctx, op, input) has more than 16 flat params, so its
;; i32 argument points at the params tuple. L8 layout: tenant-ctx is 88 bytes (tenant 0, team 8, user 20, trace-id 32, correlation-id 44, deadline-unix-ms 56/64, attempt 72, idempotency-key 76); exec-ctx adds flow-id 88 and node-id 96 (112 bytes); then op at 112 and input at 120.
;; Behaviour by the first byte of op: "fail" -> err(node-error), "tenant" -> ok(<raw tenant
;; text>, deliberately not JSON), "empty" -> ok(""), anything else -> ok(input).
;; invoke-result in the return area at 64: discriminant at 0, payload from 8. ok(json): 8/12.
;; err(node-error): code 8/12, message 16/20, retryable 24, backoff-ms option 32 (value 40),
;; details option<json> 48 (52/56).
(module
  (import "greentic:component/control@0.4.0" "should-cancel" (func $should_cancel (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 256) "E_FAIL")
  (data (i32.const 272) "asked to fail")
  (data (i32.const 288) "{\"why\":\"test\"}")
  (data (i32.const 320) "{\"name\":\"json04\"}")
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
  (func $ok (param $ptr i32) (param $len i32) (result i32)
    (i32.store8 (i32.const 64) (i32.const 0))
    (i32.store (i32.const 72) (local.get $ptr))
    (i32.store (i32.const 76) (local.get $len))
    (i32.const 64))
  (func (export "greentic:component/node@0.4.0#get-manifest") (result i32)
    (i32.store (i32.const 64) (i32.const 320))
    (i32.store (i32.const 68) (i32.const 17))
    (i32.const 64))
  (func (export "greentic:component/node@0.4.0#on-start") (param i32) (result i32) unreachable)
  (func (export "greentic:component/node@0.4.0#on-stop") (param i32) (result i32) unreachable)
  (func (export "greentic:component/node@0.4.0#invoke-stream") (param i32) (result i32) unreachable)
  (func (export "greentic:component/node@0.4.0#invoke") (param $args i32) (result i32)
    (local $first i32)
    (if (i32.load offset=116 (local.get $args))
      (then
        (local.set $first (i32.load8_u (i32.load offset=112 (local.get $args))))
        (if (i32.eq (local.get $first) (i32.const 102)) ;; 'f'
          (then
            (i32.store8 (i32.const 64) (i32.const 1))
            (i32.store (i32.const 72) (i32.const 256))
            (i32.store (i32.const 76) (i32.const 6))
            (i32.store (i32.const 80) (i32.const 272))
            (i32.store (i32.const 84) (i32.const 13))
            (i32.store8 (i32.const 88) (i32.const 1))
            (i32.store8 (i32.const 96) (i32.const 1))
            (i64.store (i32.const 104) (i64.const 250))
            (i32.store8 (i32.const 112) (i32.const 1))
            (i32.store (i32.const 116) (i32.const 288))
            (i32.store (i32.const 120) (i32.const 14))
            (return (i32.const 64))))
        (if (i32.eq (local.get $first) (i32.const 116)) ;; 't'
          (then (return (call $ok (i32.load offset=0 (local.get $args))
                                   (i32.load offset=4 (local.get $args))))))
        (if (i32.eq (local.get $first) (i32.const 101)) ;; 'e'
          (then (return (call $ok (i32.const 0) (i32.const 0)))))))
    (call $ok (i32.load offset=120 (local.get $args)) (i32.load offset=124 (local.get $args))))
)
