/*
 * rate-limit: a per-user token bucket, shared by every worker thread of one Envoy.
 *
 * Each request takes one token from the bucket of its user (the value of a configured header,
 * e.g. x-user-id). A bucket holds at most `burst` tokens and refills at `rate` tokens per second.
 * A request that finds its bucket empty is answered 429 with `retry-after` (whole seconds).
 *
 * A bucket is stored as one number: the instant at which it will be full again ("full_at").
 * With T = 1 s / rate, a bucket holds burst - (full_at - now) / T tokens; taking a token moves
 * full_at T later. A bucket whose full_at has passed is simply full, which is why idle users cost
 * nothing and why a slot of an idle user can be handed to someone else (below).
 *
 * State lives in Envoy's shared data, so the limit holds per Envoy process, not per worker. Writes
 * use compare-and-swap: read the slot and its CAS number, compute, write back with that number; if
 * another worker wrote in between, the write fails and we start again.
 *
 * Memory is bounded: shared data keys can never be deleted, and the user header comes from the
 * client, so one key per user would let anyone grow Envoy's memory without limit. Instead there
 * are `max_keys` slots ("rate-limit/<n>"). A user's slot is found by hashing, probing up to
 * PROBES consecutive slots; each slot records its owner (a 64-bit hash of the user) so users that
 * land on the same slot are told apart. A slot whose bucket is full belongs to nobody in
 * particular and can be claimed. If all probed slots hold other users' unfinished buckets, the
 * new user takes over the one that refills soonest: that user's small debt is forgotten (its next
 * request finds a full bucket), but no user is ever refused because of other users.
 *
 * The hash is SipHash-2-4 keyed with a 128-bit secret that the first VM draws from the host's
 * random generator and keeps in shared data ("rate-limit/secret"), so every worker places a user
 * on the same slots while nobody outside the Envoy process can compute where a user lands, or
 * pick a user name whose owner hash equals someone else's. The settings (key_header, rate, burst)
 * are mixed into the key, so filter entries with other settings never share a bucket.
 */
#include "proxy_wasm.h"

#define FILTER PW_STR("rate-limit")
#define PROBES 8          /* slots tried per user */
#define CAS_ATTEMPTS 16   /* retries when other workers keep writing the same slot */
#define NS_PER_S 1000000000ull

typedef struct {
    pw_str key_header;  /* lower case */
    pw_str default_key; /* the bucket for requests without the header; empty: refuse them (400) */
    bool has_default;
    uint64_t interval_ns; /* T: one token every interval_ns */
    uint64_t burst;
    uint64_t max_keys;
    uint64_t hash_key[2]; /* SipHash key: the shared secret with the settings mixed in */
} settings;

/* What a slot holds in shared data: 16 bytes, little-endian as wasm memory is. */
typedef struct {
    uint64_t owner;   /* hash of the user; 0: never used */
    uint64_t full_at; /* ns since the epoch */
} slot_state;

/* ---- hashing --------------------------------------------------------------------------------- */

static uint64_t fnv1a(uint64_t h, pw_str s) {
    for (size_t i = 0; i < s.len; i++) h = (h ^ (unsigned char)s.data[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1, v1 = rotl(v1, 13), v1 ^= v0, v0 = rotl(v0, 32);                                 \
        v2 += v3, v3 = rotl(v3, 16), v3 ^= v2;                                                     \
        v0 += v3, v3 = rotl(v3, 21), v3 ^= v0;                                                     \
        v2 += v1, v1 = rotl(v1, 17), v1 ^= v2, v2 = rotl(v2, 32);                                  \
    } while (0)

/* SipHash-2-4 (Aumasson and Bernstein): a keyed hash made against hash flooding. */
static uint64_t siphash(const uint64_t key[2], pw_str m) {
    uint64_t v0 = key[0] ^ 0x736f6d6570736575ull, v1 = key[1] ^ 0x646f72616e646f6dull;
    uint64_t v2 = key[0] ^ 0x6c7967656e657261ull, v3 = key[1] ^ 0x7465646279746573ull;
    const unsigned char *p = (const unsigned char *)m.data;
    size_t whole = m.len - m.len % 8;
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t word = 0;
        for (int b = 7; b >= 0; b--) word = word << 8 | p[i + b];
        v3 ^= word;
        SIPROUND;
        SIPROUND;
        v0 ^= word;
    }
    uint64_t last = (uint64_t)m.len << 56;
    for (size_t b = 0; b < m.len % 8; b++) last |= (uint64_t)p[whole + b] << (8 * b);
    v3 ^= last;
    SIPROUND;
    SIPROUND;
    v0 ^= last;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- configuration --------------------------------------------------------------------------- */

static bool parse(pw_json *j, settings *s) {
    double rate = 0;
    bool has_rate = false, has_burst = false;
    pw_str key;
    if (!pw_json_object(j)) return false;
    while (pw_json_member(j, &key)) {
        if (pw_str_eq(key, PW_STR("key_header"))) {
            pw_json_header_name(j, &s->key_header);
        } else if (pw_str_eq(key, PW_STR("rate"))) {
            has_rate = pw_json_number(j, &rate);
            /* T = 1e9 / rate ns must fit: burst * T stays below 2^63 with these bounds. */
            if (has_rate && !(rate >= 0.001 && rate <= 1000000))
                pw_json_fail(j, "expected tokens per second from 0.001 to 1000000");
        } else if (pw_str_eq(key, PW_STR("burst"))) {
            has_burst = pw_json_uint(j, 1, 1000000, &s->burst);
        } else if (pw_str_eq(key, PW_STR("default_key"))) {
            s->has_default = pw_json_string(j, &s->default_key);
            if (s->has_default && s->default_key.len == 0) pw_json_fail(j, "expected a non-empty string");
        } else if (pw_str_eq(key, PW_STR("max_keys"))) {
            pw_json_uint(j, 16, 1000000, &s->max_keys);
        } else {
            pw_json_fail(j, "unknown key (expected key_header, rate, burst, default_key, max_keys)");
        }
    }
    if (!pw_json_finish(j)) return false;
    if (!has_rate) return pw_json_fail(j, "'rate' (tokens per second) is required");
    if (!has_burst) return pw_json_fail(j, "'burst' (bucket size) is required");
    s->interval_ns = (uint64_t)(1e9 / rate + 0.5);
    return true;
}

/* The hash key: the shared secret, with the settings mixed in (public, so they need not be secret). */
static bool hash_key(settings *s) {
    if (!pw_shared_secret(PW_STR("rate-limit/secret"), s->hash_key, sizeof s->hash_key)) return false;
    uint64_t mix = fnv1a(0xcbf29ce484222325ull, s->key_header);
    mix = fnv1a(mix, (pw_str){(const char *)&s->interval_ns, sizeof s->interval_ns});
    mix = fnv1a(mix, (pw_str){(const char *)&s->burst, sizeof s->burst});
    s->hash_key[0] ^= mix;
    return true;
}

void *pw_filter_configure(char *config, size_t len) {
    settings *s = pw_calloc(1, sizeof *s);
    s->key_header = PW_STR("x-user-id");
    s->max_keys = 10000;
    pw_json j;
    pw_json_init(&j, config, len);
    if (!parse(&j, s)) {
        pw_json_log_error(&j, FILTER);
        pw_free(s);
        return NULL;
    }
    if (!hash_key(s)) { /* without the secret, users could aim at each other's slots: refuse */
        pw_log(PW_LOG_ERROR, PW_STR("rate-limit: configuration refused: no hash secret (shared data or random_get failed)"));
        pw_free(s);
        return NULL;
    }
    return s;
}

void pw_filter_release(void *plugin) { pw_free(plugin); }

/* ---- the bucket ------------------------------------------------------------------------------ */

typedef enum { ALLOWED, LIMITED } verdict;

static void slot_key(pw_buf *key, uint64_t slot) {
    key->len = 0;
    pw_buf_append(key, PW_STR("rate-limit/"));
    pw_buf_append_u64(key, slot);
}

/* Read a slot; a missing or foreign value reads as never used. */
static slot_state read_slot(pw_str key, uint32_t *cas) {
    pw_buf value = {0};
    slot_state state = {0, 0};
    if (pw_shared_get(key, &value, cas) == PW_OK && value.len == sizeof state) memcpy(&state, value.data, sizeof state);
    pw_buf_free(&value);
    return state;
}

/*
 * Take a token for `owner`. On LIMITED, *wait_ns says how long until a token frees. Each attempt
 * scans the user's probe slots, then writes one slot with CAS; a lost race retries.
 */
static verdict take_token(const settings *s, uint64_t owner, uint64_t *wait_ns) {
    uint64_t burst_ns = s->burst * s->interval_ns;
    uint64_t home = owner % s->max_keys;
    pw_buf key = {0};
    verdict result = LIMITED;
    *wait_ns = NS_PER_S; /* if every attempt loses its race: ask the client to come back shortly */
    for (int attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
        uint64_t now = pw_now_ns();
        int chosen = -1; /* probe index of the slot to write */
        slot_state chosen_state = {0, 0};
        uint32_t chosen_cas = 0;
        int soonest = -1; /* the busy slot of another user that refills first */
        uint64_t soonest_full_at = UINT64_MAX;
        uint32_t soonest_cas = 0;
        for (int i = 0; i < PROBES; i++) {
            uint32_t cas;
            slot_key(&key, (home + (uint64_t)i) % s->max_keys);
            slot_state state = read_slot(pw_buf_str(&key), &cas);
            if (state.owner == owner) { /* our own bucket: always the one to use */
                chosen = i;
                chosen_state = state;
                chosen_cas = cas;
                break;
            }
            bool idle = state.owner == 0 || state.full_at <= now;
            if (idle && chosen < 0) { /* claim it with a full bucket, unless ours turns up later */
                chosen = i;
                chosen_state = (slot_state){owner, now};
                chosen_cas = cas;
            }
            if (!idle && (soonest < 0 || state.full_at < soonest_full_at)) {
                soonest = i;
                soonest_full_at = state.full_at;
                soonest_cas = cas;
            }
            /* Slots are claimed in probe order, so nothing of ours lies past a never-used slot. */
            if (state.owner == 0) break;
        }
        if (chosen < 0) {
            /* Every probed slot holds another user's unfinished bucket (more users are active than
             * the table holds): take over the one that refills first, forgetting the smallest debt,
             * rather than refuse this user because of others. */
            chosen = soonest;
            chosen_state = (slot_state){owner, now};
            chosen_cas = soonest_cas;
        }
        uint64_t full_at = chosen_state.full_at;
        if (full_at < now) full_at = now;                       /* a full bucket */
        if (full_at - now > burst_ns) full_at = now + burst_ns; /* the clock went back: at most empty */
        uint64_t next = full_at + s->interval_ns;
        if (next - now > burst_ns) { /* taking a token would need more than `burst` tokens: empty */
            *wait_ns = next - burst_ns - now;
            break;
        }
        slot_key(&key, (home + (uint64_t)chosen) % s->max_keys);
        slot_state updated = {owner, next};
        pw_str value = {(const char *)&updated, sizeof updated};
        pw_status status = pw_shared_set(pw_buf_str(&key), value, chosen_cas);
        if (status == PW_OK) {
            result = ALLOWED;
            break;
        }
        if (status != PW_CAS_MISMATCH) break; /* the host refused: fail closed */
    }
    pw_buf_free(&key);
    return result;
}

/* ---- the request ----------------------------------------------------------------------------- */

static uint32_t refuse(uint32_t status, pw_str details, pw_str body, const pw_header *headers, size_t count) {
    pw_send_response(status, details, body, headers, count);
    return PW_STOP;
}

PW_EXPORT("proxy_on_request_headers")
uint32_t on_request_headers(uint32_t context_id, uint32_t headers, uint32_t end_of_stream) {
    const settings *s = pw_plugin(context_id);
    pw_buf user = {0};
    pw_header_found found = pw_get_header(PW_REQUEST_HEADERS, s->key_header, &user);
    if (found == PW_HEADER_REPEATED) {
        /* Which of the values would we count? Refuse rather than let a client pick. */
        pw_buf_free(&user);
        return refuse(400, PW_STR("rate_limit_key_repeated"), PW_STR("the rate limit key header is repeated\n"),
                      NULL, 0);
    }
    pw_str identity = pw_buf_str(&user);
    if (found == PW_HEADER_ABSENT || identity.len == 0) {
        if (!s->has_default) {
            pw_buf_free(&user);
            return refuse(400, PW_STR("rate_limit_key_missing"), PW_STR("the rate limit key header is missing\n"),
                          NULL, 0);
        }
        identity = s->default_key;
    }
    uint64_t owner = siphash(s->hash_key, identity);
    if (owner == 0) owner = 1; /* 0 marks a never-used slot */
    pw_buf_free(&user);

    uint64_t wait_ns;
    if (take_token(s, owner, &wait_ns) == ALLOWED) return PW_CONTINUE;

    pw_buf retry = {0};
    uint64_t seconds = (wait_ns + NS_PER_S - 1) / NS_PER_S;
    pw_buf_append_u64(&retry, seconds > 0 ? seconds : 1);
    pw_header reply[] = {{PW_STR("retry-after"), pw_buf_str(&retry)}};
    refuse(429, PW_STR("rate_limited"), PW_STR("rate limit exceeded\n"), reply, 1);
    pw_buf_free(&retry);
    return PW_STOP;
}
