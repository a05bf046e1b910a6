/*
 * api-key-auth: let a request through only with a known API key or HTTP Basic credentials.
 *
 * Credentials come from the configuration: API keys (sent in a header, x-api-key by default) and
 * users with passwords (sent as "Authorization: Basic ..."). Each can be given in clear or as a
 * SHA-256 digest, so the Envoy or Istio configuration need not hold the secrets themselves.
 * Internally everything is compared as digests: the presented secret is hashed once and compared
 * with each configured digest in constant time.
 *
 * Without valid credentials the answer is 401 with www-authenticate challenges. With them, the
 * request goes on, optionally carrying the principal (the key's name or the user) in a header,
 * and without the credential that was used (strip_credentials, default true).
 *
 * Ambiguity refuses: a repeated key or Authorization header is 401, since Envoy would only show
 * us the first value while the upstream may read another one.
 */
#include "proxy_wasm.h"

#define FILTER PW_STR("api-key-auth")
#define DIGEST 32

typedef struct {
    pw_str principal;
    unsigned char digest[DIGEST]; /* SHA-256 of the key or password */
} credential;

typedef struct {
    credential *items;
    size_t count;
} credentials;

typedef struct {
    pw_str key_header; /* lower case */
    credentials keys;  /* principal: the key's name */
    credentials users; /* principal: the user name */
    pw_str principal_header; /* empty: do not forward the principal */
    bool strip;
    pw_buf api_key_challenge, basic_challenge; /* www-authenticate values */
} settings;

/* ---- SHA-256 (FIPS 180-4) -------------------------------------------------------------------- */

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static void sha256_block(uint32_t h[8], const unsigned char block[64]) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)block[4 * i] << 24 | (uint32_t)block[4 * i + 1] << 16 | (uint32_t)block[4 * i + 2] << 8 |
               block[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += k;
}

static void sha256(pw_str data, unsigned char out[DIGEST]) {
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    unsigned char block[64];
    size_t i = 0;
    for (; data.len - i >= 64; i += 64) sha256_block(h, (const unsigned char *)data.data + i);
    /* The tail, a 0x80 byte, zeros, and the length in bits: one or two more blocks. */
    size_t rest = data.len - i;
    memset(block, 0, sizeof block);
    memcpy(block, data.data + i, rest);
    block[rest] = 0x80;
    if (rest >= 56) {
        sha256_block(h, block);
        memset(block, 0, sizeof block);
    }
    uint64_t bits = (uint64_t)data.len * 8;
    for (int b = 0; b < 8; b++) block[63 - b] = (unsigned char)(bits >> (8 * b));
    sha256_block(h, block);
    for (int n = 0; n < 8; n++)
        for (int b = 0; b < 4; b++) out[4 * n + b] = (unsigned char)(h[n] >> (24 - 8 * b));
}

/* ---- configuration --------------------------------------------------------------------------- */

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool read_digest(pw_json *j, unsigned char out[DIGEST]) {
    pw_str hex;
    if (!pw_json_string(j, &hex)) return false;
    bool ok = hex.len == 2 * DIGEST;
    for (size_t i = 0; ok && i < DIGEST; i++) {
        int hi = hex_value(hex.data[2 * i]), lo = hex_value(hex.data[2 * i + 1]);
        ok = hi >= 0 && lo >= 0;
        out[i] = (unsigned char)(hi * 16 + lo);
    }
    return ok || pw_json_fail(j, "expected a SHA-256 digest: 64 hex characters");
}

/*
 * One entry of "keys" ({"name", "key" | "sha256"}) or "users" ({"user", "password" |
 * "password_sha256"}); `name` and `secret` are the field names for the two kinds.
 */
static bool read_credential(pw_json *j, credential *c, pw_str name, pw_str secret, pw_str secret_sha256) {
    bool has_name = false, has_secret = false;
    pw_str key, value;
    if (!pw_json_object(j)) return false;
    while (pw_json_member(j, &key)) {
        if (pw_str_eq(key, name)) {
            has_name = pw_json_header_value(j, &c->principal);
            if (has_name && c->principal.len == 0) pw_json_fail(j, "expected a non-empty name");
            /* A user name cannot contain ':', which separates it from the password in Basic. */
            for (size_t i = 0; has_name && pw_str_eq(name, PW_STR("user")) && i < c->principal.len; i++)
                if (c->principal.data[i] == ':') has_name = pw_json_fail(j, "a user name cannot contain ':'");
        } else if (pw_str_eq(key, secret) && !has_secret) {
            has_secret = pw_json_string(j, &value);
            if (has_secret && value.len == 0) pw_json_fail(j, "expected a non-empty secret");
            if (has_secret) sha256(value, c->digest);
        } else if (pw_str_eq(key, secret_sha256) && !has_secret) {
            has_secret = read_digest(j, c->digest);
        } else if (pw_str_eq(key, secret) || pw_str_eq(key, secret_sha256)) {
            return pw_json_fail(j, "give the secret once: in clear or as a digest, not both");
        } else {
            return pw_json_fail(j, "unknown key");
        }
    }
    if (j->error) return false;
    if (!has_name) {
        bool user = pw_str_eq(name, PW_STR("user"));
        return pw_json_fail(j, user ? "'user' is required" : "'name' is required");
    }
    if (!has_secret) return pw_json_fail(j, "the secret is required, in clear or as a SHA-256 digest");
    return true;
}

static bool read_credentials(pw_json *j, credentials *list, pw_str name, pw_str secret, pw_str secret_sha256) {
    if (!pw_json_array(j)) return false;
    while (pw_json_element(j)) {
        list->items = pw_realloc(list->items, (list->count + 1) * sizeof *list->items);
        if (!read_credential(j, &list->items[list->count], name, secret, secret_sha256)) return false;
        list->count++;
    }
    return j->error == NULL;
}

static void challenge(pw_buf *b, pw_str scheme, pw_str realm, pw_str extra) {
    pw_buf_append(b, scheme);
    pw_buf_append(b, PW_STR(" realm=\""));
    pw_buf_append(b, realm);
    pw_buf_append_char(b, '"');
    pw_buf_append(b, extra);
}

static bool parse(pw_json *j, settings *s) {
    pw_str key, realm = PW_STR("api");
    if (!pw_json_object(j)) return false;
    while (pw_json_member(j, &key)) {
        if (pw_str_eq(key, PW_STR("header"))) {
            pw_json_header_name(j, &s->key_header);
        } else if (pw_str_eq(key, PW_STR("keys"))) {
            read_credentials(j, &s->keys, PW_STR("name"), PW_STR("key"), PW_STR("sha256"));
        } else if (pw_str_eq(key, PW_STR("users"))) {
            read_credentials(j, &s->users, PW_STR("user"), PW_STR("password"), PW_STR("password_sha256"));
        } else if (pw_str_eq(key, PW_STR("principal_header"))) {
            pw_json_header_name(j, &s->principal_header);
        } else if (pw_str_eq(key, PW_STR("strip_credentials"))) {
            pw_json_bool(j, &s->strip);
        } else if (pw_str_eq(key, PW_STR("realm"))) {
            /* It goes inside a quoted string of www-authenticate. */
            bool quotable = pw_json_header_value(j, &realm);
            for (size_t i = 0; quotable && i < realm.len; i++)
                quotable = realm.data[i] != '"' && realm.data[i] != '\\';
            if (!quotable) pw_json_fail(j, "a realm cannot contain '\"' or '\\'");
        } else {
            pw_json_fail(j, "unknown key (expected header, keys, users, principal_header, strip_credentials, realm)");
        }
    }
    if (!pw_json_finish(j)) return false;
    if (s->keys.count == 0 && s->users.count == 0)
        return pw_json_fail(j, "no credentials: give at least one entry in 'keys' or 'users'");
    if (s->users.count > 0 && pw_str_eq(s->key_header, PW_STR("authorization")))
        return pw_json_fail(j, "'header' cannot be authorization when 'users' are configured (Basic uses it)");
    pw_str p = s->principal_header;
    if (pw_str_eq(p, s->key_header) || pw_str_eq(p, PW_STR("authorization")) ||
        pw_str_eq(p, PW_STR("proxy-authorization")))
        return pw_json_fail(j, "'principal_header' cannot be a header that carries credentials");
    if (pw_is_reserved_header(p))
        return pw_json_fail(j, "'principal_header' cannot be host, x-forwarded-host, forwarded or a connection header");
    if (s->keys.count > 0) {
        pw_buf extra = {0};
        pw_buf_append(&extra, PW_STR(", header=\""));
        pw_buf_append(&extra, s->key_header);
        pw_buf_append_char(&extra, '"');
        challenge(&s->api_key_challenge, PW_STR("ApiKey"), realm, pw_buf_str(&extra));
        pw_buf_free(&extra);
    }
    if (s->users.count > 0) challenge(&s->basic_challenge, PW_STR("Basic"), realm, PW_STR(", charset=\"UTF-8\""));
    return true;
}

void pw_filter_release(void *plugin) {
    settings *s = plugin;
    pw_free(s->keys.items);
    pw_free(s->users.items);
    pw_buf_free(&s->api_key_challenge);
    pw_buf_free(&s->basic_challenge);
    pw_free(s);
}

void *pw_filter_configure(char *config, size_t len) {
    settings *s = pw_calloc(1, sizeof *s);
    s->key_header = PW_STR("x-api-key");
    s->strip = true;
    pw_json j;
    pw_json_init(&j, config, len);
    if (!parse(&j, s)) {
        pw_json_log_error(&j, FILTER);
        pw_filter_release(s);
        return NULL;
    }
    return s;
}

/* ---- the request ----------------------------------------------------------------------------- */

/* The principal whose digest matches the secret, or NULL. */
static const credential *find(const credentials *list, pw_str user, pw_str secret, bool match_user) {
    unsigned char digest[DIGEST];
    sha256(secret, digest);
    pw_str presented = {(const char *)digest, DIGEST};
    for (size_t i = 0; i < list->count; i++) {
        const credential *c = &list->items[i];
        if (match_user && !pw_str_eq(c->principal, user)) continue;
        if (pw_str_eq_secret(presented, (pw_str){(const char *)c->digest, DIGEST})) return c;
    }
    return NULL;
}

/* "Basic <base64 of user:password>", the scheme in any case (RFC 7617). */
static const credential *check_basic(const settings *s, pw_str authorization) {
    pw_str scheme = PW_STR("basic ");
    if (authorization.len <= scheme.len ||
        !pw_str_eq_nocase(pw_str_slice(authorization, 0, scheme.len), scheme))
        return NULL;
    pw_str token = pw_str_slice(authorization, scheme.len, authorization.len);
    while (token.len > 0 && token.data[0] == ' ') token = pw_str_slice(token, 1, token.len);
    pw_buf decoded = {0};
    const credential *found = NULL;
    if (pw_base64_decode(token, false, &decoded)) {
        pw_str pair = pw_buf_str(&decoded);
        for (size_t i = 0; i < pair.len; i++) {
            if (pair.data[i] == ':') {
                found = find(&s->users, pw_str_slice(pair, 0, i), pw_str_slice(pair, i + 1, pair.len), true);
                break;
            }
        }
    }
    pw_buf_free(&decoded);
    return found;
}

static uint32_t unauthorized(const settings *s) {
    pw_header challenges[2];
    size_t n = 0;
    pw_str name = PW_STR("www-authenticate");
    if (s->api_key_challenge.len) challenges[n++] = (pw_header){name, pw_buf_str(&s->api_key_challenge)};
    if (s->basic_challenge.len) challenges[n++] = (pw_header){name, pw_buf_str(&s->basic_challenge)};
    pw_send_response(401, PW_STR("api_key_auth_denied"), PW_STR("missing or invalid credentials\n"), challenges, n);
    return PW_STOP;
}

PW_EXPORT("proxy_on_request_headers")
uint32_t on_request_headers(uint32_t context_id, uint32_t headers, uint32_t end_of_stream) {
    const settings *s = pw_plugin(context_id);
    pw_buf value = {0};
    const credential *who = NULL;
    pw_str used = {0}; /* the header the credential came from */

    pw_header_found key = s->keys.count ? pw_get_header(PW_REQUEST_HEADERS, s->key_header, &value) : PW_HEADER_ABSENT;
    if (key == PW_HEADER_ONCE) {
        /* A key that is present decides: a wrong key is refused, not retried as Basic. */
        who = find(&s->keys, (pw_str){0}, pw_buf_str(&value), false);
        used = s->key_header;
    } else if (key == PW_HEADER_ABSENT && s->users.count &&
               pw_get_header(PW_REQUEST_HEADERS, PW_STR("authorization"), &value) == PW_HEADER_ONCE) {
        who = check_basic(s, pw_buf_str(&value));
        used = PW_STR("authorization");
    }
    pw_buf_free(&value);
    if (who == NULL) return unauthorized(s);

    if (s->strip) pw_remove_header(PW_REQUEST_HEADERS, used);
    /* Set, not add: a principal header the client sent itself must not survive. */
    if (s->principal_header.len) pw_set_header(PW_REQUEST_HEADERS, s->principal_header, who->principal);
    return PW_CONTINUE;
}
