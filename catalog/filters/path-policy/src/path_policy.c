/*
 * path-policy: allow or deny requests by path prefix and method; the first matching rule wins,
 * and a configurable default decides the rest. Denied requests get 403.
 *
 * A prefix rule is only as good as the path it is compared with. "/admin" must also catch
 * "//admin", "/./admin", "/public/../admin" and "/%61dmin", which many upstreams read as
 * /admin, while Envoy passes them on as they are unless the listener normalises paths. So the
 * path is normalised first (RFC 3986 section 6.2.2):
 *   - the query (after '?') is set aside and not judged;
 *   - percent-encoded unreserved characters are decoded (%61 -> a), other escapes are kept
 *     with upper-case hex;
 *   - repeated slashes are merged, "." segments removed, ".." segments resolved.
 * Some paths are refused (400) instead, because upstreams disagree on what they mean and a rule
 * could not hold for all of them:
 *   - an encoded '/' or '\' (%2F, %5C) and a raw '\';
 *   - a ".." above the root, and a broken escape;
 *   - path parameters: any ';' (and its escape %3B). Java servers and others cut ";params" out
 *     of each segment, so "/images/..;/admin" is /admin to them, and "/admin;x=1/users" is
 *     /admin/users;
 *   - an escaped '%' followed by a hex digit ("%2561"): an upstream that decodes twice reads
 *     /%2561dmin as /admin.
 * Rules are matched against the result, and when it differs from what the client sent, the
 * request continues with the normalised path, so the upstream serves exactly what was judged.
 * Matching is case-sensitive, like paths.
 */
#include "proxy_wasm.h"

#define FILTER PW_STR("path-policy")
#define MAX_METHODS 16

typedef struct {
    pw_str prefix;
    pw_str methods[MAX_METHODS]; /* none: any method */
    size_t method_count;
    bool allow;
} rule;

typedef struct {
    rule *rules;
    size_t count;
    bool default_allow;
} settings;

/* ---- path normalisation ---------------------------------------------------------------------- */

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool unreserved(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

/* Append one segment, or apply "." and "..". False: ".." would climb above the root. */
static bool add_segment(pw_buf *out, pw_str segment) {
    if (pw_str_eq(segment, PW_STR("."))) return true;
    if (pw_str_eq(segment, PW_STR(".."))) {
        if (out->len == 0) return false;
        while (out->len > 0 && out->data[out->len - 1] != '/') out->len--; /* drop the last segment */
        out->len--;                                                       /* and its slash */
        return true;
    }
    pw_buf_append_char(out, '/');
    pw_buf_append(out, segment);
    return true;
}

/* The normal form of `path` (no query) in *out. False: the path cannot be judged safely. */
static bool normalize(pw_str path, pw_buf *out) {
    if (path.len == 0 || path.data[0] != '/') return false;
    pw_buf segment = {0};
    bool ok = true, directory = false; /* directory: the path ends with '/' (or a dot segment) */
    out->len = 0;
    for (size_t i = 1; ok && i <= path.len; i++) {
        char c = i < path.len ? path.data[i] : '/';
        if (c == '/') {
            pw_str s = pw_buf_str(&segment);
            directory = s.len == 0 || pw_str_eq(s, PW_STR(".")) || pw_str_eq(s, PW_STR(".."));
            if (s.len > 0) ok = add_segment(out, s);
            segment.len = 0;
        } else if (c == '\\' || c == ';') {
            ok = false;
        } else if (c == '%') {
            int hi = i + 2 < path.len ? hex_value(path.data[i + 1]) : -1; /* two digits must follow */
            int lo = hi >= 0 ? hex_value(path.data[i + 2]) : -1;
            char decoded = (char)(hi * 16 + lo);
            bool double_escape = decoded == '%' && i + 3 < path.len && hex_value(path.data[i + 3]) >= 0;
            if (lo < 0 || decoded == '/' || decoded == '\\' || decoded == ';' || double_escape) {
                ok = false;
            } else if (unreserved(decoded)) {
                pw_buf_append_char(&segment, decoded);
            } else {
                const char *digits = "0123456789ABCDEF";
                pw_buf_append_char(&segment, '%');
                pw_buf_append_char(&segment, digits[hi]);
                pw_buf_append_char(&segment, digits[lo]);
            }
            i += 2;
        } else {
            pw_buf_append_char(&segment, c);
        }
    }
    if (ok && (out->len == 0 || directory)) pw_buf_append_char(out, '/');
    pw_buf_free(&segment);
    return ok;
}

/* ---- configuration --------------------------------------------------------------------------- */

/* A prefix that normalisation would change could never match a normalised path. */
static bool is_normal(pw_str prefix) {
    for (size_t i = 0; i < prefix.len; i++)
        if (prefix.data[i] == '?' || prefix.data[i] == '#') return false;
    pw_buf normal = {0};
    bool same = normalize(prefix, &normal) && pw_str_eq(pw_buf_str(&normal), prefix);
    pw_buf_free(&normal);
    return same;
}

static bool read_action(pw_json *j, bool *allow) {
    pw_str action;
    if (!pw_json_string(j, &action)) return false;
    *allow = pw_str_eq(action, PW_STR("allow"));
    return *allow || pw_str_eq(action, PW_STR("deny")) || pw_json_fail(j, "expected \"allow\" or \"deny\"");
}

static bool read_methods(pw_json *j, rule *r) {
    if (!pw_json_array(j)) return false;
    while (pw_json_element(j)) {
        pw_str method;
        if (!pw_json_string(j, &method)) return false;
        if (!pw_is_token(method)) return pw_json_fail(j, "expected an HTTP method, e.g. GET");
        if (r->method_count == MAX_METHODS) return pw_json_fail(j, "at most 16 methods per rule");
        r->methods[r->method_count++] = method;
    }
    if (j->error) return false;
    return r->method_count > 0 || pw_json_fail(j, "expected at least one method (leave 'methods' out for any)");
}

static bool read_rule(pw_json *j, rule *r) {
    bool has_prefix = false, has_action = false;
    pw_str key;
    if (!pw_json_object(j)) return false;
    while (pw_json_member(j, &key)) {
        if (pw_str_eq(key, PW_STR("prefix"))) {
            has_prefix = pw_json_string(j, &r->prefix);
            if (has_prefix && !is_normal(r->prefix))
                has_prefix = pw_json_fail(j, "expected a path in normal form: starting with '/', without '//', "
                                             "'.' or '..' segments, '?', '#', ';', '\\', escapes of "
                                             "letters, digits, '-._~' or ';', lower-case hex, or %25 before a hex digit");
        } else if (pw_str_eq(key, PW_STR("methods"))) {
            read_methods(j, r);
        } else if (pw_str_eq(key, PW_STR("action"))) {
            has_action = read_action(j, &r->allow);
        } else {
            return pw_json_fail(j, "unknown key (expected prefix, methods, action)");
        }
    }
    if (j->error) return false;
    if (!has_prefix) return pw_json_fail(j, "'prefix' is required");
    return has_action || pw_json_fail(j, "'action' is required: \"allow\" or \"deny\"");
}

static bool parse(pw_json *j, settings *s) {
    pw_str key;
    bool has_rules = false;
    if (!pw_json_object(j)) return false;
    while (pw_json_member(j, &key)) {
        if (pw_str_eq(key, PW_STR("rules"))) {
            has_rules = pw_json_array(j);
            while (pw_json_element(j)) {
                s->rules = pw_realloc(s->rules, (s->count + 1) * sizeof *s->rules);
                memset(&s->rules[s->count], 0, sizeof *s->rules);
                if (!read_rule(j, &s->rules[s->count])) return false;
                s->count++;
            }
        } else if (pw_str_eq(key, PW_STR("default"))) {
            read_action(j, &s->default_allow);
        } else {
            pw_json_fail(j, "unknown key (expected rules, default)");
        }
    }
    if (!pw_json_finish(j)) return false;
    return has_rules || pw_json_fail(j, "'rules' is required (it may be empty)");
}

void pw_filter_release(void *plugin) {
    settings *s = plugin;
    pw_free(s->rules);
    pw_free(s);
}

void *pw_filter_configure(char *config, size_t len) {
    settings *s = pw_calloc(1, sizeof *s); /* default_allow false: deny what no rule allows */
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

static bool matches(const rule *r, pw_str path, pw_str method) {
    if (!pw_str_starts_with(path, r->prefix)) return false;
    if (r->method_count == 0) return true;
    for (size_t i = 0; i < r->method_count; i++)
        if (pw_str_eq(r->methods[i], method)) return true;
    return false;
}

static bool allowed(const settings *s, pw_str path, pw_str method) {
    for (size_t i = 0; i < s->count; i++)
        if (matches(&s->rules[i], path, method)) return s->rules[i].allow;
    return s->default_allow;
}

PW_EXPORT("proxy_on_request_headers")
uint32_t on_request_headers(uint32_t context_id, uint32_t headers, uint32_t end_of_stream) {
    const settings *s = pw_plugin(context_id);
    pw_buf target = {0}, method = {0}, path = {0};
    pw_get_header(PW_REQUEST_HEADERS, PW_STR(":path"), &target);
    pw_get_header(PW_REQUEST_HEADERS, PW_STR(":method"), &method);

    pw_str t = pw_buf_str(&target);
    size_t query = 0;
    while (query < t.len && t.data[query] != '?' && t.data[query] != '#') query++;
    uint32_t status = 0; /* 0: let it pass */
    if (!normalize(pw_str_slice(t, 0, query), &path)) {
        status = 400;
    } else if (!allowed(s, pw_buf_str(&path), pw_buf_str(&method))) {
        status = 403;
    } else if (!pw_str_eq(pw_buf_str(&path), pw_str_slice(t, 0, query))) {
        /* Pass on what was judged: the normalised path, then the query as it came. */
        pw_buf_append(&path, pw_str_slice(t, query, t.len));
        pw_set_header(PW_REQUEST_HEADERS, PW_STR(":path"), pw_buf_str(&path));
    }
    pw_buf_free(&target);
    pw_buf_free(&method);
    pw_buf_free(&path);
    if (status == 400) {
        pw_send_response(400, PW_STR("path_policy_bad_path"), PW_STR("bad request path\n"), NULL, 0);
    } else if (status == 403) {
        pw_send_response(403, PW_STR("path_policy_denied"), PW_STR("forbidden by path policy\n"), NULL, 0);
    }
    return status ? PW_STOP : PW_CONTINUE;
}
