/*
 * jwt-claims: copy chosen claims of a bearer token's payload into request headers.
 *
 * THIS FILTER DOES NOT VERIFY THE TOKEN. It decodes the payload (the middle, base64url part of a
 * JWT) and reads it; anyone can write a token with any claims. Run it only after a filter that
 * verifies the signature (Envoy's jwt_authn, Istio's RequestAuthentication), which refuses
 * forged tokens before they get here.
 *
 * For each request:
 *   1. every configured claim header is removed, so a client cannot send them itself;
 *   2. no token (or an Authorization header with another scheme): the request goes on as it is;
 *   3. a token that is not a well-formed JWT with a JSON object payload is refused with 401, and
 *      so is a payload that names a member twice (the JSON reader refuses it);
 *   4. otherwise each configured claim found at the top level of the payload becomes a header:
 *      strings as they are, numbers as written, booleans as true/false. Other types, and strings
 *      that cannot be header values (control characters), are left out.
 */
#include "proxy_wasm.h"

#define FILTER PW_STR("jwt-claims")
#define MAX_CLAIMS 64
#define MAX_TOKEN 16384 /* bytes; larger tokens are refused as malformed */

typedef struct {
    pw_str claim;  /* name in the payload */
    pw_str header; /* request header, lower case */
} mapping;

typedef struct {
    pw_str token_header; /* lower case */
    bool bearer;         /* the token header is authorization: expect "Bearer <token>" */
    mapping claims[MAX_CLAIMS];
    size_t count;
} settings;

/* ---- configuration --------------------------------------------------------------------------- */

static bool read_claims(pw_json *j, settings *s) {
    pw_str claim;
    if (!pw_json_object(j)) return false;
    while (pw_json_member(j, &claim)) {
        if (s->count == MAX_CLAIMS) return pw_json_fail(j, "at most 64 claims");
        if (claim.len == 0) return pw_json_fail(j, "a claim name cannot be empty");
        mapping *m = &s->claims[s->count];
        m->claim = claim;
        if (!pw_json_header_name(j, &m->header)) return false;
        /* A claim named twice is refused by the JSON reader (a member given twice). */
        for (size_t i = 0; i < s->count; i++)
            if (pw_str_eq(s->claims[i].header, m->header)) return pw_json_fail(j, "two claims copied to one header");
        if (pw_is_reserved_header(m->header))
            return pw_json_fail(j, "a claim cannot be copied to host, x-forwarded-host, forwarded or a connection header");
        s->count++;
    }
    return j->error == NULL;
}

static bool parse(pw_json *j, settings *s) {
    pw_str key;
    bool has_claims = false;
    if (!pw_json_object(j)) return false;
    while (pw_json_member(j, &key)) {
        if (pw_str_eq(key, PW_STR("claims"))) {
            has_claims = read_claims(j, s);
        } else if (pw_str_eq(key, PW_STR("header"))) {
            pw_json_header_name(j, &s->token_header);
        } else {
            pw_json_fail(j, "unknown key (expected claims, header)");
        }
    }
    if (!pw_json_finish(j)) return false;
    if (!has_claims || s->count == 0) return pw_json_fail(j, "'claims' is required: {\"claim\": \"header\", ...}");
    for (size_t i = 0; i < s->count; i++) {
        pw_str h = s->claims[i].header;
        if (pw_str_eq(h, s->token_header) || pw_str_eq(h, PW_STR("authorization")) ||
            pw_str_eq(h, PW_STR("proxy-authorization")))
            return pw_json_fail(j, "a claim cannot be copied to the token header, authorization or proxy-authorization");
    }
    s->bearer = pw_str_eq(s->token_header, PW_STR("authorization"));
    return true;
}

void *pw_filter_configure(char *config, size_t len) {
    settings *s = pw_calloc(1, sizeof *s);
    s->token_header = PW_STR("authorization");
    pw_json j;
    pw_json_init(&j, config, len);
    if (!parse(&j, s)) {
        pw_json_log_error(&j, FILTER);
        pw_free(s);
        return NULL;
    }
    return s;
}

void pw_filter_release(void *plugin) { pw_free(plugin); }

/* ---- the request ----------------------------------------------------------------------------- */

typedef enum { NO_TOKEN, TOKEN, MALFORMED } token_kind;

/* Find the token; for Authorization, "Bearer" (any case) and at least one space before it. */
static token_kind find_token(const settings *s, pw_str value, pw_header_found found, pw_str *token) {
    if (found == PW_HEADER_ABSENT) return NO_TOKEN;
    if (found == PW_HEADER_REPEATED) return MALFORMED; /* which one would the upstream read? */
    if (s->bearer) {
        pw_str scheme = PW_STR("bearer");
        if (value.len < scheme.len || !pw_str_eq_nocase(pw_str_slice(value, 0, scheme.len), scheme) ||
            (value.len > scheme.len && value.data[scheme.len] != ' '))
            return NO_TOKEN; /* another scheme (Basic, ...): not ours */
        value = pw_str_slice(value, scheme.len, value.len);
        while (value.len > 0 && value.data[0] == ' ') value = pw_str_slice(value, 1, value.len);
    }
    *token = value;
    return value.len > 0 && value.len <= MAX_TOKEN ? TOKEN : MALFORMED;
}

/* The payload of HEADER.PAYLOAD.SIGNATURE, base64url-decoded into *out. */
static bool decode_payload(pw_str token, pw_buf *out) {
    size_t dots[2], n = 0;
    for (size_t i = 0; i < token.len; i++) {
        if (token.data[i] != '.') continue;
        if (n == 2) return false;
        dots[n++] = i;
    }
    if (n != 2 || dots[0] == 0 || dots[1] == dots[0] + 1) return false; /* empty header or payload */
    return pw_base64_decode(pw_str_slice(token, dots[0] + 1, dots[1]), true, out);
}

static const mapping *configured(const settings *s, pw_str claim) {
    for (size_t i = 0; i < s->count; i++)
        if (pw_str_eq(s->claims[i].claim, claim)) return &s->claims[i];
    return NULL;
}

/*
 * Read the payload and add the claim headers. False: not a JSON object, or a member given twice
 * anywhere in it ({"sub":"alice","sub":"root"}: the JSON reader refuses it, since readers disagree
 * on which one counts, so the verifier and this filter could see different identities).
 */
static bool copy_claims(const settings *s, pw_buf *payload) {
    const mapping *found[MAX_CLAIMS];
    pw_str values[MAX_CLAIMS];
    size_t n = 0;
    pw_json j;
    pw_json_init(&j, payload->data, payload->len);
    pw_str claim;
    if (pw_json_object(&j)) {
        while (pw_json_member(&j, &claim)) {
            const mapping *m = configured(s, claim);
            if (m == NULL) {
                pw_json_skip(&j);
                continue;
            }
            if (n == MAX_CLAIMS) return false; /* cannot happen: each configured claim appears once */
            pw_str value = {0};
            bool b;
            bool usable = false;
            switch (pw_json_peek(&j)) {
            case PW_JSON_STRING: usable = pw_json_string(&j, &value) && pw_is_header_value(value); break;
            case PW_JSON_NUMBER: usable = pw_json_number_text(&j, &value); break;
            case PW_JSON_BOOL:
                usable = pw_json_bool(&j, &b);
                value = b ? PW_STR("true") : PW_STR("false");
                break;
            default: pw_json_skip(&j); /* null, arrays, objects: not copied */
            }
            found[n] = m;
            values[n++] = usable ? value : (pw_str){0};
        }
    }
    if (!pw_json_finish(&j)) return false;
    for (size_t i = 0; i < n; i++)
        if (values[i].data != NULL) pw_add_header(PW_REQUEST_HEADERS, found[i]->header, values[i]);
    return true;
}

static uint32_t malformed(void) {
    pw_header challenge[] = {
        {PW_STR("www-authenticate"), PW_STR("Bearer error=\"invalid_token\", error_description=\"malformed token\"")},
    };
    pw_send_response(401, PW_STR("jwt_claims_malformed_token"), PW_STR("malformed bearer token\n"), challenge, 1);
    return PW_STOP;
}

PW_EXPORT("proxy_on_request_headers")
uint32_t on_request_headers(uint32_t context_id, uint32_t headers, uint32_t end_of_stream) {
    const settings *s = pw_plugin(context_id);
    for (size_t i = 0; i < s->count; i++) pw_remove_header(PW_REQUEST_HEADERS, s->claims[i].header);

    pw_buf value = {0}, payload = {0};
    pw_str token = {0};
    pw_header_found found = pw_get_header(PW_REQUEST_HEADERS, s->token_header, &value);
    bool ok = true;
    switch (find_token(s, pw_buf_str(&value), found, &token)) {
    case NO_TOKEN: break;
    case MALFORMED: ok = false; break;
    case TOKEN: ok = decode_payload(token, &payload) && copy_claims(s, &payload); break;
    }
    pw_buf_free(&payload);
    pw_buf_free(&value);
    return ok ? PW_CONTINUE : malformed();
}
