/* The LOGGING phase of the usual request in C: its access-log and WAF-log lines, and its
 * metrics, made on the request path.
 *
 * Python renders a request's two lines in ~9 us of CPU on a loaded server (a capture tuple,
 * a queue, the writer thread's drain and two encoders); the bare proxy costs ~50-60 us, so
 * full logging was ~20 % of its throughput. This module reads the exchange once, appends
 * both lines to buffers that the writer thread takes and writes, and adds the metrics to
 * GatewayMetrics' own series: one C call a request (Lines.run), no tuple, no queue entry.
 *
 * It covers the common shape only and says so: render() returns 0 for anything else (an
 * authorizer context, WAF match details the plan callback refuses, header names that are not
 * ASCII, text that is not valid Unicode...) and the caller takes the Python path, which stays
 * the reference; 1 means the lines are made but the metrics are Python's to count.
 * tests/observe/test_native_lines.py checks the bytes and the metrics against that path over
 * generated exchanges.
 *
 * Everything runs with the GIL held (render from the event loop, take from the writer), so
 * the buffers need no lock of their own.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdio.h>
#include <string.h>
#include <math.h>
#include <time.h>

/* ---- growable byte buffer ------------------------------------------------------------ */

/* A buffer kept for the process's life: after the first seconds its pages are mapped and
 * warm, so appending a line never faults (a new buffer per batch measurably did). */
typedef struct {
    char *p;
    Py_ssize_t len, cap;
} Buf;

static int buf_grow(Buf *b, Py_ssize_t extra) {
    Py_ssize_t need = b->len + extra, cap = b->cap ? b->cap : 65536;
    while (cap < need) cap *= 2;
    char *p = PyMem_RawRealloc(b->p, (size_t)cap);
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

/* the written bytes as a new bytes object; the buffer is emptied, its memory kept */
static PyObject *buf_detach(Buf *b) {
    PyObject *obj = PyBytes_FromStringAndSize(b->p, b->len);
    if (obj != NULL) b->len = 0;
    return obj;
}

static void buf_free(Buf *b) {
    PyMem_RawFree(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

static inline int reserve(Buf *b, Py_ssize_t extra) {
    return b->len + extra <= b->cap ? 0 : buf_grow(b, extra);
}

static inline int put(Buf *b, const char *s, Py_ssize_t n) {
    if (reserve(b, n) < 0) return -1;
    memcpy(b->p + b->len, s, (size_t)n);
    b->len += n;
    return 0;
}

#define PUTS(b, lit) put((b), (lit), (Py_ssize_t)(sizeof(lit) - 1))

static int put_bytes(Buf *b, PyObject *bytes) {
    return put(b, PyBytes_AS_STRING(bytes), PyBytes_GET_SIZE(bytes));
}

/* decimal digits of v, right-aligned ending at end; returns the first (printf is ~10x slower) */
static char *digits(char *end, unsigned long long v) {
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return end;
}

static int put_ll(Buf *b, long long v) {
    char tmp[24];
    char *end = tmp + sizeof tmp;
    char *p = digits(end, v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v);
    if (v < 0) *--p = '-';
    return put(b, p, end - p);
}

static const char HEX[] = "0123456789abcdef";

/* ---- JSON strings, as orjson writes them --------------------------------------------- */

/* bytes a JSON string cannot hold as they are: controls, " and \ (JSON_ESC), plus the
 * latin-1 bytes that become two UTF-8 bytes (LATIN1_ESC); filled at import */
static unsigned char JSON_ESC[256], LATIN1_ESC[256];

static char *json_escape_one(char *o, unsigned char c) {
    *o++ = '\\';
    switch (c) {
    case '"': *o++ = '"'; break;
    case '\\': *o++ = '\\'; break;
    case '\b': *o++ = 'b'; break;
    case '\t': *o++ = 't'; break;
    case '\n': *o++ = 'n'; break;
    case '\f': *o++ = 'f'; break;
    case '\r': *o++ = 'r'; break;
    default:
        *o++ = 'u'; *o++ = '0'; *o++ = '0';
        *o++ = HEX[c >> 4]; *o++ = HEX[c & 15];
    }
    return o;
}

/* " and \ escaped, \b \t \n \f \r short, other controls \u00xx; everything else as is
 * (orjson's output). The text only, without quotes; the caller reserved n * 6. Runs that
 * need nothing are copied whole. */
static char *json_body(char *o, const unsigned char *s, Py_ssize_t n) {
    Py_ssize_t i = 0;
    while (i < n) {
        Py_ssize_t j = i;
        while (j < n && !JSON_ESC[s[j]]) j++;
        memcpy(o, s + i, (size_t)(j - i));
        o += j - i;
        if (j == n) break;
        o = json_escape_one(o, s[j]);
        i = j + 1;
    }
    return o;
}

/* prefix (plain ASCII) followed by s, as one JSON string */
static int json_utf8_prefixed(Buf *b, const char *prefix, const unsigned char *s,
                              Py_ssize_t n) {
    Py_ssize_t k = (Py_ssize_t)strlen(prefix);
    if (reserve(b, n * 6 + k + 2) < 0) return -1;
    char *o = b->p + b->len;
    *o++ = '"';
    memcpy(o, prefix, (size_t)k);
    o = json_body(o + k, s, n);
    *o++ = '"';
    b->len = o - b->p;
    return 0;
}

static int json_utf8(Buf *b, const unsigned char *s, Py_ssize_t n) {
    return json_utf8_prefixed(b, "", s, n);
}

/* Latin-1 bytes (a header as it came off the wire) as a JSON string of their UTF-8. */
static int json_latin1(Buf *b, const unsigned char *s, Py_ssize_t n, int ellipsis) {
    if (reserve(b, n * 6 + 5) < 0) return -1;
    char *o = b->p + b->len;
    *o++ = '"';
    Py_ssize_t i = 0;
    while (i < n) {
        Py_ssize_t j = i;
        while (j < n && !LATIN1_ESC[s[j]]) j++;
        memcpy(o, s + i, (size_t)(j - i));
        o += j - i;
        if (j == n) break;
        unsigned char c = s[j];
        if (c >= 0x80) {
            *o++ = (char)(0xc0 | (c >> 6));
            *o++ = (char)(0x80 | (c & 0x3f));
        } else {
            o = json_escape_one(o, c);
        }
        i = j + 1;
    }
    if (ellipsis) {
        memcpy(o, "...", 3);
        o += 3;
    }
    *o++ = '"';
    b->len = o - b->p;
    return 0;
}

/* 1: written; 0: not a str this module writes (the caller falls back); -1: error set. */
static int json_str(Buf *b, PyObject *s) {
    if (!PyUnicode_CheckExact(s)) return 0;
    Py_ssize_t n;
    const char *u = PyUnicode_AsUTF8AndSize(s, &n);
    if (u == NULL) {   /* a lone surrogate: orjson refuses it too; Python decides */
        PyErr_Clear();
        return 0;
    }
    return json_utf8(b, (const unsigned char *)u, n) < 0 ? -1 : 1;
}

static int json_str_or_null(Buf *b, PyObject *s) {
    if (s == Py_None) return PUTS(b, "null") < 0 ? -1 : 1;
    return json_str(b, s);
}

/* round(v * 1000, 3) as orjson prints it (v * 1000 when v is 0). */
static int put_ms(Buf *b, double v) {
    double x = v * 1000.0;
    char tmp[64];
    int n;
    if (!(x > -1e9 && x < 1e9)) return 0;   /* NaN, inf, or where the formats could differ */
    if (v == 0.0) return put(b, signbit(x) ? "-0.0" : "0.0", signbit(x) ? 4 : 3) < 0 ? -1 : 1;
    /* thousandths, rounded half to even on x's exact value as round() does: t carries at
     * most half an ulp of error (under 1e-7 here), so only a t within 1e-6 of a tie could
     * round otherwise, and those take the exact (slow) path */
    double t = x * 1000.0, fl = floor(t), frac = t - fl;
    if (x > 0 && x < 1e7 && fabs(frac - 0.5) > 1e-6) {
        unsigned long long r = (unsigned long long)fl + (frac > 0.5);
        unsigned long long ip = r / 1000, fp = r % 1000;
        char *end = tmp + sizeof tmp, *p;
        if (fp == 0) {
            p = end;
            *--p = '0';
        } else {
            int k = 3;
            while (fp % 10 == 0) {
                fp /= 10;
                k--;
            }
            p = end;
            for (int i = 0; i < k; i++) {
                *--p = (char)('0' + fp % 10);
                fp /= 10;
            }
        }
        *--p = '.';
        p = digits(p, ip);
        return put(b, p, end - p) < 0 ? -1 : 1;
    }
    n = snprintf(tmp, sizeof tmp, "%.3f", x);   /* correctly rounded, like round() */
    while (tmp[n - 1] == '0' && tmp[n - 2] != '.') n--;
    return put(b, tmp, n) < 0 ? -1 : 1;
}

/* ---- access-log escapers (bastion.observe.accesslog), over UTF-8 bytes -------------- */

enum { ESC_JSON, ESC_XML, ESC_CSV, ESC_CLF };

static inline int is_ctrl(unsigned char c) { return c < 32 || c == 127; }

static char *put_u(char *o, unsigned char c) {
    *o++ = '\\'; *o++ = 'u'; *o++ = '0'; *o++ = '0';
    *o++ = HEX[c >> 4]; *o++ = HEX[c & 15];
    return o;
}

/* escape(s) for a non-empty string, as the template's syntax does it */
static int esc_put(Buf *b, int esc, const unsigned char *s, Py_ssize_t n) {
    if (reserve(b, n * 6 + 2) < 0) return -1;
    char *o = b->p + b->len;
    Py_ssize_t i;
    switch (esc) {
    case ESC_JSON:
        for (i = 0; i < n; i++) {
            unsigned char c = s[i];
            if (c == '"' || c == '\\') { *o++ = '\\'; *o++ = (char)c; }
            else if (is_ctrl(c)) o = put_u(o, c);
            else *o++ = (char)c;
        }
        break;
    case ESC_CLF:
        for (i = 0; i < n; i++) {
            unsigned char c = s[i];
            if (c == '"') { *o++ = '\\'; *o++ = '"'; }
            else if (is_ctrl(c)) o = put_u(o, c);
            else *o++ = (char)c;
        }
        break;
    case ESC_XML:
        for (i = 0; i < n; i++) {
            unsigned char c = s[i];
            const char *ent = NULL;
            if (c == '&') ent = "&amp;";
            else if (c == '<') ent = "&lt;";
            else if (c == '>') ent = "&gt;";
            else if (c == '"') ent = "&quot;";
            if (ent != NULL) { size_t k = strlen(ent); memcpy(o, ent, k); o += k; }
            else if (is_ctrl(c)) o = put_u(o, c);
            else *o++ = (char)c;
        }
        break;
    default: { /* CSV: controls first, then quote the field if it holds , or " */
        int quote = 0;
        for (i = 0; i < n; i++)
            if (s[i] == ',' || s[i] == '"') { quote = 1; break; }
        if (quote) *o++ = '"';
        for (i = 0; i < n; i++) {
            unsigned char c = s[i];
            if (c == '"') { *o++ = '"'; *o++ = '"'; }
            else if (is_ctrl(c)) o = put_u(o, c);
            else *o++ = (char)c;
        }
        if (quote) *o++ = '"';
    }
    }
    b->len = o - b->p;
    return 0;
}

/* ---- attribute reads ------------------------------------------------------------------ */

/* Exchange, Request, RouteMatch... are slotted dataclasses: an attribute is a member
 * descriptor at a fixed offset. PyObject_GetAttr finds it through the type's method cache on
 * every call; this remembers (type, name, version tag) -> offset and reads the slot, which is
 * what PyObject_GenericGetAttr then does. Anything else takes PyObject_GetAttr. */
typedef struct {
    PyTypeObject *type;
    PyObject *name;
    unsigned int tag;
    Py_ssize_t offset;           /* -1: not a plain object slot */
} SlotCache;

#define SLOT_CACHE 64
static SlotCache slot_cache[SLOT_CACHE];

static PyObject *getattr_fast(PyObject *obj, PyObject *name) {
    PyTypeObject *tp = Py_TYPE(obj);
    if (tp->tp_getattro != PyObject_GenericGetAttr
            || !(tp->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG))
        return PyObject_GetAttr(obj, name);
    size_t h = (((size_t)tp >> 4) ^ ((size_t)name >> 4) * 31) % SLOT_CACHE;
    SlotCache *c = &slot_cache[h];
    if (c->type != tp || c->name != name || c->tag != tp->tp_version_tag) {
        PyObject *d = _PyType_Lookup(tp, name);   /* borrowed */
        c->type = tp;   /* types and interned names outlive the cache's use of them */
        c->name = name;
        c->tag = tp->tp_version_tag;
        c->offset = -1;
        if (d != NULL && Py_IS_TYPE(d, &PyMemberDescr_Type)) {
            PyMemberDef *m = ((PyMemberDescrObject *)d)->d_member;
            if (m->type == T_OBJECT_EX && !(m->flags & PY_AUDIT_READ)) c->offset = m->offset;
        }
        if (!(tp->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG)) c->type = NULL;
    }
    if (c->offset < 0) return PyObject_GetAttr(obj, name);
    PyObject *v = *(PyObject **)((char *)obj + c->offset);
    if (v == NULL) return PyObject_GetAttr(obj, name);   /* unset: the AttributeError */
    Py_INCREF(v);
    return v;
}

/* ---- the renderer -------------------------------------------------------------------- */

/* access-log variables this module computes (bastion.observe.native.VARIABLES) */
enum {
    V_NONE, V_REQUEST_ID, V_SOURCE_IP, V_USER_AGENT, V_ID_CALLER, V_ID_USER, V_ID_USER_ARN,
    V_ID_ACCOUNT, V_ID_API_KEY_ID, V_REQUEST_TIME, V_REQUEST_TIME_EPOCH, V_HTTP_METHOD,
    V_RESOURCE_PATH, V_PATH, V_STATUS, V_PROTOCOL, V_RESPONSE_LENGTH, V_STAGE, V_DOMAIN_NAME,
    V_API_ID, V_ERROR_MESSAGE, V_ERROR_RESPONSE_TYPE, V_INTEGRATION_LATENCY,
    V_RESPONSE_LATENCY, V_PRINCIPAL_ID, V_WAF_STATUS, V_WAF_LATENCY, V_WAF_RESPONSE_CODE,
    V_WEBACL_ARN, V_AUTHORIZER_LATENCY, V_INTEGRATION_LATENCY2, V_ACCOUNT_ID, V_DOMAIN_PREFIX,
    V_ERROR_MESSAGE_STRING, V_COUNT
};

/* one (route, method, status) of allowed requests with no WAF, authorizer, label or cache
 * detail, and the GatewayMetrics series such a request moves (``GatewayMetrics.native_plan``):
 * C adds to them in place, in the order and with the float operations of
 * ``GatewayMetrics.observe``, so the numbers are the same to the bit */
#define MAX_SERIES 64
typedef struct {
    PyObject *resource;          /* NULL: no route matched */
    PyObject *method;
    long long status;
    PyObject *req_key, *rule_key;   /* keys of the request and rule counters */
    PyObject *dur, *up;          /* histogram slot lists (up: NULL without a route) */
} Series;

typedef struct {
    PyObject_HEAD
    /* access log: literal[i] precedes variable[i]; literal[nvars] ends the line */
    int access;
    int escape;
    Py_ssize_t nvars;
    int *vars;
    PyObject *literals;          /* tuple of bytes, nvars + 1 */
    PyObject *stage, *api_id, *account_id, *webacl_arn;   /* str ("" for none) */
    /* WAF log */
    int waf;
    PyObject *allow_mid;         /* bytes: timestamp .. "httpRequest": of an allowed request */
    PyObject *plan;              /* fields, status -> (mid 3-tuple, inspected, groups, counted) */
    PyObject *secret_headers;    /* frozenset of lower-case bytes */
    Py_ssize_t max_value_length;
    int redact_uri, redact_method;
    PyObject *query;             /* Redactor.query */
    PyObject *queries;           /* dict: clean query str -> its JSON bytes */
    PyObject *keeps;             /* LoggingFilter.keeps or None */
    /* output */
    Buf out[2];                  /* access, waf */
    long long counts[2];
    long long day;               /* of the buffered lines */
    PyObject *sealed;            /* list of (kind index, day, bytes, lines) */
    Py_ssize_t max_bytes;
    Py_ssize_t wake_bytes;
    PyObject *wake;              /* called once when the buffers pass wake_bytes */
    int woken;
    int trace_level;             /* run(): 0 off, 1 errors, 2 info */
    PyObject *finish, *py_run;   /* run(): the Python rest, and the whole Python stage */
    int closed;                  /* render() refuses everything */
    long long rendered, dropped[2], filtered, failed, sealed_lines;
    long long clf_sec;
    char clf[40];
    Py_ssize_t clf_len;
    /* the usual request's metrics, added here (NULL plan: Python observes them) */
    PyObject *metrics_plan;      /* (route, method, status) -> series or None */
    PyObject *requests, *rules;  /* the counters' value dicts */
    Py_ssize_t nd, nu;           /* histogram bucket bounds: duration, upstream */
    double *dbounds, *ubounds;
    Series series[MAX_SERIES];
    int nseries;
} Lines;

static PyObject *S_request, *S_request_id, *S_started_at, *S_route, *S_resource_path,
    *S_identity, *S_authorizer, *S_principal, *S_labels, *S_trace, *S_interruption,
    *S_response_bytes, *S_method, *S_raw_path, *S_query_string, *S_headers, *S_raw_pairs,
    *S_client_ip, *S_http_version, *S_scheme, *S_body, *S_stage, *S_event, *S_reason,
    *S_response_type, *S_message, *S_caller, *S_user, *S_userArn, *S_accountId, *S_apiKeyId,
    *S_response_code_sent, *S_action, *S_ALLOW, *S_notes, *S_cache, *S_response, *S_status,
    *S_started_mono, *S_timings, *S_integration, *S_webacl, *S_waf, *S_crs, *S_iam, *S_cedar,
    *S_waf_log, *S__pairs;

/* what render() reads of an exchange; references owned, released by facts_clear */
typedef struct {
    PyObject *req, *request_id, *route, *resource, *identity, *authorizer, *principal,
        *labels, *trace, *why, *why_reason, *why_type, *why_message, *method, *raw_path,
        *query, *pairs, *client_ip, *version, *scheme, *body, *resp_bytes;
    double wall;
    long long body_size;
    long long response_bytes;
    const unsigned char *host, *agent;
    Py_ssize_t host_len, agent_len;
} Facts;

static void facts_clear(Facts *f) {
    Py_CLEAR(f->req); Py_CLEAR(f->request_id); Py_CLEAR(f->route); Py_CLEAR(f->resource);
    Py_CLEAR(f->identity); Py_CLEAR(f->authorizer); Py_CLEAR(f->principal);
    Py_CLEAR(f->labels); Py_CLEAR(f->trace); Py_CLEAR(f->why); Py_CLEAR(f->why_reason);
    Py_CLEAR(f->why_type); Py_CLEAR(f->why_message); Py_CLEAR(f->method);
    Py_CLEAR(f->raw_path); Py_CLEAR(f->query); Py_CLEAR(f->pairs); Py_CLEAR(f->client_ip);
    Py_CLEAR(f->version); Py_CLEAR(f->scheme); Py_CLEAR(f->body); Py_CLEAR(f->resp_bytes);
}

static int str_or_none(PyObject *o) { return o == Py_None || PyUnicode_CheckExact(o); }

#define GET(dst, obj, name) do { if (((dst) = getattr_fast((obj), (name))) == NULL) \
    return -1; } while (0)

/* 1: facts read and of the shape this module renders; 0: not (fall back); -1: error */
static int facts_read(Facts *f, PyObject *ex) {
    GET(f->req, ex, S_request);
    GET(f->request_id, ex, S_request_id);
    GET(f->route, ex, S_route);
    GET(f->identity, ex, S_identity);
    GET(f->authorizer, ex, S_authorizer);
    GET(f->principal, ex, S_principal);
    GET(f->labels, ex, S_labels);
    GET(f->trace, ex, S_trace);
    GET(f->why, ex, S_interruption);
    GET(f->resp_bytes, ex, S_response_bytes);
    PyObject *started;
    GET(started, ex, S_started_at);
    f->wall = PyFloat_AsDouble(started);
    Py_DECREF(started);
    if (f->wall == -1.0 && PyErr_Occurred()) return -1;
    if (!PyUnicode_CheckExact(f->request_id) || f->authorizer != Py_None
            || !str_or_none(f->principal) || !PyList_CheckExact(f->labels)
            || !PyList_CheckExact(f->trace) || !PyDict_CheckExact(f->identity)
            || !PyLong_CheckExact(f->resp_bytes))
        return 0;
    f->response_bytes = PyLong_AsLongLong(f->resp_bytes);
    if (f->response_bytes == -1 && PyErr_Occurred()) return -1;
    if (f->route != Py_None) {
        GET(f->resource, f->route, S_resource_path);
        if (!PyUnicode_CheckExact(f->resource)) return 0;
    }
    if (f->why != Py_None) {
        GET(f->why_reason, f->why, S_reason);
        GET(f->why_type, f->why, S_response_type);
        GET(f->why_message, f->why, S_message);
        if (!str_or_none(f->why_reason) || !str_or_none(f->why_type)
                || !str_or_none(f->why_message))
            return 0;
    }
    PyObject *req = f->req;
    GET(f->method, req, S_method);
    GET(f->raw_path, req, S_raw_path);
    GET(f->query, req, S_query_string);
    GET(f->client_ip, req, S_client_ip);
    GET(f->version, req, S_http_version);
    GET(f->scheme, req, S_scheme);
    GET(f->body, req, S_body);
    if (!PyUnicode_CheckExact(f->method) || !PyUnicode_CheckExact(f->raw_path)
            || !PyUnicode_CheckExact(f->query) || !PyUnicode_CheckExact(f->client_ip)
            || !PyUnicode_CheckExact(f->version) || !str_or_none(f->scheme))
        return 0;
    f->body_size = PyObject_Size(f->body);
    if (f->body_size < 0) return -1;
    PyObject *headers;
    GET(headers, req, S_headers);
    /* Headers._pairs once built (the proxy builds it), else Headers.raw_pairs() */
    f->pairs = getattr_fast(headers, S__pairs);
    if (f->pairs == NULL) PyErr_Clear();
    if (f->pairs == Py_None || f->pairs == NULL) {
        Py_XDECREF(f->pairs);
        f->pairs = PyObject_CallMethodNoArgs(headers, S_raw_pairs);
    }
    Py_DECREF(headers);
    if (f->pairs == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return -1;
        PyErr_Clear();   /* text that latin-1 cannot encode: Python logs it */
        return 0;
    }
    if (!PyTuple_CheckExact(f->pairs)) return 0;
    /* bytes triples with ASCII names whose lower case is the first item */
    Py_ssize_t n = PyTuple_GET_SIZE(f->pairs);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *t = PyTuple_GET_ITEM(f->pairs, i);
        if (!PyTuple_CheckExact(t) || PyTuple_GET_SIZE(t) != 3) return 0;
        PyObject *low = PyTuple_GET_ITEM(t, 0), *sent = PyTuple_GET_ITEM(t, 1),
                 *value = PyTuple_GET_ITEM(t, 2);
        if (!PyBytes_CheckExact(low) || !PyBytes_CheckExact(sent) || !PyBytes_CheckExact(value))
            return 0;
        Py_ssize_t k = PyBytes_GET_SIZE(sent);
        if (PyBytes_GET_SIZE(low) != k) return 0;
        const unsigned char *a = (const unsigned char *)PyBytes_AS_STRING(sent),
                            *l = (const unsigned char *)PyBytes_AS_STRING(low);
        for (Py_ssize_t j = 0; j < k; j++) {
            unsigned char c = a[j];
            if (c >= 0x80) return 0;
            if (c >= 'A' && c <= 'Z') c += 32;
            if (c != l[j]) return 0;
        }
        const unsigned char *v = (const unsigned char *)PyBytes_AS_STRING(value);
        if (f->host == NULL && k == 4 && memcmp(l, "host", 4) == 0) {
            f->host = v;
            f->host_len = PyBytes_GET_SIZE(value);
        } else if (f->agent == NULL && k == 10 && memcmp(l, "user-agent", 10) == 0) {
            f->agent = v;
            f->agent_len = PyBytes_GET_SIZE(value);
        }
    }
    return 1;
}

/* ---- the access line ----------------------------------------------------------------- */

/* the str value of identity[key], or NULL for None/missing; *bad when not str/None */
static PyObject *ident(Facts *f, PyObject *key, int *bad) {
    PyObject *v = PyDict_GetItemWithError(f->identity, key);
    if (v == NULL || v == Py_None) return NULL;
    if (!PyUnicode_CheckExact(v)) *bad = 1;
    return v;
}

static int put_dash(Buf *b) { return PUTS(b, "-"); }

/* escape(str) or "-" for None/""; 0 when the str cannot be written */
static int access_str(Lines *self, Buf *b, PyObject *s) {
    if (s == NULL || s == Py_None) return put_dash(b) < 0 ? -1 : 1;
    Py_ssize_t n;
    const char *u = PyUnicode_AsUTF8AndSize(s, &n);
    if (u == NULL) {
        PyErr_Clear();
        return 0;
    }
    if (n == 0) return put_dash(b) < 0 ? -1 : 1;
    return esc_put(b, self->escape, (const unsigned char *)u, n) < 0 ? -1 : 1;
}

/* escape(prefix + s + suffix): values the getters build around a str */
static int access_wrapped(Lines *self, Buf *b, const char *prefix, PyObject *s,
                          const char *suffix) {
    Py_ssize_t n, k = (Py_ssize_t)strlen(prefix), m = (Py_ssize_t)strlen(suffix);
    const char *u = PyUnicode_AsUTF8AndSize(s, &n);
    if (u == NULL) {
        PyErr_Clear();
        return 0;
    }
    char *tmp = PyMem_Malloc((size_t)(k + n + m) + 1);
    if (tmp == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(tmp, prefix, (size_t)k);
    memcpy(tmp + k, u, (size_t)n);
    memcpy(tmp + k + n, suffix, (size_t)m);
    int rc = esc_put(b, self->escape, (const unsigned char *)tmp, k + n + m) < 0 ? -1 : 1;
    PyMem_Free(tmp);
    return rc;
}

/* a latin-1 header value (its UTF-8), escaped; "-" when absent or empty */
static int access_latin1(Lines *self, Buf *b, const unsigned char *s, Py_ssize_t n) {
    if (s == NULL || n == 0) return put_dash(b) < 0 ? -1 : 1;
    char stack[512];
    char *tmp = n * 2 <= (Py_ssize_t)sizeof stack ? stack : PyMem_Malloc((size_t)n * 2);
    if (tmp == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t m = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c >= 0x80) {
            tmp[m++] = (char)(0xc0 | (c >> 6));
            tmp[m++] = (char)(0x80 | (c & 0x3f));
        } else {
            tmp[m++] = (char)c;
        }
    }
    int rc = esc_put(b, self->escape, (const unsigned char *)tmp, m) < 0 ? -1 : 1;
    if (tmp != stack) PyMem_Free(tmp);
    return rc;
}

static int access_ms(Buf *b, double v, int none_when_zero) {
    if (none_when_zero && v == 0.0) return put_dash(b) < 0 ? -1 : 1;
    double x = v * 1000.0;
    if (!(x > -9e18 && x < 9e18)) return 0;
    return put_ll(b, (long long)x) < 0 ? -1 : 1;
}

static int clf_time(Lines *self, double wall) {
    static const char *months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug",
                                   "Sep", "Oct", "Nov", "Dec"};
    long long sec = (long long)wall;
    if (sec == self->clf_sec) return 0;
    time_t t = (time_t)sec;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 1000)
        return -1;
    self->clf_len = snprintf(self->clf, sizeof self->clf, "%02d/%s/%d:%02d:%02d:%02d +0000",
                             tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
                             tm.tm_min, tm.tm_sec);
    self->clf_sec = sec;
    return 0;
}

static int render_access(Lines *self, Buf *b, Facts *f, long long status, double total,
                         double integration, double waf_s, double auth_s, PyObject *waf_log) {
    PyObject *lits = self->literals;
    for (Py_ssize_t i = 0; i < self->nvars; i++) {
        if (put_bytes(b, PyTuple_GET_ITEM(lits, i)) < 0) return -1;
        int rc, bad = 0;
        PyObject *v;
        switch (self->vars[i]) {
        case V_NONE: rc = put_dash(b) < 0 ? -1 : 1; break;
        case V_REQUEST_ID: rc = access_str(self, b, f->request_id); break;
        case V_SOURCE_IP: rc = access_str(self, b, f->client_ip); break;
        case V_USER_AGENT: rc = access_latin1(self, b, f->agent, f->agent_len); break;
        case V_ID_CALLER: case V_ID_USER: case V_ID_USER_ARN: case V_ID_ACCOUNT:
        case V_ID_API_KEY_ID: {
            int k = self->vars[i];
            PyObject *key = k == V_ID_CALLER ? S_caller : k == V_ID_USER ? S_user
                : k == V_ID_USER_ARN ? S_userArn : k == V_ID_ACCOUNT ? S_accountId : S_apiKeyId;
            v = ident(f, key, &bad);
            if (v == NULL && PyErr_Occurred()) return -1;
            rc = bad ? 0 : access_str(self, b, v);
            break;
        }
        case V_REQUEST_TIME:
            if (clf_time(self, f->wall) < 0) return 0;
            rc = esc_put(b, self->escape, (const unsigned char *)self->clf, self->clf_len) < 0
                ? -1 : 1;
            break;
        case V_REQUEST_TIME_EPOCH: rc = access_ms(b, f->wall, 0); break;
        case V_HTTP_METHOD: rc = access_str(self, b, f->method); break;
        case V_RESOURCE_PATH: rc = access_str(self, b, f->resource); break;
        case V_PATH: rc = access_str(self, b, f->raw_path); break;
        case V_STATUS: rc = put_ll(b, status) < 0 ? -1 : 1; break;
        case V_PROTOCOL:
            rc = access_wrapped(self, b, "HTTP/", f->version, "");
            break;
        case V_RESPONSE_LENGTH: rc = put_ll(b, f->response_bytes) < 0 ? -1 : 1; break;
        case V_STAGE: rc = access_str(self, b, self->stage); break;
        case V_DOMAIN_NAME: rc = access_latin1(self, b, f->host, f->host_len); break;
        case V_API_ID: rc = access_str(self, b, self->api_id); break;
        case V_ERROR_MESSAGE: rc = access_str(self, b, f->why_message); break;
        case V_ERROR_RESPONSE_TYPE: rc = access_str(self, b, f->why_type); break;
        case V_INTEGRATION_LATENCY: case V_INTEGRATION_LATENCY2:
            rc = access_ms(b, integration, 0); break;
        case V_RESPONSE_LATENCY: rc = access_ms(b, total, 0); break;
        case V_PRINCIPAL_ID: rc = access_str(self, b, f->principal); break;
        case V_WAF_STATUS:
            if (waf_log == Py_None) {
                rc = put_dash(b) < 0 ? -1 : 1;
            } else {
                v = PyDict_GetItemWithError(waf_log, S_response_code_sent);
                if (v == NULL && PyErr_Occurred()) return -1;
                if (v == NULL || v == Py_None) rc = put_dash(b) < 0 ? -1 : 1;
                else if (!PyLong_CheckExact(v)) rc = 0;
                else {
                    long long code = PyLong_AsLongLong(v);
                    if (code == -1 && PyErr_Occurred()) return -1;
                    rc = put_ll(b, code) < 0 ? -1 : 1;
                }
            }
            break;
        case V_WAF_LATENCY: rc = access_ms(b, waf_s, 1); break;
        case V_AUTHORIZER_LATENCY: rc = access_ms(b, auth_s, 1); break;
        case V_WAF_RESPONSE_CODE:
            if (waf_log == Py_None) {
                rc = put_dash(b) < 0 ? -1 : 1;
            } else {
                v = PyDict_GetItemWithError(waf_log, S_action);
                if (v == NULL && PyErr_Occurred()) return -1;
                int allow = v == NULL;
                if (!allow) {
                    allow = PyObject_RichCompareBool(v, S_ALLOW, Py_EQ);
                    if (allow < 0) return -1;
                }
                rc = (allow ? PUTS(b, "WAF_ALLOW") : PUTS(b, "WAF_BLOCK")) < 0 ? -1 : 1;
            }
            break;
        case V_WEBACL_ARN:
            rc = access_str(self, b, waf_log == Py_None ? NULL : self->webacl_arn); break;
        case V_ACCOUNT_ID: rc = access_str(self, b, self->account_id); break;
        case V_DOMAIN_PREFIX: {
            Py_ssize_t n = 0;
            if (f->host != NULL)
                while (n < f->host_len && f->host[n] != '.') n++;
            rc = access_latin1(self, b, f->host, n);
            break;
        }
        case V_ERROR_MESSAGE_STRING:
            rc = f->why_message == NULL || f->why_message == Py_None
                ? (put_dash(b) < 0 ? -1 : 1)
                : access_wrapped(self, b, "\"", f->why_message, "\"");
            break;
        default: rc = 0;
        }
        if (rc <= 0) return rc;
    }
    if (put_bytes(b, PyTuple_GET_ITEM(lits, self->nvars)) < 0) return -1;
    return PUTS(b, "\n") < 0 ? -1 : 1;
}

/* ---- the WAF line -------------------------------------------------------------------- */

static int put_headers(Lines *self, Buf *b, PyObject *pairs) {
    if (PUTS(b, "[") < 0) return -1;
    Py_ssize_t n = PyTuple_GET_SIZE(pairs);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *t = PyTuple_GET_ITEM(pairs, i);
        PyObject *low = PyTuple_GET_ITEM(t, 0), *sent = PyTuple_GET_ITEM(t, 1),
                 *value = PyTuple_GET_ITEM(t, 2);
        if (i && PUTS(b, ",") < 0) return -1;
        if (PUTS(b, "{\"name\":") < 0
                || json_latin1(b, (const unsigned char *)PyBytes_AS_STRING(sent),
                               PyBytes_GET_SIZE(sent), 0) < 0
                || PUTS(b, ",\"value\":") < 0)
            return -1;
        int secret = PySet_Contains(self->secret_headers, low);
        if (secret < 0) return -1;
        if (secret) {
            if (PUTS(b, "\"REDACTED\"}") < 0) return -1;
            continue;
        }
        Py_ssize_t len = PyBytes_GET_SIZE(value);
        int cut = len > self->max_value_length;
        if (json_latin1(b, (const unsigned char *)PyBytes_AS_STRING(value),
                        cut ? self->max_value_length : len, cut) < 0
                || PUTS(b, "}") < 0)
            return -1;
    }
    return PUTS(b, "]");
}

static int put_query(Lines *self, Buf *b, PyObject *qs) {
    PyObject *line = PyDict_GetItemWithError(self->queries, qs);
    if (line != NULL) return put_bytes(b, line) < 0 ? -1 : 1;
    if (PyErr_Occurred()) return -1;
    PyObject *red = PyObject_CallOneArg(self->query, qs);
    if (red == NULL) return -1;
    Buf tmp = {NULL, 0, 0};
    int rc = json_str(&tmp, red);
    if (rc == 1) {
        line = buf_detach(&tmp);
        if (line == NULL) rc = -1;
    }
    buf_free(&tmp);
    if (rc == 1) {
        /* only what needed no redaction is remembered: no secret in the key */
        if (red == qs) {
            if (PyDict_GET_SIZE(self->queries) >= 4096) PyDict_Clear(self->queries);
            if (PyDict_SetItem(self->queries, qs, line) < 0) rc = -1;
        }
        if (rc == 1 && put_bytes(b, line) < 0) rc = -1;
        Py_DECREF(line);
    }
    Py_DECREF(red);
    return rc;
}

static int render_waf(Lines *self, Buf *b, Facts *f, long long status, double total,
                      double integration, double waf_s, double auth_s, PyObject *waf_log) {
    PyObject *plan = NULL, *mid0, *mid1, *mid2, *groups = NULL, *counted = NULL;
    long long inspected = f->body_size;
    int rc = 0;
    if (waf_log != Py_None && PyDict_GET_SIZE(waf_log) > 0) {
        plan = PyObject_CallFunction(self->plan, "OL", waf_log, status);
        if (plan == NULL) return -1;
        if (plan == Py_None || !PyTuple_CheckExact(plan) || PyTuple_GET_SIZE(plan) != 4)
            goto done;
        PyObject *mid = PyTuple_GET_ITEM(plan, 0), *insp = PyTuple_GET_ITEM(plan, 1);
        groups = PyTuple_GET_ITEM(plan, 2);
        counted = PyTuple_GET_ITEM(plan, 3);
        if (!PyTuple_CheckExact(mid) || PyTuple_GET_SIZE(mid) != 3
                || !PyBytes_CheckExact(groups) || !PyBytes_CheckExact(counted))
            goto done;
        mid0 = PyTuple_GET_ITEM(mid, 0);
        mid1 = PyTuple_GET_ITEM(mid, 1);
        mid2 = PyTuple_GET_ITEM(mid, 2);
        if (!PyBytes_CheckExact(mid0) || !PyBytes_CheckExact(mid1) || !PyBytes_CheckExact(mid2))
            goto done;
        if (insp != Py_None) {
            if (!PyLong_CheckExact(insp)) goto done;
            inspected = PyLong_AsLongLong(insp);
            if (inspected == -1 && PyErr_Occurred()) { rc = -1; goto done; }
        }
    }
    rc = -1;
    if (PUTS(b, "{\"timestamp\":") < 0 || put_ll(b, (long long)(f->wall * 1000.0)) < 0)
        goto done;
    if (plan == NULL) {
        if (put_bytes(b, self->allow_mid) < 0) goto done;
    } else if (put_bytes(b, mid0) < 0 || put_bytes(b, groups) < 0 || put_bytes(b, mid1) < 0
               || put_bytes(b, counted) < 0 || put_bytes(b, mid2) < 0
               || PUTS(b, ",\"httpRequest\":{\"clientIp\":") < 0) {
        goto done;
    }
    if ((rc = json_str(b, f->client_ip)) != 1) goto done;
    rc = -1;
    if (PUTS(b, ",\"country\":\"-\",\"headers\":") < 0 || put_headers(self, b, f->pairs) < 0
            || PUTS(b, ",\"uri\":") < 0)
        goto done;
    if (self->redact_uri) {
        if (PUTS(b, "\"REDACTED\"") < 0) goto done;
    } else if ((rc = json_str(b, f->raw_path)) != 1) {
        goto done;
    }
    rc = -1;
    if (PUTS(b, ",\"args\":") < 0) goto done;
    if ((rc = put_query(self, b, f->query)) != 1) goto done;
    rc = -1;
    if (PUTS(b, ",\"httpVersion\":") < 0) goto done;
    {
        Py_ssize_t n;
        const char *u = PyUnicode_AsUTF8AndSize(f->version, &n);
        if (u == NULL) { PyErr_Clear(); rc = 0; goto done; }
        if (json_utf8_prefixed(b, "HTTP/", (const unsigned char *)u, n) < 0) goto done;
    }
    if (PUTS(b, ",\"httpMethod\":") < 0) goto done;
    if (self->redact_method) {
        if (PUTS(b, "\"REDACTED\"") < 0) goto done;
    } else if ((rc = json_str(b, f->method)) != 1) {
        goto done;
    }
    rc = -1;
    if (PUTS(b, ",\"requestId\":") < 0) goto done;
    if ((rc = json_str(b, f->request_id)) != 1) goto done;
    rc = -1;
    if (f->scheme != Py_None) {
        if (PUTS(b, ",\"scheme\":") < 0) goto done;
        if ((rc = json_str(b, f->scheme)) != 1) goto done;
        rc = -1;
    }
    if (f->host != NULL) {
        if (PUTS(b, ",\"host\":") < 0 || json_latin1(b, f->host, f->host_len, 0) < 0) goto done;
    }
    if (PUTS(b, "},\"labels\":[") < 0) goto done;
    Py_ssize_t nl = PyList_GET_SIZE(f->labels);
    for (Py_ssize_t i = 0; i < nl && i < 100; i++) {   /* waflog.MAX_LABELS */
        if ((i && PUTS(b, ",") < 0) || PUTS(b, "{\"name\":") < 0) goto done;
        if ((rc = json_str(b, PyList_GET_ITEM(f->labels, i))) != 1) goto done;
        rc = -1;
        if (PUTS(b, "}") < 0) goto done;
    }
    if (PUTS(b, "],\"requestBodySize\":") < 0 || put_ll(b, f->body_size) < 0
            || PUTS(b, ",\"requestBodySizeInspectedByWAF\":") < 0 || put_ll(b, inspected) < 0
            || PUTS(b, ",\"bastion\":{\"route\":") < 0)
        goto done;
    if (f->resource == NULL) {
        if (PUTS(b, "\"UNMATCHED\"") < 0) goto done;
    } else if ((rc = json_str(b, f->resource)) != 1) {
        goto done;
    }
    rc = -1;
    if (PUTS(b, ",\"status\":") < 0 || put_ll(b, status) < 0
            || PUTS(b, ",\"latencyMs\":{\"total\":") < 0)
        goto done;
    const char *keys[] = {",\"waf\":", ",\"auth\":", ",\"integration\":"};
    double vals[] = {total, waf_s, auth_s, integration};
    for (int i = 0; i < 4; i++) {
        if (i && put(b, keys[i - 1], (Py_ssize_t)strlen(keys[i - 1])) < 0) goto done;
        if ((rc = put_ms(b, vals[i])) != 1) goto done;
        rc = -1;
    }
    Py_ssize_t nt = f->trace == NULL ? 0 : PyList_GET_SIZE(f->trace);
    if (f->principal == Py_None && f->why == Py_None && nt == 0) {
        if (PUTS(b, "},\"principal\":null,\"authorizer\":null,\"reason\":null,"
                    "\"responseType\":null,\"trace\":[]}}\n") < 0)
            goto done;
        rc = 1;
        goto done;
    }
    if (PUTS(b, "},\"principal\":") < 0) goto done;
    if ((rc = json_str_or_null(b, f->principal)) != 1) goto done;
    rc = -1;
    if (PUTS(b, ",\"authorizer\":null,\"reason\":") < 0) goto done;
    if ((rc = json_str_or_null(b, f->why == Py_None ? Py_None : f->why_reason)) != 1)
        goto done;
    rc = -1;
    if (PUTS(b, ",\"responseType\":") < 0) goto done;
    if ((rc = json_str_or_null(b, f->why == Py_None ? Py_None : f->why_type)) != 1) goto done;
    rc = -1;
    if (PUTS(b, ",\"trace\":[") < 0) goto done;
    for (Py_ssize_t i = 0; i < nt && i < 50; i++) {
        PyObject *ev = PyList_GET_ITEM(f->trace, i), *st = NULL, *evt = NULL;
        if ((st = getattr_fast(ev, S_stage)) == NULL
                || (evt = getattr_fast(ev, S_event)) == NULL) {
            Py_XDECREF(st);
            goto done;
        }
        int ok = (i == 0 || PUTS(b, ",") == 0) && PUTS(b, "{\"stage\":") == 0;
        rc = ok ? json_str(b, st) : -1;
        if (rc == 1) rc = PUTS(b, ",\"event\":") < 0 ? -1 : json_str(b, evt);
        Py_DECREF(st);
        Py_DECREF(evt);
        if (rc != 1) goto done;
        rc = -1;
        if (PUTS(b, "}") < 0) goto done;
    }
    rc = PUTS(b, "]}}\n") < 0 ? -1 : 1;
done:
    Py_XDECREF(plan);
    return rc;
}

/* ---- Lines methods ------------------------------------------------------------------- */

static int seal(Lines *self) {
    for (int k = 0; k < 2; k++) {
        if (self->counts[k] == 0) continue;
        /* the index among the enabled outputs: the WAF line is the only one without access */
        PyObject *lines = buf_detach(&self->out[k]);
        PyObject *item = lines == NULL ? NULL : Py_BuildValue(
            "(iLNL)", self->access ? k : 0, self->day, lines, self->counts[k]);
        if (item == NULL) return -1;
        int rc = PyList_Append(self->sealed, item);
        Py_DECREF(item);
        if (rc < 0) return -1;
        self->sealed_lines += self->counts[k];
        self->counts[k] = 0;
    }
    return 0;
}

/* ---- metrics ----------------------------------------------------------------------- */

/* bisect.bisect_left(bounds, v) */
static Py_ssize_t bucket(const double *bounds, Py_ssize_t n, double v) {
    Py_ssize_t lo = 0, hi = n;
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi) / 2;
        if (bounds[mid] < v) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static void series_clear(Series *s) {
    Py_CLEAR(s->resource);
    Py_CLEAR(s->method);
    Py_CLEAR(s->req_key);
    Py_CLEAR(s->rule_key);
    Py_CLEAR(s->dur);
    Py_CLEAR(s->up);
}

/* list[i] += amount, as Python's ``slots[i] += amount`` */
static int slot_add(PyObject *list, Py_ssize_t i, double amount) {
    PyObject *old = PyList_GET_ITEM(list, i);
    if (!PyFloat_CheckExact(old)) return 0;
    PyObject *v = PyFloat_FromDouble(PyFloat_AS_DOUBLE(old) + amount);
    if (v == NULL) return -1;
    PyList_SET_ITEM(list, i, v);
    Py_DECREF(old);
    return 1;
}

/* d[key] = d.get(key, 0.0) + 1.0 */
static int count_one(PyObject *d, PyObject *key) {
    PyObject *old = PyDict_GetItemWithError(d, key);
    if (old == NULL && PyErr_Occurred()) return -1;
    if (old != NULL && !PyFloat_CheckExact(old)) return 0;
    PyObject *v = PyFloat_FromDouble((old == NULL ? 0.0 : PyFloat_AS_DOUBLE(old)) + 1.0);
    if (v == NULL) return -1;
    int rc = PyDict_SetItem(d, key, v);
    Py_DECREF(v);
    return rc < 0 ? -1 : 1;
}

/* the series of (resource, method, status): from the table, else from the plan callback */
static int find_series(Lines *self, Facts *f, long long status, Series **out) {
    for (int i = 0; i < self->nseries; i++) {
        Series *c = &self->series[i];
        if (c->status != status) continue;
        if (c->resource != f->resource) {
            if (c->resource == NULL || f->resource == NULL) continue;
            int eq = PyUnicode_Compare(c->resource, f->resource);
            if (eq == -1 && PyErr_Occurred()) return -1;
            if (eq != 0) continue;
        }
        if (c->method != f->method) {
            int eq = PyUnicode_Compare(c->method, f->method);
            if (eq == -1 && PyErr_Occurred()) return -1;
            if (eq != 0) continue;
        }
        *out = c;
        return 1;
    }
    if (self->nseries == MAX_SERIES) return 0;
    PyObject *plan = PyObject_CallFunction(self->metrics_plan, "OOL",
                                           f->resource == NULL ? Py_None : f->resource,
                                           f->method, status);
    if (plan == NULL) return -1;
    PyObject *req, *dur, *rule, *up;
    if (plan == Py_None || !PyTuple_CheckExact(plan) || PyTuple_GET_SIZE(plan) != 4) {
        Py_DECREF(plan);   /* capped: GatewayMetrics counts the request itself */
        return 0;
    }
    req = PyTuple_GET_ITEM(plan, 0);
    dur = PyTuple_GET_ITEM(plan, 1);
    rule = PyTuple_GET_ITEM(plan, 2);
    up = PyTuple_GET_ITEM(plan, 3);
    if (!PyList_CheckExact(dur) || PyList_GET_SIZE(dur) != self->nd + 2
            || (up != Py_None && (!PyList_CheckExact(up) || PyList_GET_SIZE(up) != self->nu + 2))
            || (f->resource != NULL && up == Py_None)) {
        /* the route's upstream series is not made yet (or capped): GatewayMetrics decides */
        Py_DECREF(plan);
        return 0;
    }
    Series *s = &self->series[self->nseries++];
    Py_XINCREF(f->resource); s->resource = f->resource;
    Py_INCREF(f->method); s->method = f->method;
    s->status = status;
    Py_INCREF(req); s->req_key = req;
    Py_INCREF(rule); s->rule_key = rule;
    Py_INCREF(dur); s->dur = dur;
    s->up = NULL;
    if (f->resource != NULL) {
        Py_INCREF(up);
        s->up = up;
    }
    Py_DECREF(plan);
    *out = s;
    return 1;
}

/* 1: the request's metrics are counted here; 0: they are not of that shape (or the series
 * is capped), GatewayMetrics.observe takes them; -1: error */
static int count_metrics(Lines *self, PyObject *ex, Facts *f, long long status, double total,
                         double integration, double waf_s, PyObject *waf_log) {
    if (self->metrics_plan == NULL || waf_s != 0.0 || PyList_GET_SIZE(f->labels) != 0
            || (waf_log != Py_None && PyDict_GET_SIZE(waf_log) != 0))
        return 0;
    if (f->route != Py_None) {   /* route.route.authorizer */
        PyObject *r = getattr_fast(f->route, S_route);
        if (r == NULL) return -1;
        PyObject *a = getattr_fast(r, S_authorizer);
        Py_DECREF(r);
        if (a == NULL) return -1;
        int none = a == Py_None;
        Py_DECREF(a);
        if (!none) return 0;
    }
    PyObject *notes = getattr_fast(ex, S_notes);
    if (notes == NULL) return -1;
    if (!PyDict_CheckExact(notes)) {
        Py_DECREF(notes);
        return 0;
    }
    PyObject *cache = PyDict_GetItemWithError(notes, S_cache);
    Py_DECREF(notes);
    if (cache != NULL && cache != Py_None) return 0;
    if (cache == NULL && PyErr_Occurred()) return -1;
    Series *s = NULL;
    int rc = find_series(self, f, status, &s);
    if (rc != 1) return rc;
    /* GatewayMetrics.observe's order: request counter, duration, rule counter, upstream */
    if ((rc = count_one(self->requests, s->req_key)) != 1) return rc;
    if ((rc = slot_add(s->dur, bucket(self->dbounds, self->nd, total), 1.0)) != 1
            || (rc = slot_add(s->dur, self->nd + 1, total)) != 1)
        return rc;
    if ((rc = count_one(self->rules, s->rule_key)) != 1) return rc;
    if (s->up != NULL
            && ((rc = slot_add(s->up, bucket(self->ubounds, self->nu, integration), 1.0)) != 1
                || (rc = slot_add(s->up, self->nu + 1, integration)) != 1))
        return rc;
    return 1;
}

/* ts // 86400 as Python computes it for floats (float_floor_div) */
static long long day_of(double wall) {
    double mod = fmod(wall, 86400.0), div = (wall - mod) / 86400.0;
    if (mod && (mod < 0)) div -= 1.0;
    double fl = floor(div);
    if (div - fl > 0.5) fl += 1.0;
    return (long long)fl;
}

/* the buffers hold one day's lines: seal them when a line of another day comes */
static int switch_day(Lines *self, long long day) {
    if (day != self->day && (self->counts[0] || self->counts[1]) && seal(self) < 0) return -1;
    self->day = day;
    return 0;
}

/* after lines were appended past mark: keep them (counted) or drop them when over the bound */
static int settle(Lines *self, const Py_ssize_t mark[2], int access, int waf) {
    if (self->out[0].len + self->out[1].len > self->max_bytes) {
        /* the writer is behind: this request's lines are dropped and counted, never queued */
        self->out[0].len = mark[0];
        self->out[1].len = mark[1];
        self->dropped[0] += access;
        self->dropped[1] += waf;
        return 0;
    }
    self->counts[0] += access;
    self->counts[1] += waf;
    self->rendered += access + waf;
    if (!self->woken && self->out[0].len + self->out[1].len >= self->wake_bytes
            && self->wake != Py_None) {
        self->woken = 1;
        PyObject *r = PyObject_CallNoArgs(self->wake);
        if (r == NULL) return -1;
        Py_DECREF(r);
    }
    return 0;
}

/* Metrics without log lines need only the route, the method and the labels. */
static int metrics_only(Lines *self, PyObject *ex, long long status, double total,
                        double integration, double waf_s, PyObject *waf_log) {
    Facts f;
    memset(&f, 0, sizeof f);
    int rc = -1;
    if ((f.route = getattr_fast(ex, S_route)) == NULL
            || (f.labels = getattr_fast(ex, S_labels)) == NULL
            || (f.req = getattr_fast(ex, S_request)) == NULL
            || (f.method = getattr_fast(f.req, S_method)) == NULL)
        goto done;
    rc = 0;
    if (!PyList_CheckExact(f.labels) || !PyUnicode_CheckExact(f.method)) goto done;
    if (f.route != Py_None) {
        if ((f.resource = getattr_fast(f.route, S_resource_path)) == NULL) {
            rc = -1;
            goto done;
        }
        if (!PyUnicode_CheckExact(f.resource)) goto done;
    }
    rc = count_metrics(self, ex, &f, status, total, integration, waf_s, waf_log);
    if (rc == 1) rc = 2;
done:
    facts_clear(&f);
    return rc;
}

/* 0, 1 or 2 as render() returns them; -1 on error */
static int render_core(Lines *self, PyObject *ex, long long status, double total,
                       double integration, double waf_s, double auth_s, PyObject *waf_log,
                       int with_trace) {
    if (self->closed || (waf_log != Py_None && !PyDict_CheckExact(waf_log))) return 0;
    if (!self->access && !self->waf)
        return metrics_only(self, ex, status, total, integration, waf_s, waf_log);
    Facts f;
    memset(&f, 0, sizeof f);
    int rc = facts_read(&f, ex);
    if (rc == 1 && !with_trace) Py_CLEAR(f.trace);
    if (rc == 1 && !(f.wall >= 0.0 && f.wall < 253402300800.0)) rc = 0;   /* years 1970-9999 */
    if (rc == 1 && switch_day(self, day_of(f.wall)) < 0) rc = -1;
    Py_ssize_t mark[2] = {self->out[0].len, self->out[1].len};
    int keep = 1;
    if (rc == 1 && self->waf && self->keeps != Py_None) {
        PyObject *labels = PyList_AsTuple(f.labels);
        PyObject *r = labels == NULL ? NULL : PyObject_CallFunctionObjArgs(
            self->keeps, waf_log, labels, NULL);
        Py_XDECREF(labels);
        keep = r == NULL ? -1 : PyObject_IsTrue(r);
        Py_XDECREF(r);
        if (keep < 0) rc = -1;
    }
    if (rc == 1 && self->access)
        rc = render_access(self, &self->out[0], &f, status, total, integration, waf_s, auth_s,
                           waf_log);
    if (rc == 1 && self->waf && keep)
        rc = render_waf(self, &self->out[1], &f, status, total, integration, waf_s, auth_s,
                        waf_log);
    int counted = 0;
    if (rc == 1) {
        counted = count_metrics(self, ex, &f, status, total, integration, waf_s, waf_log);
        if (counted < 0) rc = -1;
    }
    facts_clear(&f);
    if (rc != 1) {   /* nothing half-written stays */
        self->out[0].len = mark[0];
        self->out[1].len = mark[1];
        return rc;
    }
    if (settle(self, mark, self->access, self->waf && keep) < 0) return -1;
    if (self->waf && !keep) self->filtered++;
    return counted ? 2 : 1;
}

static PyObject *Lines_render(Lines *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 8) {
        PyErr_SetString(PyExc_TypeError, "render(ex, status, total, integration_s, waf_s, "
                                         "auth_s, waf_log, with_trace)");
        return NULL;
    }
    if (!PyLong_CheckExact(args[1]) || !PyFloat_CheckExact(args[2])
            || !PyFloat_CheckExact(args[3]) || !PyFloat_CheckExact(args[4])
            || !PyFloat_CheckExact(args[5]))
        return PyLong_FromLong(0);
    long long status = PyLong_AsLongLong(args[1]);
    if (status == -1 && PyErr_Occurred()) return NULL;
    int with_trace = PyObject_IsTrue(args[7]);
    if (with_trace < 0) return NULL;
    int rc = render_core(self, args[0], status, PyFloat_AS_DOUBLE(args[2]),
                         PyFloat_AS_DOUBLE(args[3]), PyFloat_AS_DOUBLE(args[4]),
                         PyFloat_AS_DOUBLE(args[5]), args[6], with_trace);
    return rc < 0 ? NULL : PyLong_FromLong(rc);
}

/* timings.get(key, 0.0); 0 when the value is not a float */
static int timing(PyObject *t, PyObject *key, double *out) {
    PyObject *v = PyDict_GetItemWithError(t, key);
    if (v == NULL) {
        if (PyErr_Occurred()) return -1;
        *out = 0.0;
        return 1;
    }
    if (!PyFloat_CheckExact(v)) return 0;
    *out = PyFloat_AS_DOUBLE(v);
    return 1;
}

static PyObject *Lines_run(Lines *self, PyObject *ex) {
    if (self->finish == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "run() needs bind_stage()");
        return NULL;
    }
    PyObject *resp = NULL, *status_obj = NULL, *mono = NULL, *t = NULL, *notes = NULL,
             *waf_log = NULL, *why = NULL, *out = NULL;
    long long status = 0;
    double total = 0, integration = 0, waf_s = 0, auth_s = 0;
    int with_trace = 0, rc = 0;
    /* LoggingStage.run's values, computed as it computes them */
    if ((resp = getattr_fast(ex, S_response)) == NULL) goto error;
    if (resp == Py_None) {
        status_obj = PyLong_FromLong(0);
    } else {
        status_obj = getattr_fast(resp, S_status);
    }
    if (status_obj == NULL) goto error;
    if (!PyLong_CheckExact(status_obj)) goto python;
    status = PyLong_AsLongLong(status_obj);
    if (status == -1 && PyErr_Occurred()) goto error;
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) goto python;
    long long ns = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    /* time.monotonic(): _PyTime_AsSecondsDouble */
    double now = ns % 1000000000LL == 0 ? (double)(ns / 1000000000LL) : (double)ns / 1e9;
    if ((mono = getattr_fast(ex, S_started_mono)) == NULL) goto error;
    if (!PyFloat_CheckExact(mono)) goto python;
    total = now - PyFloat_AS_DOUBLE(mono);
    if ((t = getattr_fast(ex, S_timings)) == NULL) goto error;
    if (!PyDict_CheckExact(t)) goto python;
    if ((rc = timing(t, S_integration, &integration)) != 1) goto check;
    if (PyDict_GET_SIZE(t)) {
        double a, b, c;
        if ((rc = timing(t, S_webacl, &a)) != 1 || (rc = timing(t, S_waf, &b)) != 1
                || (rc = timing(t, S_crs, &c)) != 1)
            goto check;
        waf_s = a + b + c;
        if ((rc = timing(t, S_iam, &a)) != 1 || (rc = timing(t, S_authorizer, &b)) != 1
                || (rc = timing(t, S_cedar, &c)) != 1)
            goto check;
        auth_s = a + b + c;
    }
    if ((notes = getattr_fast(ex, S_notes)) == NULL) goto error;
    if (!PyDict_CheckExact(notes)) goto python;
    waf_log = PyDict_GET_SIZE(notes) ? PyDict_GetItemWithError(notes, S_waf_log) : NULL;
    if (waf_log == NULL && PyErr_Occurred()) goto error;
    if (waf_log == NULL) waf_log = Py_None;
    Py_INCREF(waf_log);
    if (self->trace_level == 2) {
        with_trace = 1;
    } else if (self->trace_level == 1) {
        if ((why = getattr_fast(ex, S_interruption)) == NULL) goto error;
        with_trace = why != Py_None;
    }
    rc = render_core(self, ex, status, total, integration, waf_s, auth_s, waf_log, with_trace);
    if (rc < 0) goto error;
    if (rc != 2) {   /* the Python path finishes: capture, metrics, or both */
        out = PyObject_CallFunction(self->finish, "OOddddOOi", ex, status_obj, total,
                                    integration, waf_s, auth_s, waf_log,
                                    with_trace ? Py_True : Py_False, rc);
        if (out == NULL) goto error;
        Py_DECREF(out);
    }
    out = Py_NewRef(Py_None);
    goto done;
check:
    if (rc < 0) goto error;
python:   /* values of another type than LoggingStage makes: its Python run decides */
    out = PyObject_CallOneArg(self->py_run, ex);
    goto done;
error:
    out = NULL;
done:
    Py_XDECREF(resp); Py_XDECREF(status_obj); Py_XDECREF(mono); Py_XDECREF(t);
    Py_XDECREF(notes); Py_XDECREF(waf_log); Py_XDECREF(why);
    return out;
}

PyDoc_STRVAR(run_doc,
"run(ex): LoggingStage.run in C (see bind_stage): the lines, and the metrics when they are\n"
"the usual request's; anything else goes to finish(ex, status, total, integration_s,\n"
"waf_s, auth_s, waf_log, with_trace, done).");

static PyObject *Lines_bind_stage(Lines *self, PyObject *args) {
    int level;
    PyObject *finish, *py_run;
    if (!PyArg_ParseTuple(args, "iOO:bind_stage", &level, &finish, &py_run)) return NULL;
    if (level < 0 || level > 2) {
        PyErr_SetString(PyExc_ValueError, "trace level: 0 off, 1 errors, 2 info");
        return NULL;
    }
    self->trace_level = level;
    Py_INCREF(finish);
    Py_XSETREF(self->finish, finish);
    Py_INCREF(py_run);
    Py_XSETREF(self->py_run, py_run);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(bind_stage_doc,
"bind_stage(trace level, finish, python_run): what run() needs of the LoggingStage.");

PyDoc_STRVAR(render_doc,
"render(ex, status, total, integration_s, waf_s, auth_s, waf_log, with_trace) -> int\n\n"
"Append the exchange's lines: 0 (nothing appended) when the Python path must do it, 1 when\n"
"they are appended, 2 when its metrics are counted here too.");

static PyObject *Lines_add(Lines *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "add(wall: float, lines)");
        return NULL;
    }
    double wall = PyFloat_AsDouble(args[0]);
    if (wall == -1.0 && PyErr_Occurred()) return NULL;
    if (self->closed || !(wall >= 0.0 && wall < 253402300800.0)) Py_RETURN_FALSE;
    PyObject *seq = PySequence_Fast(args[1], "lines must be a sequence");
    if (seq == NULL) return NULL;
    if (PySequence_Fast_GET_SIZE(seq) != self->access + self->waf) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "one line per output");
        return NULL;
    }
    if (switch_day(self, day_of(wall)) < 0) {
        Py_DECREF(seq);
        return NULL;
    }
    Py_ssize_t mark[2] = {self->out[0].len, self->out[1].len};
    int added[2] = {0, 0};
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        PyObject *line = PySequence_Fast_GET_ITEM(seq, i);
        int k = self->access ? (int)i : 1;
        if (line == Py_None) {
            self->failed++;
        } else if (!PyBytes_Check(line)) {
            Py_DECREF(seq);
            PyErr_SetString(PyExc_TypeError, "a line is bytes or None");
            return NULL;
        } else if (PyBytes_GET_SIZE(line) == 0) {
            self->filtered++;
        } else {
            if (put_bytes(&self->out[k], line) < 0) {
                self->out[0].len = mark[0];
                self->out[1].len = mark[1];
                Py_DECREF(seq);
                return NULL;
            }
            added[k] = 1;
        }
    }
    Py_DECREF(seq);
    if (settle(self, mark, added[0], added[1]) < 0) return NULL;
    Py_RETURN_TRUE;
}

PyDoc_STRVAR(add_doc,
"add(wall, lines) -> bool\n\n"
"Append lines the Python renderer made (one per output: bytes, b'' filtered, None failed),\n"
"in order with the rendered ones; False when closed.");

static PyObject *Lines_take(Lines *self, PyObject *Py_UNUSED(ignored)) {
    if (seal(self) < 0) return NULL;
    PyObject *out = self->sealed;
    self->sealed = PyList_New(0);
    if (self->sealed == NULL) {
        self->sealed = out;
        return NULL;
    }
    self->woken = 0;
    self->sealed_lines = 0;
    return out;
}

PyDoc_STRVAR(take_doc,
"take() -> [(kind index, day, lines bytes, line count)]: what is buffered, oldest first.");

static PyObject *Lines_close(Lines *self, PyObject *Py_UNUSED(ignored)) {
    self->closed = 1;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(close_doc, "close(): render() returns False from now on (the writer stopped).");

static PyObject *Lines_stats(Lines *self, PyObject *Py_UNUSED(ignored)) {
    return Py_BuildValue("(LLLLLL)", self->rendered, self->dropped[0], self->dropped[1],
                         self->filtered, self->failed,
                         self->sealed_lines + self->counts[0] + self->counts[1]);
}

PyDoc_STRVAR(stats_doc, "stats() -> (lines rendered, access lines dropped, WAF lines "
                        "dropped, WAF lines filtered, lines failed, lines buffered)");

static void Lines_dealloc(Lines *self) {
    PyObject_GC_UnTrack(self);
    Py_CLEAR(self->literals); Py_CLEAR(self->stage); Py_CLEAR(self->api_id);
    Py_CLEAR(self->account_id); Py_CLEAR(self->webacl_arn); Py_CLEAR(self->allow_mid);
    Py_CLEAR(self->plan); Py_CLEAR(self->secret_headers); Py_CLEAR(self->query);
    Py_CLEAR(self->queries); Py_CLEAR(self->keeps); Py_CLEAR(self->sealed);
    Py_CLEAR(self->wake); Py_CLEAR(self->metrics_plan); Py_CLEAR(self->requests);
    Py_CLEAR(self->rules); Py_CLEAR(self->finish); Py_CLEAR(self->py_run);
    for (int i = 0; i < self->nseries; i++) series_clear(&self->series[i]);
    PyMem_Free(self->dbounds);
    PyMem_Free(self->ubounds);
    PyMem_Free(self->vars);
    buf_free(&self->out[0]);
    buf_free(&self->out[1]);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Lines_traverse(Lines *self, visitproc visit, void *arg) {
    Py_VISIT(self->plan); Py_VISIT(self->query); Py_VISIT(self->queries);
    Py_VISIT(self->keeps); Py_VISIT(self->wake); Py_VISIT(self->sealed);
    Py_VISIT(self->metrics_plan); Py_VISIT(self->requests); Py_VISIT(self->rules);
    Py_VISIT(self->finish); Py_VISIT(self->py_run);
    for (int i = 0; i < self->nseries; i++) {
        Py_VISIT(self->series[i].dur);
        Py_VISIT(self->series[i].up);
    }
    return 0;
}

static int Lines_clear(Lines *self) {
    Py_CLEAR(self->plan); Py_CLEAR(self->query); Py_CLEAR(self->queries);
    Py_CLEAR(self->keeps); Py_CLEAR(self->wake); Py_CLEAR(self->metrics_plan);
    Py_CLEAR(self->requests); Py_CLEAR(self->rules); Py_CLEAR(self->finish);
    Py_CLEAR(self->py_run);
    for (int i = 0; i < self->nseries; i++) series_clear(&self->series[i]);
    self->nseries = 0;
    return 0;
}

static int Lines_init(Lines *self, PyObject *args, PyObject *kw) {
    static char *names[] = {"access_vars", "literals", "escape", "waf", "allow_mid", "plan",
                            "secret_headers", "max_value_length", "redact_uri",
                            "redact_method", "query", "keeps", "stage", "api_id",
                            "account_id", "webacl_arn", "max_bytes", "wake_bytes", "wake",
                            "metrics", NULL};
    PyObject *vars, *literals, *allow_mid, *plan, *secret, *query, *keeps, *stage, *api_id,
        *account_id, *webacl_arn, *wake, *metrics = Py_None;
    int escape, waf, redact_uri, redact_method;
    Py_ssize_t max_len, max_bytes, wake_bytes;
    if (!PyArg_ParseTupleAndKeywords(
            args, kw, "OO!ipSOO!nppOOUUUUnnO|O:Lines", names, &vars, &PyTuple_Type, &literals,
            &escape, &waf, &allow_mid, &plan, &PyFrozenSet_Type, &secret, &max_len,
            &redact_uri, &redact_method, &query, &keeps, &stage, &api_id, &account_id,
            &webacl_arn, &max_bytes, &wake_bytes, &wake, &metrics))
        return -1;
    PyObject *dbounds = NULL, *ubounds = NULL, *plan_fn = NULL, *requests = NULL, *rules = NULL;
    if (metrics != Py_None && !PyArg_ParseTuple(metrics, "OO!O!OO;metrics: (plan, requests, "
                                                "rules, duration buckets, upstream buckets)",
                                                &plan_fn, &PyDict_Type, &requests,
                                                &PyDict_Type, &rules, &dbounds, &ubounds))
        return -1;
    if (self->literals != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Lines is initialised once");
        return -1;
    }
    if (vars == Py_None) {
        self->access = 0;
        self->nvars = 0;
        if (PyTuple_GET_SIZE(literals) != 0) {
            PyErr_SetString(PyExc_ValueError, "no access log: literals must be ()");
            return -1;
        }
    } else {
        PyObject *seq = PySequence_Tuple(vars);
        if (seq == NULL) return -1;
        self->access = 1;
        self->nvars = PyTuple_GET_SIZE(seq);
        if (PyTuple_GET_SIZE(literals) != self->nvars + 1) {
            Py_DECREF(seq);
            PyErr_SetString(PyExc_ValueError, "literals must be one more than access_vars");
            return -1;
        }
        self->vars = PyMem_Malloc(sizeof(int) * (size_t)(self->nvars + 1));
        if (self->vars == NULL) {
            Py_DECREF(seq);
            PyErr_NoMemory();
            return -1;
        }
        for (Py_ssize_t i = 0; i < self->nvars; i++) {
            long v = PyLong_AsLong(PyTuple_GET_ITEM(seq, i));
            if (v < 0 || v >= V_COUNT) {
                Py_DECREF(seq);
                if (!PyErr_Occurred())
                    PyErr_SetString(PyExc_ValueError, "unknown access-log variable code");
                return -1;
            }
            self->vars[i] = (int)v;
        }
        Py_DECREF(seq);
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(literals); i++) {
        if (!PyBytes_CheckExact(PyTuple_GET_ITEM(literals, i))) {
            PyErr_SetString(PyExc_TypeError, "literals must be bytes");
            return -1;
        }
    }
    if (escape < ESC_JSON || escape > ESC_CLF) {
        PyErr_SetString(PyExc_ValueError, "unknown escape");
        return -1;
    }
    if (max_len < 0 || max_bytes <= 0 || wake_bytes <= 0) {
        PyErr_SetString(PyExc_ValueError, "limits must be positive");
        return -1;
    }
    self->escape = escape;
    self->waf = waf;
    self->max_value_length = max_len;
    self->redact_uri = redact_uri;
    self->redact_method = redact_method;
    self->max_bytes = max_bytes;
    self->wake_bytes = wake_bytes;
    self->clf_sec = -1;
    self->day = -1;
    Py_INCREF(literals); self->literals = literals;
    Py_INCREF(allow_mid); self->allow_mid = allow_mid;
    Py_INCREF(plan); self->plan = plan;
    Py_INCREF(secret); self->secret_headers = secret;
    Py_INCREF(query); self->query = query;
    Py_INCREF(keeps); self->keeps = keeps;
    Py_INCREF(stage); self->stage = stage;
    Py_INCREF(api_id); self->api_id = api_id;
    Py_INCREF(account_id); self->account_id = account_id;
    Py_INCREF(webacl_arn); self->webacl_arn = webacl_arn;
    Py_INCREF(wake); self->wake = wake;
    self->queries = PyDict_New();
    self->sealed = PyList_New(0);
    if (self->queries == NULL || self->sealed == NULL) return -1;
    if (dbounds != NULL) {   /* metrics summed here: the histograms' bucket bounds */
        PyObject *bounds[2] = {dbounds, ubounds};
        for (int h = 0; h < 2; h++) {
            PyObject *seq = PySequence_Tuple(bounds[h]);
            if (seq == NULL) return -1;
            Py_ssize_t n = PyTuple_GET_SIZE(seq);
            double *v = PyMem_Malloc(sizeof(double) * (size_t)(n + 1));
            if (v == NULL) {
                Py_DECREF(seq);
                PyErr_NoMemory();
                return -1;
            }
            for (Py_ssize_t i = 0; i < n; i++) {
                v[i] = PyFloat_AsDouble(PyTuple_GET_ITEM(seq, i));
                if ((v[i] == -1.0 && PyErr_Occurred()) || (i && !(v[i] > v[i - 1]))) {
                    Py_DECREF(seq);
                    PyMem_Free(v);
                    if (!PyErr_Occurred())
                        PyErr_SetString(PyExc_ValueError, "buckets must increase");
                    return -1;
                }
            }
            Py_DECREF(seq);
            if (h == 0) { self->dbounds = v; self->nd = n; }
            else { self->ubounds = v; self->nu = n; }
        }
        Py_INCREF(plan_fn); self->metrics_plan = plan_fn;
        Py_INCREF(requests); self->requests = requests;
        Py_INCREF(rules); self->rules = rules;
    }
    if (waf && !PyBytes_CheckExact(allow_mid)) {
        PyErr_SetString(PyExc_TypeError, "allow_mid must be bytes");
        return -1;
    }
    return 0;
}

static PyMemberDef Lines_members[] = {
    {"closed", T_INT, offsetof(Lines, closed), READONLY, "render() and add() refuse"},
    {NULL, 0, 0, 0, NULL},
};

static PyMethodDef Lines_methods[] = {
    {"render", (PyCFunction)(void (*)(void))Lines_render, METH_FASTCALL, render_doc},
    {"run", (PyCFunction)Lines_run, METH_O, run_doc},
    {"bind_stage", (PyCFunction)Lines_bind_stage, METH_VARARGS, bind_stage_doc},
    {"add", (PyCFunction)(void (*)(void))Lines_add, METH_FASTCALL, add_doc},
    {"take", (PyCFunction)Lines_take, METH_NOARGS, take_doc},
    {"stats", (PyCFunction)Lines_stats, METH_NOARGS, stats_doc},
    {"close", (PyCFunction)Lines_close, METH_NOARGS, close_doc},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject LinesType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "bastion.observe._lines.Lines",
    .tp_doc = PyDoc_STR("Access and WAF log lines rendered on the request path."),
    .tp_basicsize = sizeof(Lines),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Lines_init,
    .tp_dealloc = (destructor)Lines_dealloc,
    .tp_traverse = (traverseproc)Lines_traverse,
    .tp_clear = (inquiry)Lines_clear,
    .tp_methods = Lines_methods,
    .tp_members = Lines_members,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "bastion.observe._lines",
    "Access and WAF log lines rendered in C (see bastion.observe.native).", -1, NULL,
};

#define INTERN(var, text) if (((var) = PyUnicode_InternFromString(text)) == NULL) return NULL

PyMODINIT_FUNC PyInit__lines(void) {
    INTERN(S_request, "request"); INTERN(S_request_id, "request_id");
    INTERN(S_started_at, "started_at"); INTERN(S_route, "route");
    INTERN(S_resource_path, "resource_path"); INTERN(S_identity, "identity");
    INTERN(S_authorizer, "authorizer"); INTERN(S_principal, "principal");
    INTERN(S_labels, "labels"); INTERN(S_trace, "trace");
    INTERN(S_interruption, "interruption"); INTERN(S_response_bytes, "response_bytes");
    INTERN(S_method, "method"); INTERN(S_raw_path, "raw_path");
    INTERN(S_query_string, "query_string"); INTERN(S_headers, "headers");
    INTERN(S_raw_pairs, "raw_pairs"); INTERN(S_client_ip, "client_ip");
    INTERN(S_http_version, "http_version"); INTERN(S_scheme, "scheme");
    INTERN(S_body, "body"); INTERN(S_stage, "stage"); INTERN(S_event, "event");
    INTERN(S_reason, "reason"); INTERN(S_response_type, "response_type");
    INTERN(S_message, "message"); INTERN(S_caller, "caller"); INTERN(S_user, "user");
    INTERN(S_userArn, "userArn"); INTERN(S_accountId, "accountId");
    INTERN(S_apiKeyId, "apiKeyId"); INTERN(S_response_code_sent, "response_code_sent");
    INTERN(S_action, "action"); INTERN(S_ALLOW, "ALLOW");
    INTERN(S_notes, "notes"); INTERN(S_cache, "cache");
    INTERN(S_response, "response"); INTERN(S_status, "status");
    INTERN(S_started_mono, "started_mono"); INTERN(S_timings, "timings");
    INTERN(S_integration, "integration"); INTERN(S_webacl, "webacl"); INTERN(S_waf, "waf");
    INTERN(S_crs, "crs"); INTERN(S_iam, "iam"); INTERN(S_cedar, "cedar");
    INTERN(S_waf_log, "waf_log"); INTERN(S__pairs, "_pairs");
    for (int c = 0; c < 256; c++) {
        JSON_ESC[c] = c < 0x20 || c == '"' || c == '\\';
        LATIN1_ESC[c] = JSON_ESC[c] || c >= 0x80;
    }
    if (PyType_Ready(&LinesType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    Py_INCREF(&LinesType);
    if (PyModule_AddObject(m, "Lines", (PyObject *)&LinesType) < 0) {
        Py_DECREF(&LinesType);
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddIntConstant(m, "VARIABLE_COUNT", V_COUNT) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
