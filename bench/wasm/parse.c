// Claude Code log lines scanned in WebAssembly (issue 18, h-wasm; a bench prototype, not product code).
//
// scan() walks the lines of one file's bytes in linear memory and writes one fixed record of REC
// int64s per line that matters: a usage line's fields (spans into the bytes, counts, the stamp in
// epoch milliseconds), "no usage", "synthetic", or FALLBACK. It claims a line only where the
// outcome is certain to equal claude_code._parse's (msgspec's strict decode, then _copy_from):
// anything else -- not JSON, truncated, a declared field of the wrong type, a count outside
// [0, 1e8] or not a plain integer, an escape in a string it returns or in a key it matches,
// invalid UTF-8 anywhere, deep nesting, duplicate declared keys, a stamp not of Claude Code's
// 24-character shape, iterations, an empty message id or model, cwd not a string -- is FALLBACK:
// the Python driver parses that line with _parse itself. Lines with nothing to say give no record.
//
// Built by bench/wasm_parse.py with the ziglang wheel:
//   python -m ziglang cc --target=wasm32-freestanding -O3 -nostdlib -Wl,--no-entry
//     -Wl,--export=scan -Wl,--export=consumed -Wl,--export=__heap_base parse.c -o parse.wasm
// The caller puts a '\n' and 31 spare bytes after the data: no read needs a bounds check (a string
// or a value cannot run past a newline).

#ifdef __wasm_simd128__
#include <wasm_simd128.h>
#endif

typedef unsigned char u8;
typedef long long i64;
typedef unsigned int u32;

enum { K_USAGE = 1, K_FALLBACK = 2, K_NO_USAGE = 3, K_SYNTHETIC = 4 };
enum { REC = 24, MAX_DEPTH = 48 };
#define MAX_COUNT 100000000LL

// Record layout (int64 each): see wasm_parse.py's unpacking, which must match.
enum {
    R_KIND, R_LS, R_LE, R_ID_S, R_ID_E, R_REQ_S, R_REQ_E, R_SIDE, R_TS, R_MODEL, R_SESS, R_CWD,
    R_C0, R_C1, R_C2, R_C3, R_C4, R_C5, R_TOTAL, R_SPEED, R_TIER, R_GEO, R_COST_S, R_COST_E
};

// The few strings a file repeats on every usage line (model, session, cwd, speed, tier, geo) are
// interned per file: a record carries a small id, id 0 is "absent or empty", and the caller
// decodes each id's text once (strings()/spans()). A full table leaves the line to Python.
enum { SLOTS = 8192, MAX_STRINGS = 4096 };
static int slot_id[SLOTS];  // an id (from 1), 0 when free
static int spans_out[2 * MAX_STRINGS];  // [s, e] per id, id 0 unused
static int n_strings = 1;

typedef struct { int s, e; } Span;  // s < 0: absent or null

typedef struct {
    Span type, ts, sess, req, cwd, cost, mid, model, speed, tier, geo, data;
    int side;  // 0 absent/null/false, 1 true
    int msg, usage;  // 1 when an object
    i64 in, out, ccin, cr, e5, e1, web;  // -1: absent or null
    int cc;  // cache_creation is an object
    u32 seen;
} Line;

static const u8 *B;  // the buffer's start (spans are offsets from it)
static const u8 *p;
static i64 consumed_at;

// Byte classes inside a string: 0 plain, 1 quote, 2 backslash, 3 control or invalid, 4+ UTF-8 lead.
static u8 cls[256];
static int cls_ready;

static void init_cls(void) {
    for (int c = 0; c < 256; c++) {
        u8 k = 0;
        if (c < 0x20) k = 3;
        else if (c == '"') k = 1;
        else if (c == '\\') k = 2;
        else if (c >= 0x80) {
            if (c >= 0xC2 && c <= 0xDF) k = 4;
            else if (c >= 0xE0 && c <= 0xEF) k = 5;
            else if (c >= 0xF0 && c <= 0xF4) k = 6;
            else k = 3;
        }
        cls[c] = k;
    }
    cls_ready = 1;
}

static inline void ws(void) {
    while (*p == ' ' || *p == '\t' || *p == '\r') p++;
}

static inline int cont(u8 c) { return (c & 0xC0) == 0x80; }

static inline int hex(u8 c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// At the opening quote. On success p is past the closing quote and *esc says whether it had escapes.
static int string(int *esc) {
    p++;
    int e = 0;
    for (;;) {
#ifdef __wasm_simd128__
        // 16 bytes at a time up to the first quote, backslash, control byte or non-ASCII byte.
        for (;;) {
            v128_t v = wasm_v128_load(p);
            v128_t special = wasm_v128_or(
                wasm_v128_or(wasm_i8x16_eq(v, wasm_i8x16_splat('"')), wasm_i8x16_eq(v, wasm_i8x16_splat('\\'))),
                wasm_u8x16_ge(wasm_i8x16_sub(v, wasm_i8x16_splat(0x20)), wasm_i8x16_splat(0x60)));
            u32 mask = wasm_i8x16_bitmask(special);
            if (mask) {
                p += __builtin_ctz(mask);
                break;
            }
            p += 16;
        }
#endif
        u8 c = *p;
        u8 k = cls[c];
        if (k == 0) { p++; continue; }
        if (k == 1) { p++; *esc = e; return 1; }
        if (k == 2) {
            u8 n = p[1];
            e = 1;
            if (n == 'u') {
                if (!(hex(p[2]) && hex(p[3]) && hex(p[4]) && hex(p[5]))) return 0;
                // A surrogate half: whether msgspec pairs or refuses it is left to msgspec.
                u8 h = p[2] | 0x20;
                u8 l = p[3] | 0x20;
                if (h == 'd' && ((l >= '8' && l <= '9') || (l >= 'a' && l <= 'f'))) return 0;
                p += 6;
                continue;
            }
            if (n == '"' || n == '\\' || n == '/' || n == 'b' || n == 'f' || n == 'n' || n == 'r' || n == 't') {
                p += 2;
                continue;
            }
            return 0;
        }
        if (k == 3) return 0;
        // UTF-8, strictly: no overlongs, no surrogates, nothing past U+10FFFF.
        if (k == 4) {
            if (!cont(p[1])) return 0;
            p += 2;
        } else if (k == 5) {
            u8 a = p[1];
            if (c == 0xE0 ? (a < 0xA0 || a > 0xBF) : c == 0xED ? (a < 0x80 || a > 0x9F) : !cont(a)) return 0;
            if (!cont(p[2])) return 0;
            p += 3;
        } else {
            u8 a = p[1];
            if (c == 0xF0 ? (a < 0x90 || a > 0xBF) : c == 0xF4 ? (a < 0x80 || a > 0x8F) : !cont(a)) return 0;
            if (!cont(p[2]) || !cont(p[3])) return 0;
            p += 4;
        }
    }
}

static inline int digit(u8 c) { return c >= '0' && c <= '9'; }

// JSON's number grammar. *plain: only digits (no sign, fraction or exponent); *simple: no sign or exponent.
static int number(int *plain, int *simple) {
    int sign = 0, frac = 0, expo = 0;
    if (*p == '-') { p++; sign = 1; }
    if (*p == '0') p++;
    else if (*p >= '1' && *p <= '9') { while (digit(*p)) p++; }
    else return 0;
    if (*p == '.') {
        p++;
        if (!digit(*p)) return 0;
        while (digit(*p)) p++;
        frac = 1;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (!digit(*p)) return 0;
        while (digit(*p)) p++;
        expo = 1;
    }
    *plain = !sign && !frac && !expo;
    *simple = !sign && !expo;
    return 1;
}

static int lit(const char *w, int n) {
    for (int i = 0; i < n; i++)
        if (p[i] != (u8)w[i]) return 0;
    p += n;
    return 1;
}

static int value(int depth);

static int object(int depth) {
    if (depth > MAX_DEPTH) return 0;
    p++;
    ws();
    if (*p == '}') { p++; return 1; }
    for (;;) {
        int esc;
        if (*p != '"' || !string(&esc)) return 0;
        ws();
        if (*p != ':') return 0;
        p++;
        ws();
        if (!value(depth + 1)) return 0;
        ws();
        if (*p == ',') { p++; ws(); continue; }
        if (*p == '}') { p++; return 1; }
        return 0;
    }
}

static int array(int depth) {
    if (depth > MAX_DEPTH) return 0;
    p++;
    ws();
    if (*p == ']') { p++; return 1; }
    for (;;) {
        if (!value(depth + 1)) return 0;
        ws();
        if (*p == ',') { p++; ws(); continue; }
        if (*p == ']') { p++; return 1; }
        return 0;
    }
}

static int value(int depth) {
    int a, b;
    switch (*p) {
    case '{': return object(depth);
    case '[': return array(depth);
    case '"': return string(&a);
    case 't': return lit("true", 4);
    case 'f': return lit("false", 5);
    case 'n': return lit("null", 4);
    default: return number(&a, &b);
    }
}

// --- the declared fields --------------------------------------------------------------------

static inline int is_null(void) { return p[0] == 'n' && lit("null", 4); }

// str | None, without escapes (an escaped value is left to msgspec).
static int str_field(Span *out) {
    if (*p == '"') {
        int esc;
        int s = (int)(p - B) + 1;
        if (!string(&esc) || esc) return 0;
        out->s = s;
        out->e = (int)(p - B) - 1;
        return 1;
    }
    if (is_null()) { out->s = -1; return 1; }
    return 0;
}

// A Count | None: a plain integer in [0, MAX_COUNT] (anything else is msgspec's to judge).
static int count_field(i64 *out) {
    if (is_null()) { *out = -1; return 1; }
    if (!digit(*p)) return 0;
    const u8 *s = p;
    int plain, simple;
    if (!number(&plain, &simple) || !plain || p - s > 9) return 0;
    i64 v = 0;
    for (const u8 *q = s; q < p; q++) v = v * 10 + (*q - '0');
    if (v > MAX_COUNT) return 0;
    *out = v;
    return 1;
}

// One key of a struct: its text (no escapes) and its length.
static int key(const u8 **k, int *n) {
    int esc;
    if (*p != '"') return 0;
    const u8 *s = p + 1;
    if (!string(&esc) || esc) return 0;
    *k = s;
    *n = (int)(p - s) - 1;
    ws();
    if (*p != ':') return 0;
    p++;
    ws();
    return 1;
}

static inline int is(const u8 *k, int n, const char *w, int m) {
    if (n != m) return 0;
    for (int i = 0; i < n; i++)
        if (k[i] != (u8)w[i]) return 0;
    return 1;
}

#define KEY(w) is(k, n, w, sizeof(w) - 1)
#define ONCE(bit) do { if (L->seen & (1u << (bit))) return 0; L->seen |= 1u << (bit); } while (0)

// Struct bodies: each loops over the object's keys, reads the declared ones, skips the rest.
#define STRUCT_LOOP(...)                                    \
    if (depth > MAX_DEPTH) return 0;                        \
    p++;                                                    \
    ws();                                                   \
    if (*p == '}') { p++; return 1; }                       \
    for (;;) {                                              \
        const u8 *k;                                        \
        int n;                                              \
        if (!key(&k, &n)) return 0;                         \
        __VA_ARGS__                                         \
        ws();                                               \
        if (*p == ',') { p++; ws(); continue; }             \
        if (*p == '}') { p++; return 1; }                   \
        return 0;                                           \
    }

static int cache_creation(Line *L, int depth) {
    STRUCT_LOOP(
        if (KEY("ephemeral_5m_input_tokens")) { ONCE(20); if (!count_field(&L->e5)) return 0; }
        else if (KEY("ephemeral_1h_input_tokens")) { ONCE(21); if (!count_field(&L->e1)) return 0; }
        else if (!value(depth + 1)) return 0;
    )
}

static int server_tool_use(Line *L, int depth) {
    STRUCT_LOOP(
        if (KEY("web_search_requests")) { ONCE(22); if (!count_field(&L->web)) return 0; }
        else if (!value(depth + 1)) return 0;
    )
}

static int usage(Line *L, int depth) {
    STRUCT_LOOP(
        if (KEY("input_tokens")) { ONCE(10); if (!count_field(&L->in)) return 0; }
        else if (KEY("output_tokens")) { ONCE(11); if (!count_field(&L->out)) return 0; }
        else if (KEY("cache_creation_input_tokens")) { ONCE(12); if (!count_field(&L->ccin)) return 0; }
        else if (KEY("cache_read_input_tokens")) { ONCE(13); if (!count_field(&L->cr)) return 0; }
        else if (KEY("cache_creation")) {
            ONCE(14);
            if (is_null()) L->cc = 0;
            else if (*p == '{') { L->cc = 1; if (!cache_creation(L, depth + 1)) return 0; }
            else return 0;
        }
        else if (KEY("server_tool_use")) {
            ONCE(15);
            if (!is_null()) { if (*p != '{' || !server_tool_use(L, depth + 1)) return 0; }
        }
        else if (KEY("speed")) { ONCE(16); if (!str_field(&L->speed)) return 0; }
        else if (KEY("service_tier")) { ONCE(17); if (!str_field(&L->tier)) return 0; }
        else if (KEY("inference_geo")) { ONCE(18); if (!str_field(&L->geo)) return 0; }
        else if (KEY("iterations")) { ONCE(19); if (!is_null()) return 0; }  // left to msgspec
        else if (!value(depth + 1)) return 0;
    )
}

static int message(Line *L, int depth) {
    STRUCT_LOOP(
        if (KEY("id")) { ONCE(7); if (!str_field(&L->mid)) return 0; }
        else if (KEY("model")) { ONCE(8); if (!str_field(&L->model)) return 0; }
        else if (KEY("usage")) {
            ONCE(9);
            if (is_null()) L->usage = 0;
            else if (*p == '{') { L->usage = 1; if (!usage(L, depth + 1)) return 0; }
            else return 0;
        }
        else if (!value(depth + 1)) return 0;
    )
}

static void line_init(Line *L) {
    Span none = {-1, -1};
    L->type = L->ts = L->sess = L->req = L->cwd = L->cost = L->mid = L->model = none;
    L->speed = L->tier = L->geo = L->data = none;
    L->side = L->msg = L->usage = L->cc = 0;
    L->in = L->out = L->ccin = L->cr = L->e5 = L->e1 = L->web = -1;
    L->seen = 0;
}

static int line_struct(Line *L, int depth) {
    STRUCT_LOOP(
        if (KEY("type")) { ONCE(0); if (!str_field(&L->type)) return 0; }
        else if (KEY("timestamp")) { ONCE(1); if (!str_field(&L->ts)) return 0; }
        else if (KEY("sessionId")) { ONCE(2); if (!str_field(&L->sess)) return 0; }
        else if (KEY("requestId")) { ONCE(3); if (!str_field(&L->req)) return 0; }
        else if (KEY("cwd")) { ONCE(4); if (!str_field(&L->cwd)) return 0; }  // other JSON: msgspec's
        else if (KEY("isSidechain")) {
            ONCE(5);
            if (*p == 't') { if (!lit("true", 4)) return 0; L->side = 1; }
            else if (*p == 'f') { if (!lit("false", 5)) return 0; L->side = 0; }
            else if (!is_null()) return 0;
        }
        else if (KEY("costUSD")) {
            ONCE(6);
            if (!is_null()) {
                int plain, simple;
                int s = (int)(p - B);
                if (!number(&plain, &simple) || !simple) return 0;  // signs and exponents: msgspec's
                L->cost.s = s;
                L->cost.e = (int)(p - B);
            }
        }
        else if (KEY("message")) {
            ONCE(23);
            if (is_null()) L->msg = 0;
            else if (*p == '{') { L->msg = 1; if (!message(L, depth + 1)) return 0; }
            else return 0;
        }
        else if (KEY("data")) {
            ONCE(24);
            int s = (int)(p - B);
            if (!value(depth + 1)) return 0;
            L->data.s = s;
            L->data.e = (int)(p - B);
        }
        else if (!value(depth + 1)) return 0;
    )
}

static int progress_data(Line *inner, int *has, int depth) {
    u32 seen = 0;
    if (depth > MAX_DEPTH) return 0;
    p++;
    ws();
    if (*p == '}') { p++; return 1; }
    for (;;) {
        const u8 *k;
        int n;
        if (!key(&k, &n)) return 0;
        if (KEY("message")) {
            if (seen) return 0;
            seen = 1;
            if (is_null()) *has = 0;
            else if (*p == '{') { *has = 1; if (!line_struct(inner, depth + 1)) return 0; }
            else return 0;
        } else if (!value(depth + 1)) return 0;
        ws();
        if (*p == ',') { p++; ws(); continue; }
        if (*p == '}') { p++; return 1; }
        return 0;
    }
}

static inline int span_is(Span s, const char *w, int m) {
    return s.s >= 0 && is(B + s.s, s.e - s.s, w, m);
}

static inline int nonempty(Span s) { return s.s >= 0 && s.e > s.s; }

static int two(const u8 *s) { return (s[0] - '0') * 10 + (s[1] - '0'); }

// Claude Code's stamp, YYYY-MM-DDTHH:MM:SS.mmmZ or with a +HH:MM / -HH:MM offset (what
// fromisoformat reads the same way), years 1970-2999, the instant in [0, year 3000); anything else
// is Python's to read.
static int zulu(Span sp, i64 *out) {
    int len = sp.e - sp.s;
    const u8 *s = B + sp.s;
    i64 shift = 0;
    if (len == 29) {
        if (!(s[23] == '+' || s[23] == '-') || s[26] != ':' || !digit(s[24]) || !digit(s[25]) || !digit(s[27]) ||
            !digit(s[28]))
            return 0;
        int oh = two(s + 24), om = two(s + 27);
        if (oh > 23 || om > 59) return 0;
        shift = (oh * 3600000LL + om * 60000LL) * (s[23] == '+' ? 1 : -1);
    } else if (len != 24 || s[23] != 'Z') {
        return 0;
    }
    static const u8 where[] = {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22};
    for (unsigned i = 0; i < sizeof where; i++)
        if (!digit(s[where[i]])) return 0;
    if (s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != '.') return 0;
    int y = two(s) * 100 + two(s + 2), m = two(s + 5), d = two(s + 8);
    int hh = two(s + 11), mm = two(s + 14), ss = two(s + 17);
    int ms = (s[20] - '0') * 100 + two(s + 21);
    if (y < 1970 || y > 2999 || m < 1 || m > 12 || d < 1 || hh > 23 || mm > 59 || ss > 59) return 0;
    static const u8 dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > dim[m - 1] + (m == 2 && leap)) return 0;
    // Days from 1970-01-01 (H. Hinnant's days_from_civil).
    int yy = y - (m <= 2);
    int era = yy / 400;
    int yoe = yy - era * 400;
    int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    i64 days = (i64)era * 146097 + doe - 719468;
    i64 ts = days * 86400000LL + hh * 3600000LL + mm * 60000LL + ss * 1000LL + ms - shift;
    if (ts < 0 || ts >= 32503680000000LL) return 0;
    *out = ts;
    return 1;
}

static inline void put(i64 *r, int a, int b, Span s) {
    // Absent (or null) as the empty span 0..0: the caller's slice then decodes to "".
    r[a] = s.s < 0 ? 0 : s.s;
    r[b] = s.s < 0 ? 0 : s.e;
}

static int last_id[6];  // per field, the id it had on the previous usage line

static inline int same(int id, const u8 *t, int n) {
    const u8 *o = B + spans_out[2 * id];
    if (spans_out[2 * id + 1] - spans_out[2 * id] != n) return 0;
    int i = 0;
    while (i < n && o[i] == t[i]) i++;
    return i == n;
}

// The id of a string's text within this file, 0 for absent or empty, -1 when the table is full.
// A field mostly repeats its previous line's text: that is compared first, without hashing.
static int intern(Span sp, int field) {
    if (sp.s < 0 || sp.e == sp.s) return 0;
    const u8 *t = B + sp.s;
    int n = sp.e - sp.s;
    int last = last_id[field];
    if (last && same(last, t, n)) return last;
    u32 h = 2166136261u;
    for (int i = 0; i < n; i++) h = (h ^ t[i]) * 16777619u;
    for (u32 k = h & (SLOTS - 1);; k = (k + 1) & (SLOTS - 1)) {
        int id = slot_id[k];
        if (!id) {
            if (n_strings >= MAX_STRINGS) return -1;
            id = n_strings++;
            slot_id[k] = id;
            spans_out[2 * id] = sp.s;
            spans_out[2 * id + 1] = sp.e;
            return last_id[field] = id;
        }
        if (same(id, t, n)) return last_id[field] = id;
    }
}

// _copy_from(entry, outer): 1 with the record filled, 0 to leave the line to Python.
static int copy_from(const Line *en, const Line *ou, i64 *r) {
    if (!en->msg || !en->usage) { r[R_KIND] = K_NO_USAGE; return 1; }
    if (span_is(en->model, "<synthetic>", 11)) { r[R_KIND] = K_SYNTHETIC; return 1; }
    i64 w5, w1;
    if (en->cc && (en->e5 >= 0 || en->e1 >= 0)) {
        w5 = en->e5 > 0 ? en->e5 : 0;
        w1 = en->e1 > 0 ? en->e1 : 0;
    } else {
        w5 = en->ccin > 0 ? en->ccin : 0;
        w1 = 0;
    }
    Span stamp = nonempty(en->ts) ? en->ts : ou->ts;
    i64 ts;
    if (!nonempty(stamp) || !zulu(stamp, &ts)) return 0;
    if (!nonempty(en->model) || !nonempty(en->mid)) return 0;
    Span none = {-1, -1};
    int model = intern(en->model, 0);
    int sess = intern(nonempty(ou->sess) ? ou->sess : en->sess, 1);
    int cwd = intern(nonempty(ou->cwd) ? ou->cwd : en->cwd, 2);
    int speed = intern(en->speed, 3), tier = intern(en->tier, 4), geo = intern(en->geo, 5);
    if ((model | sess | cwd | speed | tier | geo) < 0) return 0;
    r[R_KIND] = K_USAGE;
    put(r, R_ID_S, R_ID_E, en->mid);
    put(r, R_REQ_S, R_REQ_E, nonempty(en->req) ? en->req : nonempty(ou->req) ? ou->req : none);
    r[R_SIDE] = en->side || ou->side;
    r[R_TS] = ts;
    r[R_MODEL] = model;
    r[R_SESS] = sess;
    r[R_CWD] = cwd;
    i64 c0 = en->in > 0 ? en->in : 0, c1 = en->out > 0 ? en->out : 0, c2 = en->cr > 0 ? en->cr : 0;
    r[R_C0] = c0;
    r[R_C1] = c1;
    r[R_C2] = c2;
    r[R_C3] = w5;
    r[R_C4] = w1;
    r[R_C5] = en->web > 0 ? en->web : 0;
    r[R_TOTAL] = c0 + c1 + c2 + w5 + w1;
    r[R_SPEED] = speed;
    r[R_TIER] = tier;
    r[R_GEO] = geo;
    Span cost = en->cost.s >= 0 ? en->cost : ou->cost;  // -1: no cost logged
    r[R_COST_S] = cost.s;
    r[R_COST_E] = cost.e;
    return 1;
}

// One line from p: 1 with a record, 0 for a line without one, -1 to leave it to Python.
static int one_line(i64 *r) {
    Line top, inner;
    line_init(&top);
    ws();
    if (*p != '{' || !line_struct(&top, 1)) return -1;
    ws();
    if (*p != '\n') return -1;
    if (span_is(top.type, "assistant", 9)) return copy_from(&top, &top, r) ? 1 : -1;
    if (span_is(top.type, "progress", 8) && top.data.s >= 0) {
        const u8 *after = p;
        p = B + top.data.s;
        if (p[0] == 'n') { p = after; return 0; }  // data: null
        int has = 0;
        line_init(&inner);
        // _ProgressData refusing data (not an object, a bad message) is invalid_fields: Python's.
        if (*p != '{' || !progress_data(&inner, &has, 1)) { p = after; return -1; }
        p = after;
        if (!has) return 0;
        if (inner.type.s >= 0 && !span_is(inner.type, "assistant", 9)) return 0;
        if (!inner.msg) return 0;
        return copy_from(&inner, &top, r) ? 1 : -1;
    }
    return 0;
}

// The lines of [in, in + len) from start; a last line without a newline is taken when tail is set.
// Writes at most cap records at out; returns how many, with consumed() the offset reached.
// fresh: a new file (the interned strings start again).
int scan(long in, int len, int start, int tail, long out, int cap, int fresh) {
    if (!cls_ready) init_cls();
    if (fresh) {
        for (int k = 0; k < SLOTS; k++) slot_id[k] = 0;
        n_strings = 1;
        for (int f = 0; f < 6; f++) last_id[f] = 0;
    }
    B = (const u8 *)in;
    const u8 *end = B + len;
    const u8 *line = B + start;
    i64 *rec = (i64 *)out;
    int n = 0;
    while (line < end && n < cap) {
        p = line;
        i64 *r = rec + (i64)n * REC;
        int got = one_line(r);
        const u8 *nl = p;
        while (*nl != '\n') nl++;  // the sentinel after the data stops this
        if (nl >= end && !tail) break;  // an unfinished last line: not consumed
        const u8 *next = nl < end ? nl + 1 : end;
        if (got != 0) {
            if (got < 0) r[R_KIND] = K_FALLBACK;
            r[R_LS] = line - B;
            r[R_LE] = next - B;
            n++;
        }
        line = next;
    }
    consumed_at = line - B;
    return n;
}

int consumed(void) { return (int)consumed_at; }
int strings(void) { return n_strings; }
long spans(void) { return (long)spans_out; }
