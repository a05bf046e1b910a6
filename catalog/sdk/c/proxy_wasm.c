/*
 * proxy_wasm.c: the catalog's C layer for proxy-wasm ABI 0.2.1. See proxy_wasm.h for the contract.
 *
 * Sections: host imports; the ABI marker; libc pieces; the allocator; strings and buffers; logging;
 * contexts and configuration; headers; local responses; time and shared data; base64; JSON.
 */
#include "proxy_wasm.h"

/* ---- host imports -------------------------------------------------------------------------------
 * The functions Envoy offers in module "env" (generator/wasm/abi.py lists them with signatures).
 * Every pointer is an i32 into this module's memory; every call returns a pw_status. The linker
 * imports only the ones some live code calls, so a filter's capabilities are what it really uses.
 */
#define PW_IMPORT(name) __attribute__((import_module("env"), import_name(name)))

PW_IMPORT("proxy_log") uint32_t proxy_log(uint32_t level, const char *message, size_t size);
PW_IMPORT("proxy_get_buffer_bytes")
uint32_t proxy_get_buffer_bytes(uint32_t type, uint32_t start, uint32_t max, char **ptr, size_t *size);
PW_IMPORT("proxy_get_header_map_pairs")
uint32_t proxy_get_header_map_pairs(uint32_t map, char **ptr, size_t *size);
PW_IMPORT("proxy_add_header_map_value")
uint32_t proxy_add_header_map_value(uint32_t map, const char *key, size_t key_size, const char *value,
                                    size_t value_size);
PW_IMPORT("proxy_remove_header_map_value")
uint32_t proxy_remove_header_map_value(uint32_t map, const char *key, size_t key_size);
PW_IMPORT("proxy_send_local_response")
uint32_t proxy_send_local_response(uint32_t status, const char *details, size_t details_size, const char *body,
                                   size_t body_size, const char *headers, size_t headers_size,
                                   int32_t grpc_status);
PW_IMPORT("proxy_get_current_time_nanoseconds") uint32_t proxy_get_current_time_nanoseconds(uint64_t *time);
PW_IMPORT("proxy_get_shared_data")
uint32_t proxy_get_shared_data(const char *key, size_t key_size, char **value, size_t *value_size, uint32_t *cas);
PW_IMPORT("proxy_set_shared_data")
uint32_t proxy_set_shared_data(const char *key, size_t key_size, const char *value, size_t value_size,
                               uint32_t cas);

/* WASI: only random_get, which Envoy answers from its cryptographic random generator. */
__attribute__((import_module("wasi_snapshot_preview1"), import_name("random_get")))
uint32_t wasi_random_get(void *buf, size_t len);

#define PLUGIN_CONFIGURATION 7 /* proxy_buffer_type_t */

/* At -O2 clang copies small functions into every caller; for the few called from everywhere, one
 * copy keeps filters small (each copy of the allocator costs hundreds of bytes). */
#define ONE_COPY __attribute__((noinline))

/* ---- the ABI marker: Envoy picks the ABI version from this export's name --------------------- */

PW_EXPORT("proxy_abi_version_0_2_1") void proxy_abi_version_0_2_1(void) {}

/* ---- libc pieces --------------------------------------------------------------------------------
 * clang emits calls to these for struct copies and large initialisers. Byte loops: short and
 * obviously right; -ffreestanding keeps clang from turning them back into calls to themselves.
 */

void *memcpy(void *dst, const void *src, size_t n) {
    unsigned char *d = dst;
    const unsigned char *s = src;
    while (n--) *d++ = *s++;
    return dst;
}

void *memmove(void *dst, const void *src, size_t n) {
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (d < s) {
        while (n--) *d++ = *s++;
    } else {
        while (n--) d[n] = s[n];
    }
    return dst;
}

void *memset(void *dst, int c, size_t n) {
    unsigned char *d = dst;
    while (n--) *d++ = (unsigned char)c;
    return dst;
}

int memcmp(const void *a, const void *b, size_t n) {
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
    return 0;
}

size_t strlen(const char *s) {
    size_t n = 0;
    while (s[n]) n++;
    return n;
}

/* ---- the allocator ------------------------------------------------------------------------------
 * Power-of-two size classes with one free list each. A block is an 8-byte header followed by the
 * caller's bytes; the header says the block's class and whether it is in use. Freed blocks are
 * reused for the next request of the same class, so a filter that frees what it allocates runs in
 * constant memory however many requests pass. Blocks are never split or merged: simple, and the
 * waste (under half a block) does not grow. New blocks come from the end of the heap, which grows
 * the wasm memory when needed.
 */

#define MIN_CLASS 4  /* 16-byte blocks: an 8-byte header and 8 bytes of data */
#define MAX_CLASS 30 /* 1 GiB: more than any filter needs */
#define TAG_USED 0x55534544u
#define TAG_FREE 0x46524545u
#define WASM_PAGE 65536u

typedef struct {
    uint32_t size_class;
    uint32_t tag;
} block_header;

extern unsigned char __heap_base; /* set by wasm-ld: the first byte after the stack and data */

static void *free_lists[MAX_CLASS + 1];
static uintptr_t heap_next, heap_end;

/* The smallest class whose blocks hold `size` bytes after the header; MAX_CLASS + 1 if none does. */
static int class_for(size_t size) {
    if (size > ((size_t)1 << MAX_CLASS) - sizeof(block_header)) return MAX_CLASS + 1; /* (and no overflow below) */
    size_t total = size + sizeof(block_header);
    int c = MIN_CLASS;
    while (c <= MAX_CLASS && ((size_t)1 << c) < total) c++;
    return c;
}

/* NULL when memory cannot grow any further. */
ONE_COPY static void *allocate(size_t size) {
    int c = class_for(size);
    if (c > MAX_CLASS) return NULL;
    block_header *block = free_lists[c];
    if (block != NULL) {
        free_lists[c] = *(void **)(block + 1);
    } else {
        if (heap_next == 0) {
            heap_next = ((uintptr_t)&__heap_base + 7) & ~(uintptr_t)7;
            heap_end = __builtin_wasm_memory_size(0) * WASM_PAGE;
        }
        size_t bytes = (size_t)1 << c;
        if (heap_end - heap_next < bytes) {
            size_t missing = bytes - (heap_end - heap_next);
            size_t pages = (missing + WASM_PAGE - 1) / WASM_PAGE;
            if (__builtin_wasm_memory_grow(0, pages) == (size_t)-1) return NULL;
            heap_end += pages * WASM_PAGE;
        }
        block = (block_header *)heap_next;
        heap_next += bytes;
        block->size_class = (uint32_t)c;
    }
    block->tag = TAG_USED;
    return block + 1;
}

static block_header *header_of(void *ptr) {
    block_header *block = (block_header *)ptr - 1;
    /* A pointer we never handed out, or one freed twice, would corrupt the free lists: stop. */
    if ((uintptr_t)ptr % 8 != 0 || (uintptr_t)block < (uintptr_t)&__heap_base || (uintptr_t)block >= heap_next ||
        block->tag != TAG_USED)
        __builtin_trap();
    return block;
}

ONE_COPY void *pw_alloc(size_t size) {
    void *ptr = allocate(size);
    if (ptr == NULL) __builtin_trap(); /* out of memory: Envoy applies the filter's fail_open setting */
    return ptr;
}

void *pw_calloc(size_t count, size_t size) {
    if (size != 0 && count > SIZE_MAX / size) __builtin_trap();
    void *ptr = pw_alloc(count * size);
    memset(ptr, 0, count * size);
    return ptr;
}

void *pw_realloc(void *ptr, size_t size) {
    if (ptr == NULL) return pw_alloc(size);
    size_t capacity = ((size_t)1 << header_of(ptr)->size_class) - sizeof(block_header);
    if (size <= capacity) return ptr;
    void *bigger = pw_alloc(size);
    memcpy(bigger, ptr, capacity);
    pw_free(ptr);
    return bigger;
}

ONE_COPY void pw_free(void *ptr) {
    if (ptr == NULL) return;
    block_header *block = header_of(ptr);
    block->tag = TAG_FREE;
    *(void **)ptr = free_lists[block->size_class];
    free_lists[block->size_class] = block;
}

/* The host places data it returns (headers, configuration, shared data) in memory it asks for here. */
PW_EXPORT("proxy_on_memory_allocate") void *proxy_on_memory_allocate(size_t size) { return allocate(size); }

/* ---- strings and buffers --------------------------------------------------------------------- */

pw_str pw_cstr(const char *s) { return (pw_str){s, strlen(s)}; }

bool pw_str_eq(pw_str a, pw_str b) { return a.len == b.len && memcmp(a.data, b.data, a.len) == 0; }

static char lower(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c + ('a' - 'A')) : c; }

bool pw_str_eq_nocase(pw_str a, pw_str b) {
    if (a.len != b.len) return false;
    for (size_t i = 0; i < a.len; i++)
        if (lower(a.data[i]) != lower(b.data[i])) return false;
    return true;
}

bool pw_str_starts_with(pw_str s, pw_str prefix) {
    return s.len >= prefix.len && memcmp(s.data, prefix.data, prefix.len) == 0;
}

pw_str pw_str_slice(pw_str s, size_t from, size_t to) {
    if (to > s.len) to = s.len;
    if (from > to) from = to;
    return (pw_str){s.data + from, to - from};
}

bool pw_str_eq_secret(pw_str a, pw_str b) {
    if (a.len != b.len) return false; /* the length is not the secret */
    unsigned char diff = 0;
    for (size_t i = 0; i < a.len; i++) diff |= (unsigned char)(a.data[i] ^ b.data[i]);
    return diff == 0;
}

bool pw_is_token(pw_str s) {
    if (s.len == 0) return false;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.data[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        bool special = c == '!' || c == '#' || c == '$' || c == '%' || c == '&' || c == '\'' || c == '*' ||
                       c == '+' || c == '-' || c == '.' || c == '^' || c == '_' || c == '`' || c == '|' ||
                       c == '~';
        if (!alnum && !special) return false;
    }
    return true;
}

bool pw_is_reserved_header(pw_str name) {
    static const pw_str reserved[] = {
        PW_STR("host"),           PW_STR("x-forwarded-host"),  PW_STR("forwarded"),
        PW_STR("connection"),     PW_STR("content-length"),    PW_STR("keep-alive"),
        PW_STR("proxy-connection"), PW_STR("te"),              PW_STR("transfer-encoding"),
        PW_STR("upgrade"),
    };
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (pw_str_eq(name, reserved[i])) return true;
    return false;
}

bool pw_is_header_value(pw_str s) {
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.data[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
    }
    if (s.len > 0) {
        char first = s.data[0], last = s.data[s.len - 1];
        if (first == ' ' || first == '\t' || last == ' ' || last == '\t') return false;
    }
    return true;
}

void pw_lower_in_place(char *data, size_t len) {
    for (size_t i = 0; i < len; i++) data[i] = lower(data[i]);
}

static void buf_reserve(pw_buf *b, size_t extra) {
    if (extra > SIZE_MAX - b->len) __builtin_trap();
    size_t need = b->len + extra;
    if (need <= b->cap) return;
    size_t cap = b->cap ? b->cap * 2 : 32;
    if (cap < need) cap = need;
    b->data = pw_realloc(b->data, cap);
    b->cap = cap;
}

ONE_COPY void pw_buf_append(pw_buf *b, pw_str s) {
    if (s.len == 0) return;
    buf_reserve(b, s.len);
    memcpy(b->data + b->len, s.data, s.len);
    b->len += s.len;
}

void pw_buf_append_char(pw_buf *b, char c) {
    if (b->len == b->cap) buf_reserve(b, 1);
    b->data[b->len++] = c;
}

void pw_buf_append_u64(pw_buf *b, uint64_t value) {
    char digits[20];
    size_t n = 0;
    do {
        digits[sizeof digits - 1 - n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0);
    pw_buf_append(b, (pw_str){digits + sizeof digits - n, n});
}

void pw_buf_free(pw_buf *b) {
    pw_free(b->data);
    *b = (pw_buf){0};
}

/* Take over a buffer the host placed in our memory (NULL and 0 when it was empty). */
static pw_buf host_buf(char *ptr, size_t size) { return (pw_buf){ptr, ptr ? size : 0, ptr ? size : 0}; }

/* ---- logging --------------------------------------------------------------------------------- */

void pw_log(pw_log_level level, pw_str message) { proxy_log((uint32_t)level, message.data, message.len); }

void pw_log_parts(pw_log_level level, const pw_str *parts, size_t count) {
    pw_buf line = {0};
    for (size_t i = 0; i < count; i++) pw_buf_append(&line, parts[i]);
    pw_log(level, pw_buf_str(&line));
    pw_buf_free(&line);
}

/* ---- contexts and configuration -----------------------------------------------------------------
 * Envoy creates a root context per plugin (filter entry) in each VM, then a context per stream whose
 * parent is that root. We remember which root each live stream belongs to, so pw_plugin() finds
 * the configuration the stream was created under. A root the host deletes while streams still use
 * it is freed when its last stream goes.
 */

typedef struct root {
    uint32_t id;
    void *plugin;   /* what pw_filter_configure returned; NULL until configured */
    char *config;   /* the configuration text, which the plugin may point into */
    uint32_t streams;
    bool deleted;
    struct root *next;
} root;

typedef struct stream {
    uint32_t id;
    root *root;
    struct stream *next;
} stream;

#define STREAM_BUCKETS 64 /* context ids are sequential, so id % 64 spreads them evenly */

static root *roots;
static stream *streams[STREAM_BUCKETS];

static root *find_root(uint32_t id) {
    for (root *r = roots; r != NULL; r = r->next)
        if (r->id == id) return r;
    return NULL;
}

static root *add_root(uint32_t id) {
    root *r = pw_calloc(1, sizeof *r);
    r->id = id;
    r->next = roots;
    roots = r;
    return r;
}

static void release_plugin(root *r) {
    if (r->plugin != NULL) pw_filter_release(r->plugin);
    pw_free(r->config);
    r->plugin = NULL;
    r->config = NULL;
}

static void free_root(root *r) {
    for (root **link = &roots; *link != NULL; link = &(*link)->next) {
        if (*link == r) {
            *link = r->next;
            break;
        }
    }
    release_plugin(r);
    pw_free(r);
}

PW_EXPORT("proxy_on_context_create") void proxy_on_context_create(uint32_t context_id, uint32_t parent_id) {
    if (parent_id == 0) {
        if (find_root(context_id) == NULL) add_root(context_id);
        return;
    }
    stream *s = pw_alloc(sizeof *s);
    s->id = context_id;
    s->root = find_root(parent_id);
    if (s->root != NULL) s->root->streams++;
    s->next = streams[context_id % STREAM_BUCKETS];
    streams[context_id % STREAM_BUCKETS] = s;
}

PW_EXPORT("proxy_on_delete") void proxy_on_delete(uint32_t context_id) {
    for (stream **link = &streams[context_id % STREAM_BUCKETS]; *link != NULL; link = &(*link)->next) {
        stream *s = *link;
        if (s->id != context_id) continue;
        *link = s->next;
        if (s->root != NULL && --s->root->streams == 0 && s->root->deleted) free_root(s->root);
        pw_free(s);
        return;
    }
    root *r = find_root(context_id);
    if (r == NULL) return;
    r->deleted = true;
    if (r->streams == 0) free_root(r);
}

PW_EXPORT("proxy_on_configure") uint32_t proxy_on_configure(uint32_t root_id, uint32_t size) {
    root *r = find_root(root_id);
    if (r == NULL) r = add_root(root_id);
    char *text = NULL;
    size_t len = 0;
    if (size > 0 && proxy_get_buffer_bytes(PLUGIN_CONFIGURATION, 0, size, &text, &len) != PW_OK) {
        pw_log(PW_LOG_ERROR, PW_STR("proxy_on_configure: the host did not hand over the configuration"));
        return 0;
    }
    void *plugin = pw_filter_configure(text, text ? len : 0);
    if (plugin == NULL) {
        pw_free(text);
        return 0; /* refused: Envoy does not load the filter */
    }
    release_plugin(r); /* configured again: the new settings replace the old */
    r->plugin = plugin;
    r->config = text;
    return 1;
}

void *pw_plugin(uint32_t context_id) {
    for (stream *s = streams[context_id % STREAM_BUCKETS]; s != NULL; s = s->next) {
        if (s->id == context_id && s->root != NULL && s->root->plugin != NULL) return s->root->plugin;
    }
    /* A stream without a configured root cannot happen with a host that follows the ABI. */
    pw_log(PW_LOG_CRITICAL, PW_STR("no configuration for this stream"));
    __builtin_trap();
}

/* ---- headers ------------------------------------------------------------------------------------
 * proxy_get_header_map_pairs serialises a whole map: a u32 count, then (key size, value size) u32
 * pairs, then each key and value followed by a NUL byte, all little-endian. It comes from the host,
 * but we still check every size against the buffer before reading.
 */

static uint32_t read_u32(const char *p) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

pw_header_found pw_get_header(pw_map map, pw_str name, pw_buf *value) {
    value->len = 0;
    char *ptr = NULL;
    size_t size = 0;
    if (proxy_get_header_map_pairs((uint32_t)map, &ptr, &size) != PW_OK || ptr == NULL) return PW_HEADER_ABSENT;
    pw_buf pairs = host_buf(ptr, size);
    int found = 0;
    if (size >= 4) {
        uint32_t count = read_u32(ptr);
        size_t data = 4 + 8 * (size_t)count; /* where the first key starts */
        if (count <= (size - 4) / 8) {
            for (uint32_t i = 0; i < count; i++) {
                size_t key_size = read_u32(ptr + 4 + 8 * i), value_size = read_u32(ptr + 8 + 8 * i);
                if (key_size > size - data || value_size > size - data - key_size ||
                    size - data - key_size - value_size < 2)
                    break; /* inconsistent: stop rather than read past the end */
                pw_str key = {ptr + data, key_size};
                if (pw_str_eq_nocase(key, name) && found++ == 0)
                    pw_buf_append(value, (pw_str){ptr + data + key_size + 1, value_size});
                data += key_size + value_size + 2;
            }
        }
    }
    pw_buf_free(&pairs);
    return found == 0 ? PW_HEADER_ABSENT : found == 1 ? PW_HEADER_ONCE : PW_HEADER_REPEATED;
}

bool pw_add_header(pw_map map, pw_str name, pw_str value) {
    return proxy_add_header_map_value((uint32_t)map, name.data, name.len, value.data, value.len) == PW_OK;
}

/* Remove, then add: afterwards the map holds exactly this one value, whatever came before. */
bool pw_set_header(pw_map map, pw_str name, pw_str value) {
    return pw_remove_header(map, name) && pw_add_header(map, name, value);
}

bool pw_remove_header(pw_map map, pw_str name) {
    return proxy_remove_header_map_value((uint32_t)map, name.data, name.len) == PW_OK;
}

/* ---- local responses ------------------------------------------------------------------------- */

static void append_u32(pw_buf *b, size_t v) {
    uint32_t u = (uint32_t)v;
    pw_buf_append(b, (pw_str){(const char *)&u, sizeof u});
}

void pw_send_response(uint32_t status, pw_str details, pw_str body, const pw_header *headers,
                      size_t header_count) {
    pw_buf pairs = {0};
    append_u32(&pairs, header_count);
    for (size_t i = 0; i < header_count; i++) {
        append_u32(&pairs, headers[i].name.len);
        append_u32(&pairs, headers[i].value.len);
    }
    for (size_t i = 0; i < header_count; i++) {
        pw_buf_append(&pairs, headers[i].name);
        pw_buf_append_char(&pairs, '\0');
        pw_buf_append(&pairs, headers[i].value);
        pw_buf_append_char(&pairs, '\0');
    }
    /* grpc_status -1: a plain HTTP response, not a gRPC one. */
    proxy_send_local_response(status, details.data, details.len, body.data, body.len, pairs.data, pairs.len, -1);
    pw_buf_free(&pairs);
}

/* ---- time and shared data -------------------------------------------------------------------- */

uint64_t pw_now_ns(void) {
    uint64_t now = 0;
    proxy_get_current_time_nanoseconds(&now);
    return now;
}

pw_status pw_shared_get(pw_str key, pw_buf *value, uint32_t *cas) {
    char *ptr = NULL;
    size_t size = 0;
    *cas = 0;
    pw_status status = (pw_status)proxy_get_shared_data(key.data, key.len, &ptr, &size, cas);
    pw_buf_free(value);
    if (status == PW_OK) *value = host_buf(ptr, size);
    return status;
}

pw_status pw_shared_set(pw_str key, pw_str value, uint32_t cas) {
    return (pw_status)proxy_set_shared_data(key.data, key.len, value.data, value.len, cas);
}

/*
 * Envoy's shared data has no "create if absent": a set with CAS 0 overwrites, and a set of a key
 * that does not exist yet succeeds whatever the CAS. So each VM that finds no secret offers its own
 * with CAS 0xffffffff: if another VM created the key in between, that CAS does not match the
 * key's (CAS numbers count up from 1 per write, process-wide) and the offer fails. Then everyone
 * reads back and uses what is stored, so all VMs end up with the first secret written.
 */
bool pw_shared_secret(pw_str key, void *out, size_t len) {
    pw_buf value = {0};
    uint32_t cas;
    bool ok = false;
    for (int attempt = 0; attempt < 2; attempt++) {
        pw_status status = pw_shared_get(key, &value, &cas);
        if (status == PW_OK) {
            ok = value.len == len;
            if (ok) memcpy(out, value.data, len);
            break;
        }
        if (status != PW_NOT_FOUND || attempt > 0 || len > 64) break;
        unsigned char offer[64];
        if (!pw_random(offer, len)) break;
        pw_status offered = pw_shared_set(key, (pw_str){(const char *)offer, len}, 0xffffffffu);
        if (offered != PW_OK && offered != PW_CAS_MISMATCH) break;
    }
    pw_buf_free(&value);
    return ok;
}

/* ---- randomness ------------------------------------------------------------------------------ */

bool pw_random(void *out, size_t len) { return wasi_random_get(out, len) == 0; }

/* ---- base64 ---------------------------------------------------------------------------------- */

static int base64_value(char c, bool url) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == (url ? '-' : '+')) return 62;
    if (c == (url ? '_' : '/')) return 63;
    return -1;
}

bool pw_base64_decode(pw_str in, bool url, pw_buf *out) {
    size_t n = in.len;
    if (!url) {
        if (n % 4 != 0) return false;
        for (int pad = 0; pad < 2 && n > 0 && in.data[n - 1] == '='; pad++) n--;
    }
    if (n % 4 == 1) return false; /* 6 bits cannot make a byte */
    buf_reserve(out, n / 4 * 3 + 2);
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = base64_value(in.data[i], url);
        if (v < 0) return false;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            pw_buf_append_char(out, (char)((acc >> bits) & 0xff));
        }
    }
    /* The bits left over must be zero, so every byte string has exactly one encoding. */
    return (acc & ((1u << bits) - 1)) == 0;
}

/* ---- JSON ---------------------------------------------------------------------------------------
 * Every read checks p < end before looking at *p. Containers are tracked per depth: `first` says
 * whether an item was read yet (so commas are required exactly between items), and `path` keeps
 * each level's current member name or element index for error messages.
 */

ONE_COPY static bool fail_at(pw_json *j, const char *message, const char *where) {
    if (j->error == NULL) {
        j->error = message;
        j->at = (size_t)(where - j->start);
    }
    return false;
}

bool pw_json_fail(pw_json *j, const char *message) { return fail_at(j, message, j->p); }

void pw_json_init(pw_json *j, char *text, size_t len) {
    /* Field by field: `names` is only read below name_count, and zeroing it would cost every call. */
    j->start = j->p = text;
    j->end = text + len;
    if (text == NULL) j->start = j->p = j->end = (char *)"";
    j->depth = 0;
    j->first = 0;
    j->path[0] = (pw_json_level){0};
    j->error = NULL;
    j->at = 0;
    j->message[0] = '\0';
    j->name_count = 0;
}

static void skip_space(pw_json *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

pw_json_type pw_json_peek(pw_json *j) {
    if (j->error) return PW_JSON_NONE;
    skip_space(j);
    if (j->p >= j->end) return PW_JSON_NONE;
    switch (*j->p) {
    case '{': return PW_JSON_OBJECT;
    case '[': return PW_JSON_ARRAY;
    case '"': return PW_JSON_STRING;
    case 't': case 'f': return PW_JSON_BOOL;
    case 'n': return PW_JSON_NULL;
    default: return (*j->p == '-' || (*j->p >= '0' && *j->p <= '9')) ? PW_JSON_NUMBER : PW_JSON_NONE;
    }
}

static bool enter(pw_json *j, char open, bool is_array) {
    if (j->error) return false;
    skip_space(j);
    if (j->p >= j->end || *j->p != open) {
        bool nothing = j->p >= j->end;
        if (is_array) return fail_at(j, nothing ? "expected an array, got nothing" : "expected an array", j->p);
        return fail_at(j, nothing ? "expected an object, got nothing" : "expected an object", j->p);
    }
    if (j->depth >= PW_JSON_MAX_DEPTH) return fail_at(j, "nested too deeply", j->p);
    j->p++;
    j->depth++;
    j->first |= 1u << j->depth;
    j->path[j->depth] = (pw_json_level){.is_array = is_array, .first_name = j->name_count};
    return true;
}

/* True when the current container has another item; false after consuming its closing bracket. */
static bool next_item(pw_json *j, char close) {
    if (j->error) return false;
    skip_space(j);
    if (j->p >= j->end) return fail_at(j, "unexpected end of the text", j->p);
    uint32_t bit = 1u << j->depth;
    if (*j->p == close) {
        j->p++;
        j->first &= ~bit;
        j->name_count = j->path[j->depth].first_name; /* the object's names are done with */
        j->depth--;
        return false;
    }
    if (j->first & bit) {
        j->first &= ~bit;
        return true;
    }
    if (*j->p != ',') return fail_at(j, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'", j->p);
    j->p++;
    return true;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Four hex digits at r (r + 4 <= end checked by the caller). */
static int32_t hex4(const char *r) {
    int32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int d = hex_digit(r[i]);
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

/* UTF-8 encoding of a code point; writes only when out is not NULL. */
static size_t utf8(char *out, uint32_t cp) {
    char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xc0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xe0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        b[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        b[0] = (char)(0xf0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        b[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    if (out != NULL) memcpy(out, b, n);
    return n;
}

/*
 * A string at the cursor. With `out`, it is unescaped in place: the write position never passes
 * the read position (an escape is always longer than what it stands for), so the bytes still to
 * be read are never overwritten. Without `out`, the string is only checked (pw_json_skip).
 */
static bool read_string(pw_json *j, pw_str *out) {
    if (j->error) return false;
    skip_space(j);
    if (j->p >= j->end || *j->p != '"') return fail_at(j, "expected a string", j->p);
    char *r = j->p + 1, *w = r, *begin = r;
    for (;;) {
        if (r >= j->end) return fail_at(j, "unterminated string", j->p);
        char c = *r;
        if (c == '"') break;
        if ((unsigned char)c < 0x20) return fail_at(j, "control character in a string (escape it)", r);
        if (c != '\\') {
            if (out) *w = c;
            w++;
            r++;
            continue;
        }
        if (j->end - r < 2) return fail_at(j, "unterminated string", j->p);
        char e = r[1];
        r += 2;
        uint32_t cp;
        switch (e) {
        case '"': case '\\': case '/': cp = (uint32_t)e; break;
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case 'u': {
            int32_t v = j->end - r >= 4 ? hex4(r) : -1;
            if (v < 0) return fail_at(j, "expected four hex digits after \\u", r);
            r += 4;
            cp = (uint32_t)v;
            if (cp >= 0xdc00 && cp <= 0xdfff) return fail_at(j, "unpaired UTF-16 surrogate", r);
            if (cp >= 0xd800 && cp <= 0xdbff) {
                int32_t low = (j->end - r >= 6 && r[0] == '\\' && r[1] == 'u') ? hex4(r + 2) : -1;
                if (low < 0xdc00 || low > 0xdfff) return fail_at(j, "unpaired UTF-16 surrogate", r);
                r += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + ((uint32_t)low - 0xdc00);
            }
            if (cp == 0) return fail_at(j, "NUL character in a string", r);
            break;
        }
        default: return fail_at(j, "invalid escape in a string", r - 1);
        }
        w += utf8(out ? w : NULL, cp);
    }
    j->p = r + 1;
    if (out) *out = (pw_str){begin, (size_t)(w - begin)};
    return true;
}

bool pw_json_string(pw_json *j, pw_str *out) { return read_string(j, out); }

bool pw_json_object(pw_json *j) { return enter(j, '{', false); }

bool pw_json_array(pw_json *j) { return enter(j, '[', true); }

bool pw_json_member(pw_json *j, pw_str *key) {
    if (!next_item(j, '}')) return false;
    j->path[j->depth].key = (pw_str){0}; /* a problem now is not the previous member's */
    skip_space(j);
    if (j->p >= j->end || *j->p != '"') return fail_at(j, "expected a member name in double quotes", j->p);
    const char *where = j->p;
    if (!read_string(j, key)) return false;
    j->path[j->depth].key = *key;
    for (uint32_t i = j->path[j->depth].first_name; i < j->name_count; i++)
        if (pw_str_eq(j->names[i], *key))
            return fail_at(j, "member given twice (JSON readers disagree on which one counts)", where);
    if (j->name_count == PW_JSON_MAX_MEMBERS) return fail_at(j, "too many members in open objects (at most 256)", where);
    j->names[j->name_count++] = *key;
    skip_space(j);
    if (j->p >= j->end || *j->p != ':') return fail_at(j, "expected ':' after a member name", j->p);
    j->p++;
    return true;
}

bool pw_json_element(pw_json *j) {
    if (!next_item(j, ']')) return false;
    j->path[j->depth].index++;
    return true;
}

static bool is_digit(const pw_json *j, const char *q) { return q < j->end && *q >= '0' && *q <= '9'; }

bool pw_json_number_text(pw_json *j, pw_str *out) {
    if (j->error) return false;
    skip_space(j);
    char *q = j->p;
    if (q < j->end && *q == '-') q++;
    if (!is_digit(j, q)) return fail_at(j, "expected a number", j->p);
    if (*q == '0') {
        q++;
    } else {
        while (is_digit(j, q)) q++;
    }
    if (q < j->end && *q == '.') {
        q++;
        if (!is_digit(j, q)) return fail_at(j, "expected digits after '.'", q);
        while (is_digit(j, q)) q++;
    }
    if (q < j->end && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < j->end && (*q == '+' || *q == '-')) q++;
        if (!is_digit(j, q)) return fail_at(j, "expected digits in the exponent", q);
        while (is_digit(j, q)) q++;
    }
    *out = (pw_str){j->p, (size_t)(q - j->p)};
    j->p = q;
    return true;
}

bool pw_json_number(pw_json *j, double *out) {
    pw_str text;
    if (!pw_json_number_text(j, &text)) return false;
    /* The text is a valid JSON number, so this conversion only needs to follow its grammar. */
    const char *q = text.data, *end = text.data + text.len;
    bool negative = *q == '-';
    if (negative) q++;
    double value = 0;
    int exponent = 0;
    for (; q < end && *q >= '0' && *q <= '9'; q++) value = value * 10 + (*q - '0');
    if (q < end && *q == '.')
        for (q++; q < end && *q >= '0' && *q <= '9'; q++, exponent--) value = value * 10 + (*q - '0');
    if (q < end) { /* 'e' or 'E' */
        q++;
        bool minus = *q == '-';
        if (*q == '+' || *q == '-') q++;
        int e = 0;
        for (; q < end; q++) e = e < 10000 ? e * 10 + (*q - '0') : e;
        exponent += minus ? -e : e;
    }
    if (value != 0 && (exponent > 300 || exponent < -300)) return fail_at(j, "number out of range", text.data);
    for (; exponent > 0; exponent--) value *= 10;
    for (; exponent < 0; exponent++) value /= 10;
    *out = negative ? -value : value;
    return true;
}

static bool literal(pw_json *j, pw_str word) {
    if ((size_t)(j->end - j->p) < word.len || memcmp(j->p, word.data, word.len) != 0) return false;
    j->p += word.len;
    return true;
}

bool pw_json_bool(pw_json *j, bool *out) {
    if (j->error) return false;
    skip_space(j);
    if (literal(j, PW_STR("true"))) {
        *out = true;
    } else if (literal(j, PW_STR("false"))) {
        *out = false;
    } else {
        return fail_at(j, "expected true or false", j->p);
    }
    return true;
}

bool pw_json_skip(pw_json *j) {
    pw_str ignored;
    bool b;
    switch (pw_json_peek(j)) {
    case PW_JSON_OBJECT:
        if (!pw_json_object(j)) return false;
        while (pw_json_member(j, &ignored))
            if (!pw_json_skip(j)) return false;
        return j->error == NULL;
    case PW_JSON_ARRAY:
        if (!pw_json_array(j)) return false;
        while (pw_json_element(j))
            if (!pw_json_skip(j)) return false;
        return j->error == NULL;
    case PW_JSON_STRING: return read_string(j, NULL);
    case PW_JSON_NUMBER: return pw_json_number_text(j, &ignored);
    case PW_JSON_BOOL: return pw_json_bool(j, &b);
    case PW_JSON_NULL: return literal(j, PW_STR("null")) || fail_at(j, "expected null", j->p);
    default: return fail_at(j, j->p >= j->end ? "unexpected end of the text" : "expected a JSON value", j->p);
    }
}

bool pw_json_finish(pw_json *j) {
    if (j->error) return false;
    skip_space(j);
    if (j->depth != 0) return fail_at(j, "unexpected end of the text", j->p);
    if (j->p != j->end) return fail_at(j, "unexpected text after the end of the value", j->p);
    return true;
}

bool pw_json_header_name(pw_json *j, pw_str *out) {
    if (!pw_json_string(j, out)) return false;
    if (!pw_is_token(*out)) return pw_json_fail(j, "expected a header name (an HTTP token, e.g. x-user-id)");
    pw_lower_in_place((char *)out->data, out->len); /* Envoy keeps header names in lower case */
    return true;
}

bool pw_json_header_value(pw_json *j, pw_str *out) {
    if (!pw_json_string(j, out)) return false;
    if (!pw_is_header_value(*out))
        return pw_json_fail(j, "expected a header value (no control characters, no leading or trailing space)");
    return true;
}

/*
 * The exact value of a JSON number if it is a whole number below 10^19: "20", "20.0", "2e1" and
 * "200e-1" are all 20 (JSON Schema's "integer" means the value, not the spelling), "2.5" is none.
 */
static bool whole_number(pw_str text, uint64_t *out) {
    const char *q = text.data, *end = text.data + text.len;
    bool negative = q < end && *q == '-';
    if (negative) q++;
    char digits[20];
    size_t n = 0;
    int64_t scale = 0; /* value = digits * 10^scale */
    bool fraction = false;
    for (; q < end && *q != 'e' && *q != 'E'; q++) {
        if (*q == '.') {
            fraction = true;
            continue;
        }
        if (fraction) scale--;
        if (n == 0 && *q == '0') continue; /* leading zeros */
        if (n == sizeof digits) {          /* only zeros may follow 20 significant digits */
            if (*q != '0') return false;
            scale++;
            continue;
        }
        digits[n++] = *q;
    }
    if (q < end) { /* the exponent, capped: anything beyond is out of range anyway */
        q++;
        bool minus = *q == '-';
        if (*q == '+' || *q == '-') q++;
        int64_t e = 0;
        for (; q < end; q++) e = e < 100000 ? e * 10 + (*q - '0') : e;
        scale += minus ? -e : e;
    }
    while (scale < 0 && n > 0 && digits[n - 1] == '0') n--, scale++; /* trailing zeros after the point */
    if (n == 0) { /* zero, however written */
        *out = 0;
        return true;
    }
    if (scale < 0 || negative || (int64_t)n + scale > 19) return false;
    uint64_t value = 0;
    for (size_t i = 0; i < n; i++) value = value * 10 + (uint64_t)(digits[i] - '0');
    for (; scale > 0; scale--) value *= 10;
    *out = value;
    return true;
}

bool pw_json_uint(pw_json *j, uint64_t min, uint64_t max, uint64_t *out) {
    pw_str text;
    if (!pw_json_number_text(j, &text)) return false;
    uint64_t value = 0;
    bool ok = whole_number(text, &value);
    if (ok && value >= min && value <= max) {
        *out = value;
        return true;
    }
    pw_buf m = {0};
    pw_buf_append(&m, PW_STR("expected a whole number from "));
    pw_buf_append_u64(&m, min);
    pw_buf_append(&m, PW_STR(" to "));
    pw_buf_append_u64(&m, max);
    size_t n = m.len < sizeof j->message - 1 ? m.len : sizeof j->message - 1;
    memcpy(j->message, m.data, n);
    j->message[n] = '\0';
    pw_buf_free(&m);
    return fail_at(j, j->message, text.data);
}

void pw_json_log_error(const pw_json *j, pw_str filter) {
    pw_buf line = {0};
    pw_buf_append(&line, filter);
    pw_buf_append(&line, PW_STR(": configuration refused: "));
    for (int d = 1; d <= j->depth; d++) {
        const pw_json_level *level = &j->path[d];
        if (level->is_array && level->index > 0) {
            pw_buf_append_char(&line, '[');
            pw_buf_append_u64(&line, level->index - 1);
            pw_buf_append_char(&line, ']');
        } else if (!level->is_array && level->key.len > 0) {
            if (line.len > 0 && line.data[line.len - 1] != ' ') pw_buf_append_char(&line, '.');
            pw_buf_append(&line, level->key);
        }
    }
    if (line.data[line.len - 1] != ' ') pw_buf_append(&line, PW_STR(": "));
    pw_buf_append(&line, pw_cstr(j->error ? j->error : "invalid"));
    pw_buf_append(&line, PW_STR(" (at byte "));
    pw_buf_append_u64(&line, j->at);
    pw_buf_append_char(&line, ')');
    pw_log(PW_LOG_ERROR, pw_buf_str(&line));
    pw_buf_free(&line);
}
