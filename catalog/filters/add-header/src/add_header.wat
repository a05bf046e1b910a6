;; add-header: a proxy-wasm (ABI 0.2.1) HTTP filter that adds one header to every request (so the
;; upstream sees it) and to every response (so the client sees it).
;;
;; Configuration: a JSON object {"name": "x-served-by", "value": "edge-1"}. An empty configuration,
;; or {}, adds "x-wasm-filter: add-header". Anything else it cannot honour (not an object, a name
;; without a value, an empty name, an escaped string) is refused: proxy_on_configure returns 0 and
;; Envoy does not start the filter.
;;
;; The reader is deliberately small: it finds "name" and "value" keys followed by ':' and a plain
;; string. The configuration schema in filter.yaml forbids what it cannot read (quotes, backslashes).

(module
  (import "env" "proxy_log" (func $proxy_log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_buffer_bytes"
    (func $proxy_get_buffer_bytes (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value"
    (func $proxy_add_header_map_value (param i32 i32 i32 i32 i32) (result i32)))

  (memory (export "memory") 1)

  ;; 0..63: host out-parameters. 64..255: constants. The heap starts at 1024.
  (data (i32.const 64) "x-wasm-filter")   ;; 13 bytes: the default name
  (data (i32.const 80) "add-header")      ;; 10 bytes: the default value
  (data (i32.const 96) "\"name\"")        ;; 6 bytes
  (data (i32.const 104) "\"value\"")      ;; 7 bytes
  (data (i32.const 112) "add-header: expected {\"name\": NAME, \"value\": VALUE}")  ;; 51 bytes

  (global $heap (mut i32) (i32.const 1024))
  (global $name_ptr (mut i32) (i32.const 64))
  (global $name_len (mut i32) (i32.const 13))
  (global $value_ptr (mut i32) (i32.const 80))
  (global $value_len (mut i32) (i32.const 10))
  ;; the string $find located
  (global $found_ptr (mut i32) (i32.const 0))
  (global $found_len (mut i32) (i32.const 0))

  (func (export "proxy_abi_version_0_2_1"))

  ;; Bump allocator: the host copies the configuration into memory it asks for here.
  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (local $ptr i32) (local $end i32) (local $have i32)
    (local.set $ptr (global.get $heap))
    (local.set $end (i32.add (local.get $ptr) (i32.and (i32.add (local.get $size) (i32.const 7)) (i32.const -8))))
    (local.set $have (i32.mul (memory.size) (i32.const 65536)))
    (if (i32.gt_u (local.get $end) (local.get $have))
      (then
        (if (i32.lt_s
              (memory.grow (i32.add (i32.shr_u (i32.sub (local.get $end) (local.get $have)) (i32.const 16)) (i32.const 1)))
              (i32.const 0))
          (then (return (i32.const 0))))))
    (global.set $heap (local.get $end))
    (local.get $ptr))

  (func $is_space (param $c i32) (result i32)
    (i32.or (i32.or (i32.eq (local.get $c) (i32.const 32)) (i32.eq (local.get $c) (i32.const 9)))
            (i32.or (i32.eq (local.get $c) (i32.const 10)) (i32.eq (local.get $c) (i32.const 13)))))

  (func $skip_space (param $p i32) (param $end i32) (result i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (br_if $done (i32.eqz (call $is_space (i32.load8_u (local.get $p)))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $next)))
    (local.get $p))

  ;; Does memory at $p (before $end) start with the $len bytes at $key?
  (func $starts_with (param $p i32) (param $end i32) (param $key i32) (param $len i32) (result i32)
    (local $i i32)
    (if (i32.gt_u (i32.add (local.get $p) (local.get $len)) (local.get $end)) (then (return (i32.const 0))))
    (block $differ
      (loop $next
        (if (i32.ge_u (local.get $i) (local.get $len)) (then (return (i32.const 1))))
        (br_if $differ (i32.ne (i32.load8_u (i32.add (local.get $p) (local.get $i)))
                               (i32.load8_u (i32.add (local.get $key) (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.const 0))

  ;; Find `KEY : "STRING"` in [$p, $end). 1: found (in $found_ptr/$found_len), 0: absent,
  ;; -1: the key is there but not followed by a plain string.
  (func $find (param $p i32) (param $end i32) (param $key i32) (param $len i32) (result i32)
    (local $q i32)
    (block $absent
      (loop $scan
        (br_if $absent (i32.ge_u (local.get $p) (local.get $end)))
        (if (call $starts_with (local.get $p) (local.get $end) (local.get $key) (local.get $len))
          (then
            (local.set $q (call $skip_space (i32.add (local.get $p) (local.get $len)) (local.get $end)))
            (if (i32.and (i32.lt_u (local.get $q) (local.get $end))
                         (i32.eq (i32.load8_u (local.get $q)) (i32.const 58)))  ;; ':'
              (then
                (local.set $q (call $skip_space (i32.add (local.get $q) (i32.const 1)) (local.get $end)))
                (if (i32.or (i32.ge_u (local.get $q) (local.get $end))
                            (i32.ne (i32.load8_u (local.get $q)) (i32.const 34)))  ;; '"'
                  (then (return (i32.const -1))))
                (local.set $q (i32.add (local.get $q) (i32.const 1)))
                (global.set $found_ptr (local.get $q))
                (block $closed
                  (loop $chars
                    (if (i32.ge_u (local.get $q) (local.get $end)) (then (return (i32.const -1))))
                    (br_if $closed (i32.eq (i32.load8_u (local.get $q)) (i32.const 34)))
                    (if (i32.eq (i32.load8_u (local.get $q)) (i32.const 92)) (then (return (i32.const -1))))  ;; '\'
                    (local.set $q (i32.add (local.get $q) (i32.const 1)))
                    (br $chars)))
                (global.set $found_len (i32.sub (local.get $q) (global.get $found_ptr)))
                (return (i32.const 1))))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $scan)))
    (i32.const 0))

  (func $refuse (result i32)
    (drop (call $proxy_log (i32.const 4) (i32.const 112) (i32.const 51)))
    (i32.const 0))

  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))

  ;; Read the plugin configuration (buffer type 7).
  (func (export "proxy_on_configure") (param $root i32) (param $size i32) (result i32)
    (local $ptr i32) (local $end i32) (local $found i32)
    (if (i32.eqz (local.get $size)) (then (return (i32.const 1))))
    (if (call $proxy_get_buffer_bytes (i32.const 7) (i32.const 0) (local.get $size) (i32.const 0) (i32.const 4))
      (then (return (call $refuse))))
    (local.set $ptr (call $skip_space (i32.load (i32.const 0)) (i32.add (i32.load (i32.const 0)) (i32.load (i32.const 4)))))
    (local.set $end (i32.add (i32.load (i32.const 0)) (i32.load (i32.const 4))))
    (if (i32.or (i32.ge_u (local.get $ptr) (local.get $end))
                (i32.ne (i32.load8_u (local.get $ptr)) (i32.const 123)))  ;; '{'
      (then (return (call $refuse))))
    (local.set $found (call $find (local.get $ptr) (local.get $end) (i32.const 96) (i32.const 6)))
    (if (i32.eqz (local.get $found)) (then (return (i32.const 1))))  ;; {} : keep the default
    (if (i32.or (i32.lt_s (local.get $found) (i32.const 0)) (i32.eqz (global.get $found_len)))
      (then (return (call $refuse))))
    (global.set $name_ptr (global.get $found_ptr))
    (global.set $name_len (global.get $found_len))
    (if (i32.ne (call $find (local.get $ptr) (local.get $end) (i32.const 104) (i32.const 7)) (i32.const 1))
      (then (return (call $refuse))))
    (global.set $value_ptr (global.get $found_ptr))
    (global.set $value_len (global.get $found_len))
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
