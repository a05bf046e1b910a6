/*
 * proxy_wasm.h: the catalog's C layer for proxy-wasm ABI 0.2.1, as Envoy 1.40 implements it.
 *
 * Built freestanding for wasm32 (clang 14, no libc): see generator/binaries/recipes/clang.py. Every filter
 * is one .c file compiled together with catalog/sdk/c/proxy_wasm.c.
 *
 * What this layer does for a filter
 *
 *   - exports the ABI marker, the allocator the host uses (proxy_on_memory_allocate), and the
 *     context bookkeeping callbacks (proxy_on_context_create, proxy_on_configure, proxy_on_delete);
 *   - keeps one parsed configuration per *root context*. Envoy runs one VM per worker thread and
 *     reuses it for every filter entry with the same vm_id, so two listeners (or a configuration
 *     update) give one VM several root contexts with different configurations at once. A stream
 *     asks for its own with pw_plugin(context_id);
 *   - wraps the host calls a filter needs: logging, headers, local responses, the clock, shared
 *     data, randomness; and gives small helpers: strings, growable buffers, base64, a strict JSON
 *     reader (which refuses a member given twice).
 *
 * What a filter provides
 *
 *   void *pw_filter_configure(char *config, size_t len);
 *       Parse the plugin configuration (JSON text as Envoy passes it; len may be 0). Return the
 *       filter's settings, or NULL to refuse the configuration after logging why (Envoy then does
 *       not load the filter). The text stays valid, and may be modified in place, until
 *       pw_filter_release is called: the JSON reader unescapes strings in place, so settings can
 *       keep pw_str views into it.
 *   void pw_filter_release(void *plugin);
 *       Free what pw_filter_configure returned (the configuration text is freed by the SDK).
 *   and the HTTP callbacks it implements, exported with PW_EXPORT, e.g.
 *       PW_EXPORT("proxy_on_request_headers")
 *       uint32_t on_request_headers(uint32_t context_id, uint32_t headers, uint32_t end_of_stream);
 *   Callbacks a filter does not export are never called; only exported HTTP callbacks make the
 *   module an HTTP filter.
 *
 * Memory: pw_alloc never returns NULL (it traps when memory is exhausted, which Envoy turns into
 * the filter's fail_open / fail_closed behaviour). Everything a host call returns (a pw_buf) is
 * owned by the caller and must be released with pw_buf_free; memory that grows on every request
 * is a leak, and the catalog's sandbox reports it.
 */
#ifndef PROXY_WASM_H
#define PROXY_WASM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Export a function under the proxy-wasm name the host looks up. */
#define PW_EXPORT(name) __attribute__((export_name(name)))

/* ---- status codes and enums of the ABI ------------------------------------------------------- */

typedef enum {
    PW_OK = 0,
    PW_NOT_FOUND = 1,
    PW_BAD_ARGUMENT = 2,
    PW_INVALID_MEMORY_ACCESS = 6,
    PW_EMPTY = 7,
    PW_CAS_MISMATCH = 8,
    PW_UNIMPLEMENTED = 12,
} pw_status;

/* What a proxy_on_*_headers callback returns. */
#define PW_CONTINUE 0u
#define PW_STOP 1u /* stop iteration: used after sending a local response */

typedef enum { PW_REQUEST_HEADERS = 0, PW_RESPONSE_HEADERS = 2 } pw_map;

typedef enum {
    PW_LOG_TRACE = 0,
    PW_LOG_DEBUG = 1,
    PW_LOG_INFO = 2,
    PW_LOG_WARN = 3,
    PW_LOG_ERROR = 4,
    PW_LOG_CRITICAL = 5,
} pw_log_level;

/* ---- libc pieces clang emits calls to -------------------------------------------------------- */

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

/* ---- memory ---------------------------------------------------------------------------------- */

void *pw_alloc(size_t size);                  /* never NULL; uninitialised */
void *pw_calloc(size_t count, size_t size);   /* zeroed; traps on overflow */
void *pw_realloc(void *ptr, size_t size);     /* keeps the contents; ptr may be NULL */
void pw_free(void *ptr);                      /* NULL is ignored; a bad pointer traps */

/* ---- strings --------------------------------------------------------------------------------- */

/* A view of bytes owned by someone else: not NUL-terminated. */
typedef struct {
    const char *data;
    size_t len;
} pw_str;

#define PW_STR(literal) ((pw_str){(literal), sizeof(literal) - 1})

pw_str pw_cstr(const char *s);
bool pw_str_eq(pw_str a, pw_str b);
bool pw_str_eq_nocase(pw_str a, pw_str b); /* ASCII case-insensitive, as header names compare */
bool pw_str_starts_with(pw_str s, pw_str prefix);
pw_str pw_str_slice(pw_str s, size_t from, size_t to); /* clamped to s */
/* Constant-time comparison of equal-length secrets (time depends only on the lengths). */
bool pw_str_eq_secret(pw_str a, pw_str b);
/* An HTTP token (RFC 9110): what a header name or a method may be. */
bool pw_is_token(pw_str s);
/*
 * A header no filter should set to a value of its own (name in lower case): host and the headers
 * that restate the authority (x-forwarded-host, forwarded), and the connection-level headers Envoy
 * manages itself (connection, content-length, keep-alive, proxy-connection, te, transfer-encoding,
 * upgrade). Filters refuse them as the name of a header they write.
 */
bool pw_is_reserved_header(pw_str name);
/* A header value Envoy accepts: no control characters but tab, no leading or trailing space. */
bool pw_is_header_value(pw_str s);
void pw_lower_in_place(char *data, size_t len);

/* A growable byte buffer the caller owns. Start it zeroed: pw_buf b = {0}; */
typedef struct {
    char *data;
    size_t len;
    size_t cap;
} pw_buf;

static inline pw_str pw_buf_str(const pw_buf *b) { return (pw_str){b->data, b->len}; }
void pw_buf_append(pw_buf *b, pw_str s);
void pw_buf_append_char(pw_buf *b, char c);
void pw_buf_append_u64(pw_buf *b, uint64_t value); /* decimal */
void pw_buf_free(pw_buf *b);                       /* and zero it, so it can be reused */

/* ---- logging --------------------------------------------------------------------------------- */

void pw_log(pw_log_level level, pw_str message);
/* Log the concatenation of `count` parts; see PW_LOGV. */
void pw_log_parts(pw_log_level level, const pw_str *parts, size_t count);
#define PW_LOGV(level, ...)                                                                        \
    pw_log_parts((level), (const pw_str[]){__VA_ARGS__},                                          \
                 sizeof((pw_str[]){__VA_ARGS__}) / sizeof(pw_str))

/* ---- contexts and configuration -------------------------------------------------------------- */

/* Provided by the filter: see the top of this file. */
void *pw_filter_configure(char *config, size_t len);
void pw_filter_release(void *plugin);

/*
 * The settings pw_filter_configure returned for the root context of this stream. Look them up in
 * each callback rather than keeping the pointer: a new configuration of the same root context
 * replaces (and releases) them between callbacks.
 */
void *pw_plugin(uint32_t context_id);

/* ---- headers --------------------------------------------------------------------------------- */

typedef enum { PW_HEADER_ABSENT = 0, PW_HEADER_ONCE = 1, PW_HEADER_REPEATED = 2 } pw_header_found;

/*
 * The value of header `name` (lower case) in `map`, copied into *value (which the caller frees).
 * Envoy's proxy_get_header_map_value reports only the first of repeated headers, so a filter that
 * decides on a header must know when there are several: PW_HEADER_REPEATED (value holds the first).
 */
pw_header_found pw_get_header(pw_map map, pw_str name, pw_buf *value);
/* Add a value (keeps existing ones), set (exactly one value afterwards), remove all values. */
bool pw_add_header(pw_map map, pw_str name, pw_str value);
bool pw_set_header(pw_map map, pw_str name, pw_str value);
bool pw_remove_header(pw_map map, pw_str name);

/* ---- local responses ------------------------------------------------------------------------- */

typedef struct {
    pw_str name;
    pw_str value;
} pw_header;

/*
 * Answer the request from the filter: the upstream never sees it. `details` is Envoy's response
 * code detail (shown in access logs as %RESPONSE_CODE_DETAILS%): one word, e.g. "rate_limited".
 * Return PW_STOP from the headers callback afterwards.
 */
void pw_send_response(uint32_t status, pw_str details, pw_str body, const pw_header *headers,
                      size_t header_count);

/* ---- time and shared data -------------------------------------------------------------------- */

/* Wall-clock time in nanoseconds since the Unix epoch (it can jump: NTP, operators). */
uint64_t pw_now_ns(void);

/*
 * Shared data: a key/value store shared by every VM of the same vm_id in this Envoy process (one
 * VM per worker thread). Every value carries a CAS number that changes on each write:
 * pw_shared_get returns it, and pw_shared_set with that number fails with PW_CAS_MISMATCH if
 * another worker wrote in between (cas 0 writes unconditionally). A key that does not exist yet
 * is always created, whatever the cas.
 */
pw_status pw_shared_get(pw_str key, pw_buf *value, uint32_t *cas);
pw_status pw_shared_set(pw_str key, pw_str value, uint32_t cas);

/*
 * A secret of `len` bytes (at most 64) shared by every VM of this vm_id, e.g. a hash key: the first
 * VM to ask draws it with pw_random and stores it under `key`; every later call, in any VM, reads
 * the same bytes. It lives as long as the Envoy process (a configuration update keeps it, a restart
 * draws a new one), and nothing a client sends can reveal it. False if the host refused a call or
 * `key` holds a value of another length; the filter should then refuse its configuration.
 */
bool pw_shared_secret(pw_str key, void *out, size_t len);

/* ---- randomness ------------------------------------------------------------------------------ */

/*
 * Fill `out` with `len` random bytes from the host: WASI random_get, which Envoy answers from its
 * cryptographic random generator. False if the host refused. A filter that uses it imports
 * wasi_snapshot_preview1.random_get, so the catalog lists the capability `wasi`.
 */
bool pw_random(void *out, size_t len);

/* ---- base64 ---------------------------------------------------------------------------------- */

/*
 * Decode base64 (RFC 4648) and append the bytes to *out. url = false: the standard alphabet,
 * padded with '=' to a multiple of 4 characters (HTTP Basic credentials). url = true: the URL-safe
 * alphabet without padding (JWTs). Anything else (other characters, a bad length, non-zero
 * trailing bits) returns false.
 */
bool pw_base64_decode(pw_str in, bool url, pw_buf *out);

/* ---- a strict JSON reader -------------------------------------------------------------------- */

/*
 * A pull reader over JSON text held in a writable buffer. It never reads outside
 * [text, text + len), refuses anything RFC 8259 does not allow (and NUL characters in strings),
 * and limits nesting to PW_JSON_MAX_DEPTH. Strings are unescaped in place, so the pw_str it
 * returns points into the buffer and stays valid as long as the buffer does.
 *
 * A member name that appears twice in one object (compared after unescaping, so "a" and "\u0061"
 * are the same name) is refused: RFC 8259 leaves its meaning open, and readers disagree (Python
 * and most JSON Schema validators keep the last value, a pull reader would see both). At most
 * PW_JSON_MAX_MEMBERS member names are remembered at once, counting every object that is open
 * (the ones the reader is inside of); an object with more is refused.
 *
 * Every function returns false on the first problem and records it in `error` (and `at`, a byte
 * offset); after that every call returns false. Read (or pw_json_skip) each member's value and
 * each element before asking for the next one. The usual walk:
 *
 *     pw_json j;
 *     pw_json_init(&j, text, len);
 *     pw_str key;
 *     if (pw_json_object(&j))
 *         while (pw_json_member(&j, &key)) {
 *             if (pw_str_eq(key, PW_STR("rate"))) pw_json_number(&j, &rate);
 *             else pw_json_fail(&j, "unknown key");
 *         }
 *     pw_json_finish(&j);          // only whitespace may follow
 *     if (j.error) ... refuse, e.g. with pw_json_log_error(&j, PW_STR("my-filter"))
 */
#define PW_JSON_MAX_DEPTH 16
#define PW_JSON_MAX_MEMBERS 256

typedef enum {
    PW_JSON_NONE = 0, /* at the end of the text, or after an error */
    PW_JSON_OBJECT,
    PW_JSON_ARRAY,
    PW_JSON_STRING,
    PW_JSON_NUMBER,
    PW_JSON_BOOL,
    PW_JSON_NULL,
} pw_json_type;

/* One level of where the reader is, for error messages such as "rules[2].prefix". */
typedef struct {
    pw_str key;          /* in an object: the member being read */
    uint32_t index;      /* in an array: elements started so far */
    uint32_t first_name; /* in an object: where its member names start in `names` */
    bool is_array;
} pw_json_level;

typedef struct {
    char *start, *p, *end;
    int depth;
    uint32_t first; /* bit d: nothing read yet in the container at depth d */
    pw_json_level path[PW_JSON_MAX_DEPTH + 1];
    const char *error; /* the first problem, or NULL */
    size_t at;         /* its byte offset */
    char message[96];  /* room for a message with numbers in it */
    uint32_t name_count;
    pw_str names[PW_JSON_MAX_MEMBERS]; /* member names of the open objects, innermost last */
} pw_json;

void pw_json_init(pw_json *j, char *text, size_t len);
pw_json_type pw_json_peek(pw_json *j);        /* the type of the next value, not consumed */
bool pw_json_object(pw_json *j);              /* enter an object */
bool pw_json_member(pw_json *j, pw_str *key); /* next member's key; false at '}' (or error) */
bool pw_json_array(pw_json *j);               /* enter an array */
bool pw_json_element(pw_json *j);             /* true if another element follows; false at ']' */
bool pw_json_string(pw_json *j, pw_str *out);
bool pw_json_number(pw_json *j, double *out);
bool pw_json_number_text(pw_json *j, pw_str *out); /* the number exactly as written */
bool pw_json_bool(pw_json *j, bool *out);
bool pw_json_skip(pw_json *j);   /* any value */
bool pw_json_finish(pw_json *j); /* nothing but whitespace is left */
/* Record a problem of the filter's own (e.g. a value out of range), if none was recorded yet. */
bool pw_json_fail(pw_json *j, const char *message);

/* Typed readers for configuration fields; each fails with a message naming what it expected. */
bool pw_json_header_name(pw_json *j, pw_str *out); /* an HTTP token, lower-cased in place */
bool pw_json_header_value(pw_json *j, pw_str *out);
/* A whole number by value, as JSON Schema's "integer": 20, 20.0 and 2e1 are all 20; 2.5 is refused. */
bool pw_json_uint(pw_json *j, uint64_t min, uint64_t max, uint64_t *out);

/* Log "<filter>: configuration refused: <key>: <error> (at byte N)" at error level. */
void pw_json_log_error(const pw_json *j, pw_str filter);

#endif
