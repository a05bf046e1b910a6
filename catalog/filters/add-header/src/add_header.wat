;; add-header: a proxy-wasm (ABI 0.2.1) HTTP filter that adds one header to every request (so the
;; upstream sees it) and to every response (so the client sees it).
;;
;; Configuration: the plugin configuration is the text "NAME: VALUE" (for example
;; "x-served-by: edge-1"). An empty configuration means "x-wasm-filter: add-header". A configuration
;; without ':' or with an empty name is refused (proxy_on_configure returns 0), so Envoy does not
;; start the filter with a configuration it cannot honour.

(module
  (import "env" "proxy_log" (func $proxy_log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_buffer_bytes"
    (func $proxy_get_buffer_bytes (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value"
    (func $proxy_add_header_map_value (param i32 i32 i32 i32 i32) (result i32)))

  (memory (export "memory") 1)

  ;; 0..63: scratch for host out-parameters; 64..: constant strings; heap from 1024 upwards.
  (data (i32.const 64) "x-wasm-filter")               ;; 13 bytes
  (data (i32.const 80) "add-header")                  ;; 10 bytes
  (data (i32.const 96) "add-header: configuration must be 'NAME: VALUE'")  ;; 48 bytes

  (global $heap (mut i32) (i32.const 1024))
  (global $name_ptr (mut i32) (i32.const 64))
  (global $name_len (mut i32) (i32.const 13))
  (global $value_ptr (mut i32) (i32.const 80))
  (global $value_len (mut i32) (i32.const 10))

  (func (export "proxy_abi_version_0_2_1"))

  ;; Bump allocator: the host copies configuration into memory it asks for here.
  (func $alloc (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (local $ptr i32) (local $end i32)
    (local.set $ptr (global.get $heap))
    (local.set $end (i32.add (local.get $ptr) (i32.and (i32.add (local.get $size) (i32.const 7)) (i32.const -8))))
    (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (if (i32.lt_s
              (memory.grow (i32.add (i32.shr_u (i32.sub (local.get $end) (i32.mul (memory.size) (i32.const 65536))) (i32.const 16)) (i32.const 1)))
              (i32.const 0))
          (then (return (i32.const 0))))))
    (global.set $heap (local.get $end))
    (local.get $ptr))

  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))

  ;; Read "NAME: VALUE" from the plugin configuration (buffer type 7).
  (func (export "proxy_on_configure") (param $root i32) (param $size i32) (result i32)
    (local $ptr i32) (local $len i32) (local $colon i32) (local $end i32)
    (if (i32.eqz (local.get $size)) (then (return (i32.const 1))))
    (if (call $proxy_get_buffer_bytes (i32.const 7) (i32.const 0) (local.get $size) (i32.const 0) (i32.const 4))
      (then (return (i32.const 0))))
    (local.set $ptr (i32.load (i32.const 0)))
    (local.set $len (i32.load (i32.const 4)))
    (local.set $end (i32.add (local.get $ptr) (local.get $len)))
    ;; find ':'
    (local.set $colon (local.get $ptr))
    (block $found
      (loop $scan
        (br_if $found (i32.ge_u (local.get $colon) (local.get $end)))
        (br_if $found (i32.eq (i32.load8_u (local.get $colon)) (i32.const 58)))
        (local.set $colon (i32.add (local.get $colon) (i32.const 1)))
        (br $scan)))
    (if (i32.or (i32.ge_u (local.get $colon) (local.get $end)) (i32.eq (local.get $colon) (local.get $ptr)))
      (then
        (drop (call $proxy_log (i32.const 4) (i32.const 96) (i32.const 48)))
        (return (i32.const 0))))
    (global.set $name_ptr (local.get $ptr))
    (global.set $name_len (i32.sub (local.get $colon) (local.get $ptr)))
    ;; the value starts after ':' and any spaces
    (local.set $colon (i32.add (local.get $colon) (i32.const 1)))
    (block $done
      (loop $skip
        (br_if $done (i32.ge_u (local.get $colon) (local.get $end)))
        (br_if $done (i32.ne (i32.load8_u (local.get $colon)) (i32.const 32)))
        (local.set $colon (i32.add (local.get $colon) (i32.const 1)))
        (br $skip)))
    (global.set $value_ptr (local.get $colon))
    (global.set $value_len (i32.sub (local.get $end) (local.get $colon)))
    (i32.const 1))

  (func $add (param $map i32)
    (drop (call $proxy_add_header_map_value (local.get $map)
      (global.get $name_ptr) (global.get $name_len) (global.get $value_ptr) (global.get $value_len))))

  ;; Header map 0 is the request, 2 the response. Returning 0 means Continue.
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (call $add (i32.const 0)) (i32.const 0))
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
    (call $add (i32.const 2)) (i32.const 0))
)
