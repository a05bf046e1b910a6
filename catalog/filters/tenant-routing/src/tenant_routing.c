/*
 * tenant-routing: find the tenant of a request, refuse unknown tenants, and tell the rest of the
 * chain (routes, upstreams) which tenant it is in a header.
 *
 * The tenant comes from one of two places:
 *   - "host": the first label of the Host (":authority") under a configured domain:
 *     acme.images.example.com -> acme, for domain images.example.com;
 *   - "header": a request header set by something trusted in front (x-tenant-id, ...).
 * Tenant names are DNS labels, configured in lower case; what a request names is compared
 * without regard to case.
 *
 * A known tenant is written to `tenant_header` (x-tenant by default), replacing whatever the
 * client sent there, so routes can match on it: Envoy re-evaluates the route after a filter
 * changes request headers. A request that names no known tenant is answered 404, as if the
 * site did not exist: it does not tell a stranger which tenants exist. A request that is
 * ambiguous (a repeated tenant header, a Host Envoy joined from two values) or that lacks the
 * tenant header is a client error, 400.
 */
#include "proxy_wasm.h"

#define FILTER PW_STR("tenant-routing")
#define MAX_LABEL 63

typedef struct {
    bool from_host;      /* else from a header */
    pw_str domain;       /* from_host: lower case, without a trailing dot */
    pw_str source_header; /* !from_host: lower case */
    pw_str tenant_header; /* lower case */
    pw_str *tenants;      /* lower case DNS labels */
    size_t count;
} settings;

/* ---- configuration --------------------------------------------------------------------------- */

/* A DNS label: 1-63 letters, digits and '-', not starting or ending with '-'. */
static bool is_label(pw_str s) {
    if (s.len == 0 || s.len > MAX_LABEL || s.data[0] == '-' || s.data[s.len - 1] == '-') return false;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.data[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-')) return false;
    }
    return true;
}

/* Dot-separated DNS labels, e.g. images.example.com. */
static bool is_domain(pw_str s) {
    size_t start = 0;
    for (size_t i = 0; i <= s.len; i++) {
        if (i < s.len && s.data[i] != '.') continue;
        if (!is_label(pw_str_slice(s, start, i))) return false;
        start = i + 1;
    }
    return s.len <= 253;
}

static bool read_tenants(pw_json *j, settings *s) {
    if (!pw_json_array(j)) return false;
    while (pw_json_element(j)) {
        pw_str name;
        if (!pw_json_string(j, &name)) return false;
        bool lower = is_label(name);
        for (size_t i = 0; lower && i < name.len; i++) lower = !(name.data[i] >= 'A' && name.data[i] <= 'Z');
        if (!lower) return pw_json_fail(j, "expected a DNS label in lower case: a-z, digits and '-', at most 63");
        for (size_t i = 0; i < s->count; i++)
            if (pw_str_eq(s->tenants[i], name)) return pw_json_fail(j, "tenant listed twice");
        s->tenants = pw_realloc(s->tenants, (s->count + 1) * sizeof *s->tenants);
        s->tenants[s->count++] = name;
    }
    return j->error == NULL;
}

static bool parse(pw_json *j, settings *s) {
    pw_str key, from = PW_STR("host");
    bool has_domain = false, has_header = false;
    if (!pw_json_object(j)) return false;
    while (pw_json_member(j, &key)) {
        if (pw_str_eq(key, PW_STR("from"))) {
            if (pw_json_string(j, &from) && !pw_str_eq(from, PW_STR("host")) && !pw_str_eq(from, PW_STR("header")))
                pw_json_fail(j, "expected \"host\" or \"header\"");
        } else if (pw_str_eq(key, PW_STR("domain"))) {
            has_domain = pw_json_string(j, &s->domain);
            if (has_domain && s->domain.len > 0 && s->domain.data[s->domain.len - 1] == '.') s->domain.len--;
            if (has_domain && !is_domain(s->domain)) pw_json_fail(j, "expected a domain name, e.g. images.example.com");
            pw_lower_in_place((char *)s->domain.data, s->domain.len);
        } else if (pw_str_eq(key, PW_STR("header"))) {
            has_header = pw_json_header_name(j, &s->source_header);
        } else if (pw_str_eq(key, PW_STR("tenants"))) {
            read_tenants(j, s);
        } else if (pw_str_eq(key, PW_STR("tenant_header"))) {
            pw_json_header_name(j, &s->tenant_header);
        } else {
            pw_json_fail(j, "unknown key (expected from, domain, header, tenants, tenant_header)");
        }
    }
    if (!pw_json_finish(j)) return false;
    s->from_host = pw_str_eq(from, PW_STR("host"));
    if (s->from_host && !has_domain) return pw_json_fail(j, "'domain' is required with \"from\": \"host\"");
    if (s->from_host && has_header) return pw_json_fail(j, "'header' is only used with \"from\": \"header\"");
    if (!s->from_host && !has_header) return pw_json_fail(j, "'header' is required with \"from\": \"header\"");
    if (!s->from_host && has_domain) return pw_json_fail(j, "'domain' is only used with \"from\": \"host\"");
    if (s->count == 0) return pw_json_fail(j, "'tenants' is required: a list of tenant names");
    if (pw_is_reserved_header(s->tenant_header))
        return pw_json_fail(j, "'tenant_header' cannot be host, x-forwarded-host, forwarded or a connection header");
    return true;
}

void pw_filter_release(void *plugin) {
    settings *s = plugin;
    pw_free(s->tenants);
    pw_free(s);
}

void *pw_filter_configure(char *config, size_t len) {
    settings *s = pw_calloc(1, sizeof *s);
    s->tenant_header = PW_STR("x-tenant");
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

typedef enum { KNOWN, UNKNOWN, BAD_REQUEST } outcome;

/*
 * The tenant label of a host: "Acme.Images.Example.com.:8443" -> "acme" for domain
 * images.example.com. Lower-cased into `label` (MAX_LABEL bytes). Empty when the host is not
 * exactly one label under the domain.
 */
static pw_str tenant_of_host(const settings *s, pw_str host, char *label) {
    size_t end = host.len;
    /* Drop the port: digits after the last ':' (an IPv6 literal "[...]" never names a tenant). */
    for (size_t i = host.len; i > 0; i--) {
        char c = host.data[i - 1];
        if (c == ':') {
            end = i - 1;
            break;
        }
        if (c < '0' || c > '9') break;
    }
    if (end > 0 && host.data[end - 1] == '.') end--; /* a fully qualified name: acme.example.com. */
    host = pw_str_slice(host, 0, end);
    size_t dot = 0;
    while (dot < host.len && host.data[dot] != '.') dot++;
    pw_str first = pw_str_slice(host, 0, dot), rest = pw_str_slice(host, dot + 1, host.len);
    if (dot == host.len || !is_label(first) || !pw_str_eq_nocase(rest, s->domain)) return (pw_str){0};
    memcpy(label, first.data, first.len);
    pw_lower_in_place(label, first.len);
    return (pw_str){label, first.len};
}

/* Envoy joins repeated Host headers with ',' (a,b): a host with a comma is two hosts. */
static bool has_comma(pw_str s) {
    for (size_t i = 0; i < s.len; i++)
        if (s.data[i] == ',') return true;
    return false;
}

static outcome find_tenant(const settings *s, pw_str *tenant, char *label) {
    pw_buf value = {0};
    pw_str source = s->from_host ? PW_STR(":authority") : s->source_header;
    pw_header_found found = pw_get_header(PW_REQUEST_HEADERS, source, &value);
    outcome result = UNKNOWN;
    pw_str v = pw_buf_str(&value);
    if (found == PW_HEADER_REPEATED || (s->from_host && has_comma(v))) {
        result = BAD_REQUEST;
    } else if (found == PW_HEADER_ABSENT || v.len == 0) {
        result = s->from_host ? UNKNOWN : BAD_REQUEST;
    } else {
        pw_str name = {0};
        if (s->from_host) {
            name = tenant_of_host(s, v, label);
        } else if (is_label(v)) {
            memcpy(label, v.data, v.len);
            pw_lower_in_place(label, v.len);
            name = (pw_str){label, v.len};
        }
        for (size_t i = 0; name.len > 0 && i < s->count; i++) {
            if (pw_str_eq(s->tenants[i], name)) {
                *tenant = s->tenants[i];
                result = KNOWN;
                break;
            }
        }
    }
    pw_buf_free(&value);
    return result;
}

PW_EXPORT("proxy_on_request_headers")
uint32_t on_request_headers(uint32_t context_id, uint32_t headers, uint32_t end_of_stream) {
    const settings *s = pw_plugin(context_id);
    char label[MAX_LABEL];
    pw_str tenant = {0};
    switch (find_tenant(s, &tenant, label)) {
    case KNOWN:
        pw_set_header(PW_REQUEST_HEADERS, s->tenant_header, tenant);
        return PW_CONTINUE;
    case UNKNOWN:
        pw_send_response(404, PW_STR("unknown_tenant"), PW_STR("unknown tenant\n"), NULL, 0);
        return PW_STOP;
    case BAD_REQUEST:
    default:
        pw_send_response(400, PW_STR("tenant_ambiguous_or_missing"), PW_STR("missing or ambiguous tenant\n"), NULL, 0);
        return PW_STOP;
    }
}
