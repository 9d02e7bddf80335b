/*
 * config.c — YAML release description -> mtp_config.
 *
 * Two passes. The first reads libyaml events into a small tree of our own (scalars,
 * lists, mappings, each with its start mark) and enforces the document-level rules that
 * libyaml leaves to us: no aliases (so nothing can expand), no duplicate keys, scalar
 * keys only, one document, caps on size, depth and node count. The second pass walks
 * the tree section by section and fills the struct, so every error can name both the
 * position and the dotted key path of the node that is wrong.
 *
 * libyaml marks count characters, not bytes (a UTF-8 sequence is one), and lines and
 * columns from 0; errors print both 1-based.
 */
#include "mtp/config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <yaml.h>

#include "mtp/sha256.h"

#define MAX_FILE_BYTES (1024 * 1024)
#define MAX_DEPTH 16
#define MAX_NODES 100000
#define MAX_MAP_KEYS 1024 /* keeps the duplicate-key scan cheap; real maps hold <= 256 */
#define PATH_LEN 384
#define SHOWN_LEN 96
#define MAX_TIMEOUT_S 3600
#define MAX_BACKOFF_MS 600000
#define MAX_BACKOFF_MAX_MS 3600000
#define MAX_MTIME INT64_C(4102444800) /* 2100-01-01T00:00:00Z */
#define MAX_DEPTH_SLICES 64
#define MAX_RESOLUTION 9

/* BossDB stores voxels in cuboids; blocks must tile them evenly. */
static const int64_t cuboid_size[3] = {MTP_CUBOID_X, MTP_CUBOID_Y, MTP_CUBOID_Z};
static const char axis_names[3] = {'x', 'y', 'z'};

/* ---- the document tree ------------------------------------------------------------- */

typedef enum node_kind { NODE_SCALAR, NODE_SEQ, NODE_MAP } node_kind;

typedef struct node {
    node_kind kind;
    bool quoted; /* quoted or block scalar: always a string, never int/bool/null */
    bool block;  /* literal (|) or folded (>) scalar */
    char *value; /* scalar text, NUL-terminated; may hold inner NULs (see len) */
    size_t len;
    yaml_mark_t start;
    yaml_mark_t end;
    struct node **kids; /* list: items; mapping: key, value, key, value, ... */
    size_t nkids;
    size_t cap;
} node;

typedef struct parse_ctx {
    const char *name; /* file name for messages */
    mtp_error *err;
    mtp_config *cfg;
    const node *token_node; /* source.token's value, for redaction */
    bool no_token;          /* a release's copy: the token is neither checked nor resolved */
} parse_ctx;

static void node_free(node *n)
{
    if (n == NULL)
        return;
    for (size_t i = 0; i < n->nkids; i++)
        node_free(n->kids[i]);
    free(n->kids);
    free(n->value);
    free(n);
}

/* ---- error helpers ----------------------------------------------------------------- */

static int fail_mark(const parse_ctx *pc, const yaml_mark_t *mark, const char *path,
                     const char *what)
{
    char where[MTP_TEXT_MAX + 48];
    if (mark != NULL)
        snprintf(where, sizeof where, "%s:%zu:%zu", pc->name, mark->line + 1, mark->column + 1);
    else
        snprintf(where, sizeof where, "%s", pc->name);
    if (path != NULL && path[0] != '\0')
        return mtp_error_set(pc->err, MTP_ECONFIG, "%s: %s: %s", where, path, what);
    return mtp_error_set(pc->err, MTP_ECONFIG, "%s: %s", where, what);
}

static int fail(const parse_ctx *pc, const node *at, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(const parse_ctx *pc, const node *at, const char *path, const char *fmt, ...)
{
    char what[MTP_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return fail_mark(pc, at != NULL ? &at->start : NULL, path, what);
}

/* Bounded string building for key paths; long paths are cut (they only go into messages). */
static void append(char *out, size_t cap, size_t *pos, const char *text)
{
    while (*text != '\0' && *pos + 1 < cap)
        out[(*pos)++] = *text++;
    out[*pos] = '\0';
}

static void join_key(char *out, size_t cap, const char *path, const char *key)
{
    size_t pos = 0;
    out[0] = '\0';
    append(out, cap, &pos, path);
    if (path[0] != '\0')
        append(out, cap, &pos, ".");
    append(out, cap, &pos, key);
}

static void join_index(char *out, size_t cap, const char *path, size_t index)
{
    char digits[32];
    size_t pos = 0;
    snprintf(digits, sizeof digits, "[%zu]", index);
    out[0] = '\0';
    append(out, cap, &pos, path);
    append(out, cap, &pos, digits);
}

static bool is_null(const node *n)
{
    if (n->kind != NODE_SCALAR || n->quoted)
        return false;
    return n->len == 0 || strcmp(n->value, "~") == 0 || strcmp(n->value, "null") == 0 ||
           strcmp(n->value, "Null") == 0 || strcmp(n->value, "NULL") == 0;
}

/* A short, printable rendering of a node for "got ..." messages. Never used on tokens. */
static const char *describe(const node *n, char *buf, size_t cap)
{
    if (n->kind == NODE_SEQ)
        return "a list";
    if (n->kind == NODE_MAP)
        return "a mapping";
    if (is_null(n))
        return "null";
    size_t shown = n->len > 40 ? 40 : n->len;
    /* do not cut a UTF-8 sequence in half */
    while (shown > 0 && shown < n->len && ((unsigned char)n->value[shown] & 0xC0) == 0x80)
        shown--;
    char text[48];
    for (size_t i = 0; i < shown; i++) {
        unsigned char ch = (unsigned char)n->value[i];
        text[i] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
    }
    text[shown] = '\0';
    snprintf(buf, cap, "\"%s%s\"", text, shown < n->len ? "..." : "");
    return buf;
}

/* ---- pass 1: events -> tree -------------------------------------------------------- */

typedef struct frame {
    node *n;
    char path[PATH_LEN];
} frame;

typedef struct builder {
    parse_ctx *pc;
    frame stack[MAX_DEPTH];
    int depth;
    size_t nnodes;
    int ndocs;
    node *root;
} builder;

/* The key path of the node about to be added under the innermost open collection. */
static void child_path(const builder *b, char *out, size_t cap)
{
    if (b->depth == 0) {
        out[0] = '\0';
        return;
    }
    const frame *f = &b->stack[b->depth - 1];
    if (f->n->kind == NODE_SEQ)
        join_index(out, cap, f->path, f->n->nkids);
    else if (f->n->nkids % 2 == 1)
        join_key(out, cap, f->path, f->n->kids[f->n->nkids - 1]->value);
    else
        join_key(out, cap, "", f->path);
}

static int attach(builder *b, node *n)
{
    if (b->depth == 0) {
        b->root = n;
        return 0;
    }
    node *parent = b->stack[b->depth - 1].n;
    if (parent->nkids == parent->cap) {
        size_t cap = parent->cap == 0 ? 8 : parent->cap * 2;
        node **kids = realloc(parent->kids, cap * sizeof *kids);
        if (kids == NULL)
            return mtp_error_set(b->pc->err, MTP_ENOMEM, "%s: out of memory", b->pc->name);
        parent->kids = kids;
        parent->cap = cap;
    }
    parent->kids[parent->nkids++] = n;
    return 0;
}

/* Checks a new mapping key against its siblings (libyaml does not). */
static int check_new_key(builder *b, const yaml_event_t *ev)
{
    const frame *f = &b->stack[b->depth - 1];
    const char *key = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    char path[PATH_LEN];
    join_key(path, sizeof path, f->path, key);
    for (size_t i = 0; i < f->n->nkids; i += 2) {
        const node *k = f->n->kids[i];
        if (k->len == len && memcmp(k->value, key, len) == 0)
            return fail_mark(b->pc, &ev->start_mark, path, "duplicate key");
    }
    if (f->n->nkids / 2 >= MAX_MAP_KEYS)
        return fail_mark(b->pc, &ev->start_mark, f->path, "more than 1024 keys in one mapping");
    return 0;
}

static int add_node(builder *b, const yaml_event_t *ev, node_kind kind)
{
    parse_ctx *pc = b->pc;
    char path[PATH_LEN];
    child_path(b, path, sizeof path);
    if (b->nnodes >= MAX_NODES)
        return fail_mark(pc, &ev->start_mark, path, "the document has more than 100000 nodes");
    const frame *parent = b->depth > 0 ? &b->stack[b->depth - 1] : NULL;
    bool is_key = parent != NULL && parent->n->kind == NODE_MAP && parent->n->nkids % 2 == 0;
    if (is_key && kind != NODE_SCALAR)
        return fail_mark(pc, &ev->start_mark, path, "mapping keys must be scalars");
    if (kind != NODE_SCALAR && b->depth >= MAX_DEPTH)
        return fail_mark(pc, &ev->start_mark, path, "nesting deeper than 16 levels");
    if (is_key) {
        int err = check_new_key(b, ev);
        if (err < 0)
            return err;
    }
    node *n = calloc(1, sizeof *n);
    if (n == NULL)
        return mtp_error_set(pc->err, MTP_ENOMEM, "%s: out of memory", pc->name);
    n->kind = kind;
    n->start = ev->start_mark;
    n->end = ev->end_mark;
    if (kind == NODE_SCALAR) {
        yaml_scalar_style_t style = ev->data.scalar.style;
        n->quoted = style != YAML_PLAIN_SCALAR_STYLE;
        n->block = style == YAML_LITERAL_SCALAR_STYLE || style == YAML_FOLDED_SCALAR_STYLE;
        n->len = ev->data.scalar.length;
        n->value = malloc(n->len + 1);
        if (n->value == NULL) {
            free(n);
            return mtp_error_set(pc->err, MTP_ENOMEM, "%s: out of memory", pc->name);
        }
        memcpy(n->value, ev->data.scalar.value, n->len);
        n->value[n->len] = '\0';
    }
    int err = attach(b, n);
    if (err < 0) {
        node_free(n);
        return err;
    }
    b->nnodes++;
    if (kind != NODE_SCALAR) {
        frame *f = &b->stack[b->depth++];
        f->n = n;
        join_key(f->path, sizeof f->path, "", path);
    }
    return 0;
}

/* libyaml reports reader (encoding) errors as a byte offset; turn it into line:col. */
static yaml_mark_t mark_at_offset(const char *text, size_t len, size_t offset)
{
    yaml_mark_t mark = {0, 0, 0};
    for (size_t i = 0; i < offset && i < len; i++) {
        unsigned char ch = (unsigned char)text[i];
        if (ch == '\n') {
            mark.line++;
            mark.column = 0;
        } else if ((ch & 0xC0) != 0x80) {
            mark.column++;
        }
    }
    return mark;
}

static int syntax_error(const parse_ctx *pc, const yaml_parser_t *parser, const char *text,
                        size_t len)
{
    if (parser->error == YAML_MEMORY_ERROR)
        return mtp_error_set(pc->err, MTP_ENOMEM, "%s: out of memory while parsing", pc->name);
    yaml_mark_t mark = parser->problem_mark;
    if (parser->error == YAML_READER_ERROR)
        mark = mark_at_offset(text, len, parser->problem_offset);
    const char *problem = parser->problem != NULL ? parser->problem : "unknown problem";
    if (parser->context != NULL)
        return mtp_error_set(pc->err, MTP_ECONFIG, "%s:%zu:%zu: syntax error: %s (%s)", pc->name,
                             mark.line + 1, mark.column + 1, problem, parser->context);
    return mtp_error_set(pc->err, MTP_ECONFIG, "%s:%zu:%zu: syntax error: %s", pc->name,
                         mark.line + 1, mark.column + 1, problem);
}

static int handle_event(builder *b, const yaml_event_t *ev, bool *done)
{
    char path[PATH_LEN];
    switch (ev->type) {
    case YAML_STREAM_END_EVENT:
        *done = true;
        return 0;
    case YAML_DOCUMENT_START_EVENT:
        if (b->ndocs++ > 0)
            return fail_mark(b->pc, &ev->start_mark, NULL, "only one YAML document is allowed");
        return 0;
    case YAML_ALIAS_EVENT:
        child_path(b, path, sizeof path);
        return fail_mark(b->pc, &ev->start_mark, path, "YAML aliases are not allowed");
    case YAML_SCALAR_EVENT:
        return add_node(b, ev, NODE_SCALAR);
    case YAML_SEQUENCE_START_EVENT:
        return add_node(b, ev, NODE_SEQ);
    case YAML_MAPPING_START_EVENT:
        return add_node(b, ev, NODE_MAP);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        b->depth--;
        return 0;
    default:
        return 0;
    }
}

static int build_tree(parse_ctx *pc, const char *text, size_t len, node **out)
{
    int err = 0;
    builder b;
    memset(&b, 0, sizeof b);
    b.pc = pc;
    *out = NULL;
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return mtp_error_set(pc->err, MTP_ENOMEM, "%s: out of memory", pc->name);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    /* UTF-8 only: no guessing UTF-16 from a BOM, so marks map onto our bytes. */
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
    bool done = false;
    while (!done && err == 0) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            err = syntax_error(pc, &parser, text, len);
            break;
        }
        err = handle_event(&b, &ev, &done);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    if (err == 0 && b.root == NULL)
        err = fail_mark(pc, NULL, NULL, "the document is empty");
    if (err < 0) {
        node_free(b.root);
        return err;
    }
    *out = b.root;
    return 0;
}

/* ---- pass 2: typed getters ----------------------------------------------------------- */

static const node *map_value(const node *map, const char *key)
{
    size_t len = strlen(key);
    for (size_t i = 0; i + 1 < map->nkids; i += 2) {
        const node *k = map->kids[i];
        if (k->len == len && memcmp(k->value, key, len) == 0)
            return map->kids[i + 1];
    }
    return NULL;
}

static bool in_list(const char *const *list, const char *value, size_t len)
{
    for (size_t i = 0; list[i] != NULL; i++)
        if (strlen(list[i]) == len && memcmp(list[i], value, len) == 0)
            return true;
    return false;
}

static int expect_map(const parse_ctx *pc, const node *n, const char *path)
{
    char shown[SHOWN_LEN];
    if (n->kind != NODE_MAP)
        return fail(pc, n, path, "expected a mapping, got %s", describe(n, shown, sizeof shown));
    return 0;
}

/* A mapping whose keys are all in `known` and include every key in `required`. */
static int check_keys(const parse_ctx *pc, const node *map, const char *path,
                      const char *const *known, const char *const *required)
{
    int err = expect_map(pc, map, path);
    if (err < 0)
        return err;
    for (size_t i = 0; i < map->nkids; i += 2) {
        const node *key = map->kids[i];
        if (!in_list(known, key->value, key->len)) {
            char sub[PATH_LEN];
            join_key(sub, sizeof sub, path, key->value);
            return fail(pc, key, sub, "unknown key");
        }
    }
    for (size_t i = 0; required != NULL && required[i] != NULL; i++)
        if (map_value(map, required[i]) == NULL)
            return fail(pc, map, path, "missing required key \"%s\"", required[i]);
    return 0;
}

/* A list with min (0 or 1) to max items; `what` names the items in messages ("creators"). */
static int expect_seq(const parse_ctx *pc, const node *n, const char *path, size_t min, size_t max,
                      const char *what)
{
    char shown[SHOWN_LEN];
    if (n->kind != NODE_SEQ)
        return fail(pc, n, path, "expected a list, got %s", describe(n, shown, sizeof shown));
    if (n->nkids < min)
        return fail(pc, n, path, "must not be empty");
    if (n->nkids > max)
        return fail(pc, n->kids[max], path, "more than %zu %s", max, what);
    return 0;
}

/* A mapping with min..max entries, as the named collections (channels, regions...) are. */
static int expect_named_map(const parse_ctx *pc, const node *n, const char *path, size_t max,
                            const char *what)
{
    int err = expect_map(pc, n, path);
    if (err < 0)
        return err;
    if (n->nkids == 0)
        return fail(pc, n, path, "expected at least one %s", what);
    if (n->nkids / 2 > max)
        return fail(pc, n->kids[2 * max], path, "more than %zu %ss", max, what);
    return 0;
}

enum int_parse { INT_OK, INT_BAD, INT_HUGE };

/* Strict decimal: -?[0-9]+ without leading zeros (YAML 1.1 would read those as octal). */
static enum int_parse parse_int(const char *s, size_t len, int64_t *out)
{
    size_t i = (len > 0 && s[0] == '-') ? 1 : 0;
    if (i == len)
        return INT_BAD;
    for (size_t k = i; k < len; k++)
        if (s[k] < '0' || s[k] > '9')
            return INT_BAD;
    if (s[i] == '0' && len - i > 1)
        return INT_BAD;
    if (len - i > 18)
        return INT_HUGE;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end != s + len)
        return INT_BAD;
    *out = (int64_t)v;
    return INT_OK;
}

static int get_int(const parse_ctx *pc, const node *n, const char *path, int64_t lo, int64_t hi,
                   int64_t *out)
{
    char shown[SHOWN_LEN];
    if (n->kind != NODE_SCALAR || is_null(n))
        return fail(pc, n, path, "expected an integer, got %s", describe(n, shown, sizeof shown));
    if (n->quoted)
        return fail(pc, n, path, "expected an integer, got the string %s",
                    describe(n, shown, sizeof shown));
    int64_t v = 0;
    enum int_parse r = parse_int(n->value, n->len, &v);
    if (r == INT_BAD)
        return fail(pc, n, path, "expected an integer, got %s", describe(n, shown, sizeof shown));
    if (r == INT_HUGE && n->value[0] == '-')
        return fail(pc, n, path, "%s is below the minimum %" PRId64, n->value, lo);
    if (r == INT_HUGE || v > hi)
        return fail(pc, n, path, "%s exceeds the maximum %" PRId64, n->value, hi);
    if (v < lo)
        return fail(pc, n, path, "%" PRId64 " is below the minimum %" PRId64, v, lo);
    *out = v;
    return 0;
}

static int get_int32(const parse_ctx *pc, const node *n, const char *path, int lo, int hi, int *out)
{
    int64_t v = 0;
    int err = get_int(pc, n, path, lo, hi, &v);
    if (err == 0)
        *out = (int)v;
    return err;
}

/* A label code 0..255, with the message the remap/map rules use. */
static int get_code(const parse_ctx *pc, const node *n, const char *path, int *out)
{
    int64_t v = 0;
    int err = get_int(pc, n, path, INT64_MIN, INT64_MAX, &v);
    if (err < 0)
        return err;
    if (v < 0 || v >= MTP_MAX_CODES)
        return fail(pc, n, path, "code %" PRId64 " out of range 0..%d", v, MTP_MAX_CODES - 1);
    *out = (int)v;
    return 0;
}

static int get_bool(const parse_ctx *pc, const node *n, const char *path, bool *out)
{
    char shown[SHOWN_LEN];
    if (n->kind == NODE_SCALAR && !n->quoted && strcmp(n->value, "true") == 0) {
        *out = true;
        return 0;
    }
    if (n->kind == NODE_SCALAR && !n->quoted && strcmp(n->value, "false") == 0) {
        *out = false;
        return 0;
    }
    return fail(pc, n, path, "expected true or false, got %s", describe(n, shown, sizeof shown));
}

typedef enum str_kind {
    STR_NAME,     /* [A-Za-z0-9._-]+, not starting with '.': safe as a file or group name */
    STR_LINE,     /* one line of text, no control characters */
    STR_LONGTEXT, /* may span lines: newlines and tabs allowed */
} str_kind;

static bool name_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '.' || ch == '_' || ch == '-';
}

/* Copies a scalar string into buf (capacity cap) after checking it fits and is well formed. */
static int get_str(const parse_ctx *pc, const node *n, const char *path, char *buf, size_t cap,
                   str_kind kind)
{
    char shown[SHOWN_LEN];
    if (n->kind != NODE_SCALAR || is_null(n))
        return fail(pc, n, path, "expected a string, got %s", describe(n, shown, sizeof shown));
    if (strlen(n->value) != n->len)
        return fail(pc, n, path, "contains a NUL character");
    if (n->len >= cap)
        return fail(pc, n, path, "longer than %zu characters", cap - 1);
    if (n->len == 0)
        return fail(pc, n, path, "must not be empty");
    for (size_t i = 0; i < n->len; i++) {
        unsigned char ch = (unsigned char)n->value[i];
        if (kind == STR_NAME && !name_char((char)ch))
            return fail(pc, n, path, "invalid name %s (allowed: A-Z a-z 0-9 . _ -)",
                        describe(n, shown, sizeof shown));
        bool allowed_ws = kind == STR_LONGTEXT && (ch == '\n' || ch == '\t');
        if ((ch < 0x20 || ch == 0x7f) && !allowed_ws)
            return fail(pc, n, path, "contains a control character");
    }
    if (kind == STR_NAME && n->value[0] == '.')
        return fail(pc, n, path, "invalid name %s (must not start with '.')",
                    describe(n, shown, sizeof shown));
    memcpy(buf, n->value, n->len + 1);
    if (kind == STR_LONGTEXT) {
        /* block scalars end in a newline; the datasheet and attributes do not want it */
        size_t end = n->len;
        while (end > 0 && (buf[end - 1] == '\n' || buf[end - 1] == ' ' || buf[end - 1] == '\t'))
            end--;
        buf[end] = '\0';
    }
    return 0;
}

/* The optional-key variants: absent keys leave the output (the default) untouched. */
static int opt_str(const parse_ctx *pc, const node *map, const char *path, const char *key,
                   char *buf, size_t cap, str_kind kind)
{
    const node *v = map_value(map, key);
    if (v == NULL)
        return 0;
    char sub[PATH_LEN];
    join_key(sub, sizeof sub, path, key);
    return get_str(pc, v, sub, buf, cap, kind);
}

static int opt_int(const parse_ctx *pc, const node *map, const char *path, const char *key, int lo,
                   int hi, int *out)
{
    const node *v = map_value(map, key);
    if (v == NULL)
        return 0;
    char sub[PATH_LEN];
    join_key(sub, sizeof sub, path, key);
    return get_int32(pc, v, sub, lo, hi, out);
}

static int opt_bool(const parse_ctx *pc, const node *map, const char *path, const char *key,
                    bool *out)
{
    const node *v = map_value(map, key);
    if (v == NULL)
        return 0;
    char sub[PATH_LEN];
    join_key(sub, sizeof sub, path, key);
    return get_bool(pc, v, sub, out);
}

/* [start, stop) with 0 <= start < stop <= MTP_MAX_COORD. */
static int get_range(const parse_ctx *pc, const node *n, const char *path, mtp_range *out)
{
    char shown[SHOWN_LEN];
    if (n->kind != NODE_SEQ)
        return fail(pc, n, path, "expected [start, stop], got %s",
                    describe(n, shown, sizeof shown));
    if (n->nkids != 2)
        return fail(pc, n, path, "expected [start, stop], got a list of %zu items", n->nkids);
    int64_t start = 0, stop = 0;
    int err = get_int(pc, n->kids[0], path, 0, MTP_MAX_COORD, &start);
    if (err == 0)
        err = get_int(pc, n->kids[1], path, 0, MTP_MAX_COORD, &stop);
    if (err < 0)
        return err;
    if (start >= stop)
        return fail(pc, n, path, "start %" PRId64 " >= stop %" PRId64, start, stop);
    out->start = start;
    out->stop = stop;
    return 0;
}

/* ---- shared validators (also used by mtp_config_override) --------------------------- */

/* NULL when `in` is a valid source URL (then the normalised form is in out), else why not. */
static const char *normalize_source_url(const char *in, size_t len, char *out, size_t cap)
{
    if (strlen(in) != len)
        return "contains a NUL character";
    if (len >= cap)
        return "longer than 511 characters";
    size_t skip = 0;
    if (strncmp(in, "http://", 7) == 0)
        skip = 7;
    else if (strncmp(in, "https://", 8) == 0)
        skip = 8;
    else
        return "expected http:// or https:// followed by host[:port]";
    size_t end = len;
    if (end > skip && in[end - 1] == '/')
        end--;
    const char *host = in + skip;
    size_t hlen = end - skip;
    if (hlen == 0)
        return "missing host";
    if (memchr(host, '@', hlen) != NULL)
        return "must not contain user information";
    if (memchr(host, '/', hlen) || memchr(host, '?', hlen) || memchr(host, '#', hlen))
        return "must not contain a path, query or fragment (expected scheme://host[:port])";
    size_t i = 0;
    if (host[0] == '[') {
        /* an IPv6 literal */
        i = 1;
        while (i < hlen && host[i] != ']') {
            char ch = host[i];
            bool hex =
                (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
            if (!hex && ch != ':' && ch != '.')
                return "invalid host";
            i++;
        }
        if (i == hlen || i < 3)
            return "invalid host";
        i++;
    } else {
        while (i < hlen && (name_char(host[i]) && host[i] != '_'))
            i++;
        if (i == 0 || host[0] == '.' || host[0] == '-')
            return "invalid host";
    }
    if (i < hlen) {
        if (host[i] != ':')
            return "invalid host";
        size_t digits = hlen - i - 1;
        const char *port = host + i + 1;
        if (digits == 0 || digits > 5 || port[0] == '0')
            return "invalid port";
        long value = 0;
        for (size_t k = 0; k < digits; k++) {
            if (port[k] < '0' || port[k] > '9')
                return "invalid port";
            value = value * 10 + (port[k] - '0');
        }
        if (value > 65535)
            return "invalid port";
    }
    memcpy(out, in, end);
    out[end] = '\0';
    return NULL;
}

static const char *check_env_name(const char *name)
{
    size_t len = strlen(name);
    if (len == 0)
        return "expected an environment variable name, got an empty string";
    if (len >= MTP_NAME_MAX)
        return "longer than 63 characters";
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || ch == '_' ||
                  (i > 0 && ch >= '0' && ch <= '9');
        if (!ok)
            return "expected an environment variable name ([A-Za-z_][A-Za-z0-9_]*)";
    }
    return NULL;
}

/* Tokens go into an HTTP header: printable ASCII, no spaces, nothing that splits lines. */
static const char *check_token(const char *token, size_t len)
{
    if (len == 0)
        return "is empty";
    if (len >= MTP_TEXT_MAX)
        return "is longer than 511 characters";
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)token[i] <= 0x20 || (unsigned char)token[i] >= 0x7f)
            return "holds characters other than printable ASCII without spaces";
    return NULL;
}

/*
 * Reads the token from environment variable `var` (named by the config or the command
 * line, never implicitly). On failure `why` says what is wrong without the value.
 */
static int token_from_env(const char *var, char *token, char *why, size_t whycap)
{
    const char *value = getenv(var);
    if (value == NULL) {
        snprintf(why, whycap, "environment variable %s is not set", var);
        return -1;
    }
    if (value[0] == '\0') {
        snprintf(why, whycap, "environment variable %s is empty", var);
        return -1;
    }
    const char *bad = check_token(value, strlen(value));
    if (bad != NULL) {
        snprintf(why, whycap, "the token in environment variable %s %s", var, bad);
        return -1;
    }
    memcpy(token, value, strlen(value) + 1);
    return 0;
}

/* ---- release ------------------------------------------------------------------------- */

static bool digits_at(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static bool valid_date(const char *s)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' || !digits_at(s, 4) || !digits_at(s + 5, 2) ||
        !digits_at(s + 8, 2))
        return false;
    int year = atoi(s), month = atoi(s + 5), day = atoi(s + 8);
    static const int days[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month < 1 || month > 12 || day < 1 || day > days[month - 1])
        return false;
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return !(month == 2 && day == 29 && !leap);
}

static bool valid_orcid(const char *s)
{
    if (strlen(s) != 19)
        return false;
    for (int i = 0; i < 19; i++) {
        if (i % 5 == 4) {
            if (s[i] != '-')
                return false;
        } else if (!(s[i] >= '0' && s[i] <= '9') && !(i == 18 && s[i] == 'X')) {
            return false;
        }
    }
    return true;
}

/* A landing-page URL: http(s)://, something after it, no spaces. */
static bool valid_web_url(const char *s)
{
    size_t skip = strncmp(s, "http://", 7) == 0 ? 7 : strncmp(s, "https://", 8) == 0 ? 8 : 0;
    return skip > 0 && s[skip] != '\0' && s[skip] != '/' && strchr(s, ' ') == NULL;
}

static int check_web_url(const parse_ctx *pc, const node *map, const char *path, const char *key,
                         const char *value)
{
    if (value[0] == '\0' || valid_web_url(value))
        return 0;
    char sub[PATH_LEN];
    join_key(sub, sizeof sub, path, key);
    return fail(pc, map_value(map, key), sub, "expected an http:// or https:// URL");
}

static int parse_person(const parse_ctx *pc, const node *n, const char *path, mtp_person *p)
{
    if (n->kind == NODE_SCALAR)
        return get_str(pc, n, path, p->name, sizeof p->name, STR_LINE);
    static const char *const known[] = {"name", "affiliation", "orcid", NULL};
    static const char *const required[] = {"name", NULL};
    int err = check_keys(pc, n, path, known, required);
    if (err == 0)
        err = opt_str(pc, n, path, "name", p->name, sizeof p->name, STR_LINE);
    if (err == 0)
        err = opt_str(pc, n, path, "affiliation", p->affiliation, sizeof p->affiliation, STR_LINE);
    if (err == 0)
        err = opt_str(pc, n, path, "orcid", p->orcid, sizeof p->orcid, STR_LINE);
    if (err == 0 && p->orcid[0] != '\0' && !valid_orcid(p->orcid)) {
        char sub[PATH_LEN];
        join_key(sub, sizeof sub, path, "orcid");
        err = fail(pc, map_value(n, "orcid"), sub, "expected an ORCID iD like 0000-0002-1825-0097");
    }
    return err;
}

static int parse_citation(const parse_ctx *pc, const node *n, const char *path, mtp_citation *c)
{
    if (n->kind == NODE_SCALAR)
        return get_str(pc, n, path, c->text, sizeof c->text, STR_LONGTEXT);
    static const char *const known[] = {"text", "doi", "title", "year", "venue", "authors", NULL};
    static const char *const required[] = {"text", NULL};
    char sub[PATH_LEN];
    int err = check_keys(pc, n, path, known, required);
    if (err == 0)
        err = opt_str(pc, n, path, "text", c->text, sizeof c->text, STR_LONGTEXT);
    if (err == 0)
        err = opt_str(pc, n, path, "doi", c->doi, sizeof c->doi, STR_LINE);
    if (err == 0 && c->doi[0] != '\0' &&
        (strncmp(c->doi, "10.", 3) != 0 || strchr(c->doi, '/') == NULL ||
         strchr(c->doi, ' ') != NULL)) {
        join_key(sub, sizeof sub, path, "doi");
        err = fail(pc, map_value(n, "doi"), sub, "expected a DOI like 10.1038/s41597-020-00692-y");
    }
    if (err == 0)
        err = opt_str(pc, n, path, "title", c->title, sizeof c->title, STR_LINE);
    if (err == 0)
        err = opt_int(pc, n, path, "year", 1, 9999, &c->year);
    if (err == 0)
        err = opt_str(pc, n, path, "venue", c->venue, sizeof c->venue, STR_LINE);
    const node *authors = map_value(n, "authors");
    if (err == 0 && authors != NULL) {
        join_key(sub, sizeof sub, path, "authors");
        err = expect_seq(pc, authors, sub, 1, MTP_MAX_CREATORS, "authors");
        for (size_t i = 0; err == 0 && i < authors->nkids; i++) {
            char item[PATH_LEN];
            join_index(item, sizeof item, sub, i);
            err =
                get_str(pc, authors->kids[i], item, c->authors[i], sizeof c->authors[i], STR_LINE);
        }
        if (err == 0)
            c->nauthors = (int)authors->nkids;
    }
    return err;
}

static int parse_release(const parse_ctx *pc, const node *n, mtp_release *r)
{
    static const char *const known[] = {"name",      "version",  "title", "description",
                                        "license",   "date",     "url",   "creators",
                                        "citations", "keywords", NULL};
    static const char *const required[] = {"name",    "version",  "title", "description",
                                           "license", "creators", NULL};
    const char *path = "release";
    char sub[PATH_LEN], item[PATH_LEN];
    int err = check_keys(pc, n, path, known, required);
    if (err == 0)
        err = opt_str(pc, n, path, "name", r->name, sizeof r->name, STR_NAME);
    if (err == 0)
        err = opt_str(pc, n, path, "version", r->version, sizeof r->version, STR_NAME);
    if (err == 0)
        err = opt_str(pc, n, path, "title", r->title, sizeof r->title, STR_LINE);
    if (err == 0)
        err = opt_str(pc, n, path, "description", r->description, sizeof r->description,
                      STR_LONGTEXT);
    if (err == 0)
        err = opt_str(pc, n, path, "license", r->license, sizeof r->license, STR_LINE);
    if (err == 0)
        err = opt_str(pc, n, path, "date", r->date, sizeof r->date, STR_LINE);
    if (err == 0 && r->date[0] != '\0' && !valid_date(r->date)) {
        char shown[SHOWN_LEN];
        const node *v = map_value(n, "date");
        err = fail(pc, v, "release.date", "expected a date YYYY-MM-DD, got %s",
                   describe(v, shown, sizeof shown));
    }
    if (err == 0)
        err = opt_str(pc, n, path, "url", r->url, sizeof r->url, STR_LINE);
    if (err == 0)
        err = check_web_url(pc, n, path, "url", r->url);

    const node *creators = map_value(n, "creators");
    join_key(sub, sizeof sub, path, "creators");
    if (err == 0)
        err = expect_seq(pc, creators, sub, 1, MTP_MAX_CREATORS, "creators");
    for (size_t i = 0; err == 0 && i < creators->nkids; i++) {
        join_index(item, sizeof item, sub, i);
        err = parse_person(pc, creators->kids[i], item, &r->creators[i]);
        r->ncreators = (int)i + 1;
    }

    const node *citations = map_value(n, "citations");
    join_key(sub, sizeof sub, path, "citations");
    if (err == 0 && citations != NULL) {
        err = expect_seq(pc, citations, sub, 0, MTP_MAX_CITATIONS, "citations");
        for (size_t i = 0; err == 0 && i < citations->nkids; i++) {
            join_index(item, sizeof item, sub, i);
            err = parse_citation(pc, citations->kids[i], item, &r->citations[i]);
            r->ncitations = (int)i + 1;
        }
    }

    const node *keywords = map_value(n, "keywords");
    join_key(sub, sizeof sub, path, "keywords");
    if (err == 0 && keywords != NULL) {
        err = expect_seq(pc, keywords, sub, 0, MTP_MAX_KEYWORDS, "keywords");
        for (size_t i = 0; err == 0 && i < keywords->nkids; i++) {
            join_index(item, sizeof item, sub, i);
            err = get_str(pc, keywords->kids[i], item, r->keywords[i], sizeof r->keywords[i],
                          STR_LINE);
            r->nkeywords = (int)i + 1;
        }
    }
    return err;
}

/* ---- source -------------------------------------------------------------------------- */

static int parse_block(const parse_ctx *pc, const node *n, const char *path, int64_t block[3])
{
    char shown[SHOWN_LEN];
    if (n->kind != NODE_SEQ || n->nkids != 3)
        return fail(pc, n, path, "expected [x, y, z], got %s",
                    n->kind == NODE_SEQ ? "a list of another length"
                                        : describe(n, shown, sizeof shown));
    for (int axis = 0; axis < 3; axis++) {
        int64_t v = 0;
        int err = get_int(pc, n->kids[axis], path, 1, MTP_MAX_BLOCK, &v);
        if (err < 0)
            return err;
        int64_t c = cuboid_size[axis];
        if (v % c != 0 && c % v != 0)
            return fail(pc, n->kids[axis], path,
                        "%" PRId64 " on axis %c neither divides nor is a multiple of the "
                        "cuboid size %" PRId64,
                        v, axis_names[axis], c);
        block[axis] = v;
    }
    return 0;
}

static int parse_source(parse_ctx *pc, const node *n, mtp_source *s)
{
    static const char *const known[] = {"url",        "token",          "token_env", "resolution",
                                        "block",      "jobs",           "retries",   "timeout_s",
                                        "backoff_ms", "backoff_max_ms", NULL};
    static const char *const required[] = {"url", NULL};
    const char *path = "source";
    const node *v = NULL;
    const char *why = NULL;
    int err = check_keys(pc, n, path, known, required);
    if (err < 0)
        return err;

    char raw[MTP_TEXT_MAX];
    v = map_value(n, "url");
    err = get_str(pc, v, "source.url", raw, sizeof raw, STR_LINE);
    if (err == 0) {
        why = normalize_source_url(raw, strlen(raw), s->url, sizeof s->url);
        if (why != NULL)
            err = fail(pc, v, "source.url", "%s", why);
    }
    if (err < 0)
        return err;

    const node *token = map_value(n, "token");
    const node *token_env = map_value(n, "token_env");
    if (token != NULL && token_env != NULL)
        return fail(pc, token_env, "source.token_env", "mutually exclusive with source.token");
    if (token != NULL) {
        char shown[SHOWN_LEN];
        /* describe() echoes only non-null scalars, which never get here */
        if (token->kind != NODE_SCALAR || is_null(token))
            return fail(pc, token, "source.token", "expected a string, got %s",
                        describe(token, shown, sizeof shown));
        if (token->block)
            return fail(pc, token, "source.token", "must be a plain or quoted scalar");
        why = strlen(token->value) != token->len ? "contains a NUL character"
              : pc->no_token                     ? NULL
                                                 : check_token(token->value, token->len);
        if (why != NULL)
            return fail(pc, token, "source.token", "%s", why);
        memcpy(s->token, token->value, token->len + 1);
        pc->token_node = token;
    }
    if (token_env != NULL) {
        err =
            get_str(pc, token_env, "source.token_env", s->token_env, sizeof s->token_env, STR_LINE);
        if (err < 0)
            return err;
        why = check_env_name(s->token_env);
        if (why != NULL)
            return fail(pc, token_env, "source.token_env", "%s", why);
        char because[MTP_TEXT_MAX];
        if (!pc->no_token && token_from_env(s->token_env, s->token, because, sizeof because) < 0)
            return fail(pc, token_env, "source.token_env", "%s", because);
    }

    err = opt_int(pc, n, path, "resolution", 0, MAX_RESOLUTION, &s->resolution);
    v = map_value(n, "block");
    if (err == 0 && v != NULL)
        err = parse_block(pc, v, "source.block", s->block);
    if (err == 0)
        err = opt_int(pc, n, path, "jobs", 1, MTP_MAX_JOBS, &s->jobs);
    if (err == 0)
        err = opt_int(pc, n, path, "retries", 0, MTP_MAX_RETRIES, &s->retries);
    if (err == 0)
        err = opt_int(pc, n, path, "timeout_s", 1, MAX_TIMEOUT_S, &s->timeout_s);
    if (err == 0)
        err = opt_int(pc, n, path, "backoff_ms", 1, MAX_BACKOFF_MS, &s->backoff_ms);
    if (err == 0)
        err = opt_int(pc, n, path, "backoff_max_ms", 1, MAX_BACKOFF_MAX_MS, &s->backoff_max_ms);
    if (err == 0 && s->backoff_max_ms < s->backoff_ms) {
        v = map_value(n, "backoff_max_ms");
        err = fail(pc, v != NULL ? v : n, "source.backoff_max_ms", "%d is below backoff_ms %d",
                   s->backoff_max_ms, s->backoff_ms);
    }
    return err;
}

/* ---- channels, regions, z, splits ------------------------------------------------------ */

/* Splits "bossdb://coll/exp/chan" into its three parts. */
static bool split_boss_uri(const char *uri, mtp_channel *ch)
{
    static const char prefix[] = "bossdb://";
    if (strncmp(uri, prefix, sizeof prefix - 1) != 0)
        return false;
    const char *p = uri + sizeof prefix - 1;
    char *parts[3] = {ch->collection, ch->experiment, ch->channel};
    for (int k = 0; k < 3; k++) {
        size_t len = 0;
        while (p[len] != '\0' && p[len] != '/') {
            char c = p[len];
            bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '-';
            if (!ok)
                return false;
            len++;
        }
        if (len == 0 || len >= MTP_NAME_MAX)
            return false;
        memcpy(parts[k], p, len);
        parts[k][len] = '\0';
        p += len;
        if (k < 2) {
            if (*p != '/')
                return false;
            p++;
        }
    }
    return *p == '\0';
}

static int parse_channels(const parse_ctx *pc, const node *n, mtp_config *cfg)
{
    const char *path = "channels";
    int err = expect_named_map(pc, n, path, MTP_MAX_CHANNELS, "channel");
    for (size_t i = 0; err == 0 && i < n->nkids; i += 2) {
        mtp_channel *ch = &cfg->channels[i / 2];
        char sub[PATH_LEN];
        join_key(sub, sizeof sub, path, n->kids[i]->value);
        err = get_str(pc, n->kids[i], sub, ch->name, sizeof ch->name, STR_NAME);
        if (err == 0)
            err = get_str(pc, n->kids[i + 1], sub, ch->uri, sizeof ch->uri, STR_LINE);
        if (err == 0 && !split_boss_uri(ch->uri, ch))
            err = fail(pc, n->kids[i + 1], sub,
                       "expected bossdb://collection/experiment/channel (parts of "
                       "A-Z a-z 0-9 _ -, each at most 63 characters)");
        cfg->nchannels = (int)(i / 2) + 1;
    }
    return err;
}

static int parse_regions(const parse_ctx *pc, const node *n, mtp_config *cfg)
{
    static const char *const known[] = {"x", "y", NULL};
    const char *path = "regions";
    int err = expect_named_map(pc, n, path, MTP_MAX_REGIONS, "region");
    for (size_t i = 0; err == 0 && i < n->nkids; i += 2) {
        mtp_region *r = &cfg->regions[i / 2];
        const node *box = n->kids[i + 1];
        char sub[PATH_LEN], axis[PATH_LEN];
        join_key(sub, sizeof sub, path, n->kids[i]->value);
        err = get_str(pc, n->kids[i], sub, r->name, sizeof r->name, STR_NAME);
        if (err == 0)
            err = check_keys(pc, box, sub, known, known);
        join_key(axis, sizeof axis, sub, "x");
        if (err == 0)
            err = get_range(pc, map_value(box, "x"), axis, &r->x);
        join_key(axis, sizeof axis, sub, "y");
        if (err == 0)
            err = get_range(pc, map_value(box, "y"), axis, &r->y);
        cfg->nregions = (int)(i / 2) + 1;
        /* tiles of all regions are stacked into one array, so they must be the same size */
        const mtp_region *first = &cfg->regions[0];
        int64_t w = r->x.stop - r->x.start, h = r->y.stop - r->y.start;
        int64_t w0 = first->x.stop - first->x.start, h0 = first->y.stop - first->y.start;
        if (err == 0 && (w != w0 || h != h0))
            err = fail(pc, box, sub,
                       "size %" PRId64 " x %" PRId64 " differs from %" PRId64 " x %" PRId64
                       " of region \"%s\" (all regions must have the same size)",
                       w, h, w0, h0, first->name);
    }
    return err;
}

/* A build holds one region's cube of every channel in memory at a time (a byte per voxel):
 * a region too large for that is refused now, not after the whole fetch. All regions have
 * one size (parse_regions), so the first one speaks for all. */
static int check_region_size(const parse_ctx *pc, const node *regions, const mtp_config *cfg)
{
    const mtp_region *r = &cfg->regions[0];
    uint64_t w = (uint64_t)(r->x.stop - r->x.start), h = (uint64_t)(r->y.stop - r->y.start);
    uint64_t d = (uint64_t)(cfg->z.stop - cfg->z.start);
    char path[PATH_LEN];
    join_key(path, sizeof path, "regions", r->name);
    if (w > MTP_MAX_REGION_EDGE || h > MTP_MAX_REGION_EDGE)
        return fail(pc, map_value(regions, r->name), path,
                    "%" PRIu64 " x %" PRIu64 " pixels: a region (and so a tile) is at most %d "
                    "pixels on a side",
                    w, h, MTP_MAX_REGION_EDGE);
    if (w * h * d > MTP_MAX_REGION_VOXELS)
        return fail(pc, map_value(regions, r->name), path,
                    "%" PRIu64 " x %" PRIu64 " x %" PRIu64 " voxels (with z) is over the cap of "
                    "%llu voxels per region (a region's cubes are held in memory)",
                    w, h, d, (unsigned long long)MTP_MAX_REGION_VOXELS);
    return 0;
}

static int parse_splits(const parse_ctx *pc, const node *n, mtp_config *cfg)
{
    const char *path = "splits";
    int err = expect_named_map(pc, n, path, MTP_MAX_SPLITS, "split");
    for (size_t i = 0; err == 0 && i < n->nkids; i += 2) {
        mtp_split *s = &cfg->splits[i / 2];
        char sub[PATH_LEN];
        join_key(sub, sizeof sub, path, n->kids[i]->value);
        err = get_str(pc, n->kids[i], sub, s->name, sizeof s->name, STR_NAME);
        if (err == 0)
            err = get_range(pc, n->kids[i + 1], sub, &s->z);
        if (err == 0 && (s->z.start < cfg->z.start || s->z.stop > cfg->z.stop))
            err = fail(pc, n->kids[i + 1], sub,
                       "[%" PRId64 ", %" PRId64 ") lies outside z [%" PRId64 ", %" PRId64 ")",
                       s->z.start, s->z.stop, cfg->z.start, cfg->z.stop);
        cfg->nsplits = (int)(i / 2) + 1;
    }
    return err;
}

/* ---- tasks --------------------------------------------------------------------------- */

enum { KIND_CLS = 1, KIND_SEG = 2, KIND_FEA = 4, KIND_ANY = 7 };

static const struct task_key {
    const char *key;
    unsigned kinds; /* which task kinds may use it */
} task_keys[] = {
    {"kind", KIND_ANY},    {"labels", KIND_ANY},           {"images", KIND_ANY},
    {"rule", KIND_CLS},    {"classes", KIND_ANY},          {"map", KIND_CLS},
    {"exclude", KIND_ANY}, {"remap", KIND_SEG | KIND_FEA}, {"depth", KIND_ANY},
    {"splits", KIND_ANY},  {"quadrant", KIND_FEA},
};

static const char *const default_feature_classes[] = {"background", "vessel", "cell", "axon"};
static const char *const default_task_splits[] = {"train", "val", "test"};

static int task_kind(const parse_ctx *pc, const node *n, const char *path, mtp_task *t)
{
    enum { NKEYS = sizeof task_keys / sizeof task_keys[0] };
    const char *known[NKEYS + 1];
    for (size_t k = 0; k < NKEYS; k++)
        known[k] = task_keys[k].key;
    known[NKEYS] = NULL;
    static const char *const required[] = {"kind", "labels", NULL};
    char sub[PATH_LEN], kind[MTP_NAME_MAX];
    int err = check_keys(pc, n, path, known, required);
    join_key(sub, sizeof sub, path, "kind");
    if (err == 0)
        err = get_str(pc, map_value(n, "kind"), sub, kind, sizeof kind, STR_NAME);
    if (err < 0)
        return err;
    static const mtp_task_kind kinds[] = {MTP_TASK_CLASSIFICATION, MTP_TASK_SEGMENTATION,
                                          MTP_TASK_FEATURES};
    static const unsigned kind_bits[] = {KIND_CLS, KIND_SEG, KIND_FEA};
    unsigned kind_bit = 0;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        if (strcmp(kind, mtp_task_kind_name(kinds[k])) == 0) {
            t->kind = kinds[k];
            kind_bit = kind_bits[k];
        }
    if (kind_bit == 0)
        return fail(pc, map_value(n, "kind"), sub,
                    "unknown kind \"%s\" (expected classification, segmentation or features)",
                    kind);
    for (size_t i = 0; i < n->nkids; i += 2)
        for (size_t k = 0; k < NKEYS; k++)
            if (strcmp(n->kids[i]->value, task_keys[k].key) == 0 &&
                (task_keys[k].kinds & kind_bit) == 0) {
                join_key(sub, sizeof sub, path, task_keys[k].key);
                return fail(pc, n->kids[i], sub, "not allowed in a %s task",
                            mtp_task_kind_name(t->kind));
            }
    return 0;
}

/* `labels` (required) and `images` (default "image") name channels. */
static int task_channel(const parse_ctx *pc, const node *n, const char *path, const char *key,
                        const char *fallback, int *out)
{
    char sub[PATH_LEN], name[MTP_NAME_MAX];
    join_key(sub, sizeof sub, path, key);
    const node *v = map_value(n, key);
    if (v == NULL) {
        *out = mtp_config_channel(pc->cfg, fallback);
        if (*out < 0)
            return fail(pc, n, sub, "unknown channel \"%s\" (the default)", fallback);
        return 0;
    }
    int err = get_str(pc, v, sub, name, sizeof name, STR_NAME);
    if (err < 0)
        return err;
    *out = mtp_config_channel(pc->cfg, name);
    if (*out < 0)
        return fail(pc, v, sub, "unknown channel \"%s\"", name);
    return 0;
}

static int task_classes(const parse_ctx *pc, const node *n, const char *path, mtp_task *t)
{
    char sub[PATH_LEN], item[PATH_LEN];
    join_key(sub, sizeof sub, path, "classes");
    const node *v = map_value(n, "classes");
    if (v == NULL) {
        if (t->kind != MTP_TASK_FEATURES)
            return fail(pc, n, path, "missing required key \"classes\"");
        t->nclasses = 4;
        for (int i = 0; i < 4; i++)
            snprintf(t->classes[i], sizeof t->classes[i], "%s", default_feature_classes[i]);
        return 0;
    }
    int err = expect_seq(pc, v, sub, 1, MTP_MAX_CLASSES, "classes");
    for (size_t i = 0; err == 0 && i < v->nkids; i++) {
        join_index(item, sizeof item, sub, i);
        char *name = t->classes[i];
        err = get_str(pc, v->kids[i], item, name, MTP_NAME_MAX, STR_NAME);
        if (err == 0 && mtp_config_class(t, name) >= 0)
            err = fail(pc, v->kids[i], item, "duplicate class \"%s\"", name);
        if (err == 0)
            t->nclasses = (int)i + 1;
    }
    return err;
}

/* classification: `map` class name -> list of source codes; each code once, each class. */
static int task_map(const parse_ctx *pc, const node *n, const char *path, mtp_task *t)
{
    char sub[PATH_LEN], cls_path[PATH_LEN], name[MTP_NAME_MAX];
    join_key(sub, sizeof sub, path, "map");
    const node *map = map_value(n, "map");
    if (map == NULL)
        return fail(pc, n, path, "missing required key \"map\"");
    int err = expect_map(pc, map, sub);
    bool seen[MTP_MAX_CLASSES] = {false};
    for (size_t i = 0; err == 0 && i < map->nkids; i += 2) {
        const node *key = map->kids[i], *codes = map->kids[i + 1];
        join_key(cls_path, sizeof cls_path, sub, key->value);
        err = get_str(pc, key, cls_path, name, sizeof name, STR_NAME);
        int cls = err == 0 ? mtp_config_class(t, name) : -1;
        if (err == 0 && cls < 0)
            err = fail(pc, key, cls_path, "unknown class \"%s\"", name);
        if (err == 0)
            err = expect_seq(pc, codes, cls_path, 1, MTP_MAX_CODES, "codes");
        for (size_t k = 0; err == 0 && k < codes->nkids; k++) {
            int code = 0;
            err = get_code(pc, codes->kids[k], cls_path, &code);
            if (err == 0 && t->code_class[code] >= 0)
                err =
                    fail(pc, codes->kids[k], cls_path, "code %d is already mapped to class \"%s\"",
                         code, t->classes[t->code_class[code]]);
            if (err == 0)
                t->code_class[code] = cls;
        }
        if (err == 0)
            seen[cls] = true;
    }
    for (int c = 0; err == 0 && c < t->nclasses; c++)
        if (!seen[c])
            err = fail(pc, map, sub, "missing class \"%s\"", t->classes[c]);
    return err;
}

/* segmentation/features: identity for the declared classes, then `remap` code -> class. */
static int task_remap(const parse_ctx *pc, const node *n, const char *path, mtp_task *t)
{
    for (int c = 0; c < t->nclasses; c++)
        t->code_class[c] = c;
    const node *remap = map_value(n, "remap");
    if (remap == NULL)
        return 0;
    char sub[PATH_LEN];
    join_key(sub, sizeof sub, path, "remap");
    int err = expect_map(pc, remap, sub);
    bool seen[MTP_MAX_CODES] = {false};
    for (size_t i = 0; err == 0 && i < remap->nkids; i += 2) {
        int code = 0;
        int64_t cls = 0;
        err = get_code(pc, remap->kids[i], sub, &code);
        if (err == 0 && seen[code])
            err = fail(pc, remap->kids[i], sub, "code %d appears twice", code);
        if (err == 0)
            err = get_int(pc, remap->kids[i + 1], sub, INT64_MIN, INT64_MAX, &cls);
        if (err == 0 && (cls < 0 || cls >= t->nclasses))
            err = fail(pc, remap->kids[i + 1], sub, "class %" PRId64 " out of range 0..%d", cls,
                       t->nclasses - 1);
        if (err == 0) {
            seen[code] = true;
            t->code_class[code] = (int)cls;
        }
    }
    return err;
}

static int task_exclude(const parse_ctx *pc, const node *n, const char *path, mtp_task *t)
{
    const node *v = map_value(n, "exclude");
    if (v == NULL)
        return 0;
    char sub[PATH_LEN], name[MTP_NAME_MAX];
    join_key(sub, sizeof sub, path, "exclude");
    int err = expect_seq(pc, v, sub, 0, MTP_MAX_REGIONS, "regions");
    int nexcluded = 0;
    for (size_t i = 0; err == 0 && i < v->nkids; i++) {
        err = get_str(pc, v->kids[i], sub, name, sizeof name, STR_NAME);
        int r = err == 0 ? mtp_config_region(pc->cfg, name) : -1;
        if (err == 0 && r < 0)
            err = fail(pc, v->kids[i], sub, "unknown region \"%s\"", name);
        if (err == 0 && t->excluded[r])
            err = fail(pc, v->kids[i], sub, "duplicate region \"%s\"", name);
        if (err == 0) {
            t->excluded[r] = true;
            nexcluded++;
        }
    }
    if (err == 0 && nexcluded == pc->cfg->nregions)
        err = fail(pc, v, sub, "every region is excluded");
    return err;
}

static int task_splits(const parse_ctx *pc, const node *n, const char *path, mtp_task *t)
{
    char sub[PATH_LEN], name[MTP_NAME_MAX];
    join_key(sub, sizeof sub, path, "splits");
    const node *v = map_value(n, "splits");
    if (v == NULL) {
        for (int i = 0; i < 3; i++) {
            t->splits[i] = mtp_config_split(pc->cfg, default_task_splits[i]);
            if (t->splits[i] < 0)
                return fail(pc, n, sub, "unknown split \"%s\" (the default is [train, val, test])",
                            default_task_splits[i]);
        }
        t->nsplits = 3;
        return 0;
    }
    int err = expect_seq(pc, v, sub, 1, MTP_MAX_SPLITS, "splits");
    for (size_t i = 0; err == 0 && i < v->nkids; i++) {
        err = get_str(pc, v->kids[i], sub, name, sizeof name, STR_NAME);
        int s = err == 0 ? mtp_config_split(pc->cfg, name) : -1;
        if (err == 0 && s < 0)
            err = fail(pc, v->kids[i], sub, "unknown split \"%s\"", name);
        for (size_t k = 0; err == 0 && k < i; k++)
            if (t->splits[k] == s)
                err = fail(pc, v->kids[i], sub, "duplicate split \"%s\"", name);
        if (err == 0) {
            t->splits[i] = s;
            t->nsplits = (int)i + 1;
        }
    }
    return err;
}

static int task_quadrant(const parse_ctx *pc, const node *n, const char *path, mtp_task *t)
{
    t->quadrant = 128;
    if (t->kind != MTP_TASK_FEATURES)
        return 0;
    char sub[PATH_LEN];
    join_key(sub, sizeof sub, path, "quadrant");
    const node *v = map_value(n, "quadrant");
    int err = v != NULL ? get_int32(pc, v, sub, 1, MTP_MAX_COORD, &t->quadrant) : 0;
    if (err < 0)
        return err;
    const mtp_region *r = &pc->cfg->regions[0];
    int64_t w = r->x.stop - r->x.start, h = r->y.stop - r->y.start;
    if (w % t->quadrant != 0 || h % t->quadrant != 0)
        return fail(pc, v != NULL ? v : n, sub,
                    "%d does not divide the region size %" PRId64 " x %" PRId64, t->quadrant, w, h);
    return 0;
}

static int parse_task(const parse_ctx *pc, const node *key, const node *n, mtp_task *t)
{
    char path[PATH_LEN], sub[PATH_LEN];
    join_key(path, sizeof path, "tasks", key->value);
    for (int c = 0; c < MTP_MAX_CODES; c++)
        t->code_class[c] = -1;
    int err = get_str(pc, key, path, t->name, sizeof t->name, STR_NAME);
    if (err == 0)
        err = task_kind(pc, n, path, t);
    if (err == 0)
        err = task_channel(pc, n, path, "images", "image", &t->image_channel);
    if (err == 0)
        err = task_channel(pc, n, path, "labels", "", &t->label_channel);
    snprintf(t->rule, sizeof t->rule, "%s", t->kind == MTP_TASK_CLASSIFICATION ? "roi_mode" : "");
    const node *rule = map_value(n, "rule");
    join_key(sub, sizeof sub, path, "rule");
    if (err == 0 && rule != NULL) {
        err = get_str(pc, rule, sub, t->rule, sizeof t->rule, STR_NAME);
        if (err == 0 && strcmp(t->rule, "roi_mode") != 0)
            err = fail(pc, rule, sub, "unknown rule \"%s\" (expected roi_mode)", t->rule);
    }
    if (err == 0)
        err = task_classes(pc, n, path, t);
    if (err == 0)
        err = t->kind == MTP_TASK_CLASSIFICATION ? task_map(pc, n, path, t)
                                                 : task_remap(pc, n, path, t);
    if (err == 0)
        err = task_exclude(pc, n, path, t);
    t->depth = 1;
    if (err == 0)
        err = opt_int(pc, n, path, "depth", 1, MAX_DEPTH_SLICES, &t->depth);
    /* classification labels and feature targets are per slice */
    if (err == 0 && t->depth != 1 && t->kind != MTP_TASK_SEGMENTATION) {
        join_key(sub, sizeof sub, path, "depth");
        err = fail(pc, map_value(n, "depth"), sub, "%s tasks need depth 1",
                   mtp_task_kind_name(t->kind));
    }
    if (err == 0)
        err = task_splits(pc, n, path, t);
    if (err == 0)
        err = task_quadrant(pc, n, path, t);
    return err;
}

static int parse_tasks(const parse_ctx *pc, const node *n, mtp_config *cfg)
{
    int err = expect_named_map(pc, n, "tasks", MTP_MAX_TASKS, "task");
    for (size_t i = 0; err == 0 && i < n->nkids; i += 2) {
        err = parse_task(pc, n->kids[i], n->kids[i + 1], &cfg->tasks[i / 2]);
        cfg->ntasks = (int)(i / 2) + 1;
    }
    return err;
}

/* ---- output and the whole document ------------------------------------------------------ */

static int parse_output(const parse_ctx *pc, const node *n, mtp_output *o)
{
    static const char *const known[] = {"compression", "level", "volumes",
                                        "previews",    "mtime", NULL};
    const char *path = "output";
    char name[MTP_NAME_MAX];
    int err = check_keys(pc, n, path, known, NULL);
    const node *v = map_value(n, "compression");
    if (err == 0 && v != NULL) {
        err = get_str(pc, v, "output.compression", name, sizeof name, STR_NAME);
        if (err == 0 && strcmp(name, "gzip") == 0)
            o->compression = MTP_COMPRESS_GZIP;
        else if (err == 0 && strcmp(name, "blosc") == 0)
            err = fail(pc, v, "output.compression",
                       "blosc is not implemented (its files would need the hdf5plugin filter to "
                       "be read); use gzip or none");
        else if (err == 0 && strcmp(name, "none") == 0)
            o->compression = MTP_COMPRESS_NONE;
        else if (err == 0)
            err = fail(pc, v, "output.compression",
                       "unknown compression \"%s\" (expected gzip or none)", name);
    }
    if (err == 0)
        err = opt_int(pc, n, path, "level", 0, 9, &o->level);
    if (err == 0)
        err = opt_bool(pc, n, path, "volumes", &o->volumes);
    if (err == 0)
        err = opt_bool(pc, n, path, "previews", &o->previews);
    v = map_value(n, "mtime");
    if (err == 0 && v != NULL)
        err = get_int(pc, v, "output.mtime", 0, MAX_MTIME, &o->mtime);
    return err;
}

static void set_defaults(mtp_config *cfg)
{
    mtp_source *s = &cfg->source;
    snprintf(s->token, sizeof s->token, "%s", "public");
    s->resolution = 0;
    s->block[0] = 512;
    s->block[1] = 512;
    s->block[2] = 64;
    s->jobs = 4;
    s->retries = 8;
    s->timeout_s = 120;
    s->backoff_ms = 500;
    s->backoff_max_ms = 30000;
    cfg->output.compression = MTP_COMPRESS_GZIP;
    cfg->output.level = 4;
    cfg->output.volumes = false;
    cfg->output.previews = true;
    cfg->output.mtime = 0;
}

static int parse_root(parse_ctx *pc, const node *root)
{
    static const char *const known[] = {"release", "source", "channels", "regions", "z",
                                        "splits",  "tasks",  "output",   NULL};
    static const char *const required[] = {"release", "source", "channels", "regions",
                                           "z",       "splits", "tasks",    NULL};
    mtp_config *cfg = pc->cfg;
    char shown[SHOWN_LEN];
    if (root->kind != NODE_MAP)
        return fail(pc, root, NULL, "expected a mapping at the top level, got %s",
                    describe(root, shown, sizeof shown));
    int err = check_keys(pc, root, "", known, required);
    if (err == 0)
        err = parse_release(pc, map_value(root, "release"), &cfg->release);
    if (err == 0)
        err = parse_source(pc, map_value(root, "source"), &cfg->source);
    if (err == 0)
        err = parse_channels(pc, map_value(root, "channels"), cfg);
    if (err == 0)
        err = parse_regions(pc, map_value(root, "regions"), cfg);
    if (err == 0)
        err = get_range(pc, map_value(root, "z"), "z", &cfg->z);
    if (err == 0)
        err = check_region_size(pc, map_value(root, "regions"), cfg);
    if (err == 0)
        err = parse_splits(pc, map_value(root, "splits"), cfg);
    if (err == 0)
        err = parse_tasks(pc, map_value(root, "tasks"), cfg);
    const node *output = map_value(root, "output");
    if (err == 0 && output != NULL)
        err = parse_output(pc, output, &cfg->output);
    return err;
}

/* ---- digest and redaction -------------------------------------------------------------- */

/* Byte offset of character number `index` (libyaml counts UTF-8 sequences as one). */
static size_t byte_offset(const char *text, size_t len, size_t index)
{
    size_t chars = 0;
    for (size_t i = 0; i < len; i++) {
        if (((unsigned char)text[i] & 0xC0) != 0x80) {
            if (chars == index)
                return i;
            chars++;
        }
    }
    return len;
}

static bool contains(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
    for (size_t i = 0; nlen <= hlen && i <= hlen - nlen; i++)
        if (memcmp(hay + i, needle, nlen) == 0)
            return true;
    return false;
}

/*
 * config.yaml in a release is this text: the token scalar (with any anchor or tag on it)
 * becomes "<redacted>" and every other byte stays. A token that also appears elsewhere
 * (a comment, a description) would survive that, so it is refused.
 */
static int redact(const parse_ctx *pc, const char *text, size_t len, mtp_config *cfg)
{
    static const char mask[] = "\"<redacted>\"";
    const node *tok = pc->token_node;
    bool secret = tok != NULL && strcmp(cfg->source.token, "public") != 0;
    size_t b0 = 0, b1 = 0, out_len = len;
    if (secret) {
        b0 = byte_offset(text, len, tok->start.index);
        b1 = byte_offset(text, len, tok->end.index);
        out_len = len - (b1 - b0) + (sizeof mask - 1);
    }
    char *out = malloc(out_len + 1);
    if (out == NULL)
        return mtp_error_set(pc->err, MTP_ENOMEM, "%s: out of memory", pc->name);
    if (secret) {
        memcpy(out, text, b0);
        memcpy(out + b0, mask, sizeof mask - 1);
        memcpy(out + b0 + sizeof mask - 1, text + b1, len - b1);
    } else if (len > 0) {
        memcpy(out, text, len);
    }
    out[out_len] = '\0';
    if (secret && contains(out, out_len, tok->value, tok->len)) {
        free(out);
        return fail(pc, tok, "source.token",
                    "the token's value also appears elsewhere in the file, so it cannot be "
                    "redacted (use source.token_env)");
    }
    cfg->redacted_text = out;
    cfg->redacted_len = out_len;
    return 0;
}

/* ---- public API -------------------------------------------------------------------------- */

static int parse_text(mtp_config **out, const char *name, const char *text, size_t len,
                      bool no_token, mtp_error *err)
{
    if (out == NULL || name == NULL || (text == NULL && len > 0))
        return mtp_error_set(err, MTP_EINVAL, "mtp_config_parse: invalid argument");
    *out = NULL;
    if (text == NULL)
        text = "";
    if (len > MAX_FILE_BYTES)
        return mtp_error_set(err, MTP_ECONFIG, "%s: file is larger than 1 MiB", name);
    if (strlen(name) >= MTP_TEXT_MAX)
        return mtp_error_set(err, MTP_ECONFIG, "%.64s...: path longer than %d characters", name,
                             MTP_TEXT_MAX - 1);
    int rc = 0;
    node *root = NULL;
    mtp_config *cfg = calloc(1, sizeof *cfg);
    if (cfg == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "%s: out of memory", name);
    parse_ctx pc = {name, err, cfg, NULL, no_token};
    snprintf(cfg->path, sizeof cfg->path, "%s", name);
    set_defaults(cfg);
    rc = build_tree(&pc, text, len, &root);
    if (rc == 0)
        rc = parse_root(&pc, root);
    if (rc == 0 && mtp_sha256_hex(text, len, cfg->sha256) < 0)
        rc = mtp_error_set(err, MTP_ENOMEM, "%s: SHA-256 failed", name);
    if (rc == 0)
        rc = redact(&pc, text, len, cfg);
    node_free(root);
    if (rc == 0 && no_token)
        memset(cfg->source.token, 0, sizeof cfg->source.token);
    if (rc < 0) {
        mtp_config_free(cfg);
        cfg = NULL;
    }
    *out = cfg;
    return rc;
}

int mtp_config_parse(mtp_config **out, const char *name, const char *text, size_t len,
                     mtp_error *err)
{
    return parse_text(out, name, text, len, false, err);
}

/* Reads at most MAX_FILE_BYTES + 1 bytes, so a huge file is refused without reading it all. */
static int read_config_file(const char *path, char **text, size_t *len, mtp_error *err)
{
    int rc = 0;
    size_t cap = MAX_FILE_BYTES + 1, used = 0;
    char *buf = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = mtp_error_set(err, MTP_ECONFIG, "%s: cannot read: %s", path, strerror(errno));
        goto out;
    }
    buf = malloc(cap);
    if (buf == NULL) {
        rc = mtp_error_set(err, MTP_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    while (used < cap) {
        ssize_t got = read(fd, buf + used, cap - used);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = mtp_error_set(err, MTP_ECONFIG, "%s: cannot read: %s", path, strerror(errno));
            goto out;
        }
        if (got == 0)
            break;
        used += (size_t)got;
    }
    if (used > MAX_FILE_BYTES)
        rc = mtp_error_set(err, MTP_ECONFIG, "%s: file is larger than 1 MiB", path);
out:
    if (fd >= 0)
        close(fd);
    if (rc < 0) {
        free(buf);
        buf = NULL;
        used = 0;
    }
    *text = buf;
    *len = used;
    return rc;
}

static int load_file(mtp_config **out, const char *path, bool no_token, mtp_error *err)
{
    if (out == NULL || path == NULL)
        return mtp_error_set(err, MTP_EINVAL, "mtp_config_load: invalid argument");
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    int rc = read_config_file(path, &text, &len, err);
    if (rc == 0)
        rc = parse_text(out, path, text, len, no_token, err);
    free(text);
    return rc;
}

int mtp_config_load(mtp_config **out, const char *path, mtp_error *err)
{
    return load_file(out, path, false, err);
}

int mtp_config_load_copy(mtp_config **out, const char *path, mtp_error *err)
{
    return load_file(out, path, true, err);
}

int mtp_config_override(mtp_config *cfg, const char *source_url, const char *token_env,
                        mtp_error *err)
{
    if (cfg == NULL)
        return mtp_error_set(err, MTP_EINVAL, "mtp_config_override: cfg is NULL");
    char url[MTP_TEXT_MAX], token[MTP_TEXT_MAX], why[MTP_TEXT_MAX];
    const char *bad = NULL;
    /* validate both before changing anything, so a failed override leaves cfg as it was */
    if (source_url != NULL) {
        bad = normalize_source_url(source_url, strlen(source_url), url, sizeof url);
        if (bad != NULL)
            return mtp_error_set(err, MTP_ECONFIG, "--source-url: %s", bad);
    }
    if (token_env != NULL) {
        bad = check_env_name(token_env);
        if (bad != NULL)
            return mtp_error_set(err, MTP_ECONFIG, "--token-env: %s", bad);
        if (token_from_env(token_env, token, why, sizeof why) < 0)
            return mtp_error_set(err, MTP_ECONFIG, "--token-env: %s", why);
    }
    if (source_url != NULL)
        memcpy(cfg->source.url, url, strlen(url) + 1);
    if (token_env != NULL) {
        memcpy(cfg->source.token, token, strlen(token) + 1);
        memcpy(cfg->source.token_env, token_env, strlen(token_env) + 1);
    }
    return 0;
}

int mtp_config_channel(const mtp_config *cfg, const char *name)
{
    for (int i = 0; cfg != NULL && name != NULL && i < cfg->nchannels; i++)
        if (strcmp(cfg->channels[i].name, name) == 0)
            return i;
    return -1;
}

int mtp_config_region(const mtp_config *cfg, const char *name)
{
    for (int i = 0; cfg != NULL && name != NULL && i < cfg->nregions; i++)
        if (strcmp(cfg->regions[i].name, name) == 0)
            return i;
    return -1;
}

int mtp_config_split(const mtp_config *cfg, const char *name)
{
    for (int i = 0; cfg != NULL && name != NULL && i < cfg->nsplits; i++)
        if (strcmp(cfg->splits[i].name, name) == 0)
            return i;
    return -1;
}

int mtp_config_task(const mtp_config *cfg, const char *name)
{
    for (int i = 0; cfg != NULL && name != NULL && i < cfg->ntasks; i++)
        if (strcmp(cfg->tasks[i].name, name) == 0)
            return i;
    return -1;
}

int mtp_config_class(const mtp_task *t, const char *name)
{
    for (int c = 0; c < t->nclasses && c < MTP_MAX_CLASSES; c++)
        if (strncmp(t->classes[c], name, MTP_NAME_MAX) == 0)
            return c;
    return -1;
}

const char *mtp_task_kind_name(mtp_task_kind kind)
{
    switch (kind) {
    case MTP_TASK_CLASSIFICATION:
        return "classification";
    case MTP_TASK_SEGMENTATION:
        return "segmentation";
    case MTP_TASK_FEATURES:
        return "features";
    }
    return "unknown";
}

bool mtp_config_channel_is_image(const mtp_config *cfg, int c)
{
    for (int t = 0; t < cfg->ntasks && t < MTP_MAX_TASKS; t++)
        if (cfg->tasks[t].image_channel == c)
            return true;
    return false;
}

void mtp_config_free(mtp_config *cfg)
{
    if (cfg == NULL)
        return;
    /* the token lived in this struct: do not leave it in freed memory */
    OPENSSL_cleanse(cfg->source.token, sizeof cfg->source.token);
    free(cfg->redacted_text);
    free(cfg);
}
