/*
 * config_yaml.c — pass 1 of the config loader: libyaml events -> a small tree of our own
 * (scalars, lists, mappings, each with its start mark), enforcing the document-level rules
 * libyaml leaves to us: no aliases (so nothing can expand), no duplicate keys, scalar keys
 * only, one document, caps on size, depth and node count; and the typed getters pass 2 uses.
 *
 * libyaml marks count characters, not bytes (a UTF-8 sequence is one), and lines and
 * columns from 0; errors print both 1-based.
 */
#include "config_yaml.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 16
#define MAX_NODES 100000
#define MAX_MAP_KEYS 1024 /* keeps the duplicate-key scan cheap; real maps hold <= 256 */

/* ---- the document tree ------------------------------------------------------------- */

void mtp_cfg_node_free(node *n)
{
    if (n == NULL)
        return;
    for (size_t i = 0; i < n->nkids; i++)
        mtp_cfg_node_free(n->kids[i]);
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

int mtp_cfg_fail(const parse_ctx *pc, const node *at, const char *path, const char *fmt, ...)
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

void mtp_cfg_join_key(char *out, size_t cap, const char *path, const char *key)
{
    size_t pos = 0;
    out[0] = '\0';
    append(out, cap, &pos, path);
    if (path[0] != '\0')
        append(out, cap, &pos, ".");
    append(out, cap, &pos, key);
}

void mtp_cfg_join_index(char *out, size_t cap, const char *path, size_t index)
{
    char digits[32];
    size_t pos = 0;
    snprintf(digits, sizeof digits, "[%zu]", index);
    out[0] = '\0';
    append(out, cap, &pos, path);
    append(out, cap, &pos, digits);
}

bool mtp_cfg_is_null(const node *n)
{
    if (n->kind != NODE_SCALAR || n->quoted)
        return false;
    return n->len == 0 || strcmp(n->value, "~") == 0 || strcmp(n->value, "null") == 0 ||
           strcmp(n->value, "Null") == 0 || strcmp(n->value, "NULL") == 0;
}

/* A short, printable rendering of a node for "got ..." messages. Never used on tokens. */
const char *mtp_cfg_describe(const node *n, char *buf, size_t cap)
{
    if (n->kind == NODE_SEQ)
        return "a list";
    if (n->kind == NODE_MAP)
        return "a mapping";
    if (mtp_cfg_is_null(n))
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
        mtp_cfg_join_index(out, cap, f->path, f->n->nkids);
    else if (f->n->nkids % 2 == 1)
        mtp_cfg_join_key(out, cap, f->path, f->n->kids[f->n->nkids - 1]->value);
    else
        mtp_cfg_join_key(out, cap, "", f->path);
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
    mtp_cfg_join_key(path, sizeof path, f->path, key);
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
        mtp_cfg_node_free(n);
        return err;
    }
    b->nnodes++;
    if (kind != NODE_SCALAR) {
        frame *f = &b->stack[b->depth++];
        f->n = n;
        mtp_cfg_join_key(f->path, sizeof f->path, "", path);
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

int mtp_cfg_build_tree(parse_ctx *pc, const char *text, size_t len, node **out)
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
        mtp_cfg_node_free(b.root);
        return err;
    }
    *out = b.root;
    return 0;
}

/* ---- pass 2: typed getters ----------------------------------------------------------- */

const node *mtp_cfg_map_value(const node *map, const char *key)
{
    size_t len = strlen(key);
    for (size_t i = 0; i + 1 < map->nkids; i += 2) {
        const node *k = map->kids[i];
        if (k->len == len && memcmp(k->value, key, len) == 0)
            return map->kids[i + 1];
    }
    return NULL;
}

bool mtp_cfg_in_list(const char *const *list, const char *value, size_t len)
{
    for (size_t i = 0; list[i] != NULL; i++)
        if (strlen(list[i]) == len && memcmp(list[i], value, len) == 0)
            return true;
    return false;
}

int mtp_cfg_expect_map(const parse_ctx *pc, const node *n, const char *path)
{
    char shown[SHOWN_LEN];
    if (n->kind != NODE_MAP)
        return mtp_cfg_fail(pc, n, path, "expected a mapping, got %s",
                            mtp_cfg_describe(n, shown, sizeof shown));
    return 0;
}

/* A mapping whose keys are all in `known` and include every key in `required`. */
int mtp_cfg_check_keys(const parse_ctx *pc, const node *map, const char *path,
                       const char *const *known, const char *const *required)
{
    int err = mtp_cfg_expect_map(pc, map, path);
    if (err < 0)
        return err;
    for (size_t i = 0; i < map->nkids; i += 2) {
        const node *key = map->kids[i];
        if (!mtp_cfg_in_list(known, key->value, key->len)) {
            char sub[PATH_LEN];
            mtp_cfg_join_key(sub, sizeof sub, path, key->value);
            return mtp_cfg_fail(pc, key, sub, "unknown key");
        }
    }
    for (size_t i = 0; required != NULL && required[i] != NULL; i++)
        if (mtp_cfg_map_value(map, required[i]) == NULL)
            return mtp_cfg_fail(pc, map, path, "missing required key \"%s\"", required[i]);
    return 0;
}

/* A list with min (0 or 1) to max items; `what` names the items in messages ("creators"). */
int mtp_cfg_expect_seq(const parse_ctx *pc, const node *n, const char *path, size_t min, size_t max,
                       const char *what)
{
    char shown[SHOWN_LEN];
    if (n->kind != NODE_SEQ)
        return mtp_cfg_fail(pc, n, path, "expected a list, got %s",
                            mtp_cfg_describe(n, shown, sizeof shown));
    if (n->nkids < min)
        return mtp_cfg_fail(pc, n, path, "must not be empty");
    if (n->nkids > max)
        return mtp_cfg_fail(pc, n->kids[max], path, "more than %zu %s", max, what);
    return 0;
}

/* A mapping with min..max entries, as the named collections (channels, regions...) are. */
int mtp_cfg_expect_named_map(const parse_ctx *pc, const node *n, const char *path, size_t max,
                             const char *what)
{
    int err = mtp_cfg_expect_map(pc, n, path);
    if (err < 0)
        return err;
    if (n->nkids == 0)
        return mtp_cfg_fail(pc, n, path, "expected at least one %s", what);
    if (n->nkids / 2 > max)
        return mtp_cfg_fail(pc, n->kids[2 * max], path, "more than %zu %ss", max, what);
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

int mtp_cfg_get_int(const parse_ctx *pc, const node *n, const char *path, int64_t lo, int64_t hi,
                    int64_t *out)
{
    char shown[SHOWN_LEN];
    if (n->kind != NODE_SCALAR || mtp_cfg_is_null(n))
        return mtp_cfg_fail(pc, n, path, "expected an integer, got %s",
                            mtp_cfg_describe(n, shown, sizeof shown));
    if (n->quoted)
        return mtp_cfg_fail(pc, n, path, "expected an integer, got the string %s",
                            mtp_cfg_describe(n, shown, sizeof shown));
    int64_t v = 0;
    enum int_parse r = parse_int(n->value, n->len, &v);
    if (r == INT_BAD)
        return mtp_cfg_fail(pc, n, path, "expected an integer, got %s",
                            mtp_cfg_describe(n, shown, sizeof shown));
    if (r == INT_HUGE && n->value[0] == '-')
        return mtp_cfg_fail(pc, n, path, "%s is below the minimum %" PRId64, n->value, lo);
    if (r == INT_HUGE || v > hi)
        return mtp_cfg_fail(pc, n, path, "%s exceeds the maximum %" PRId64, n->value, hi);
    if (v < lo)
        return mtp_cfg_fail(pc, n, path, "%" PRId64 " is below the minimum %" PRId64, v, lo);
    *out = v;
    return 0;
}

int mtp_cfg_get_int32(const parse_ctx *pc, const node *n, const char *path, int lo, int hi,
                      int *out)
{
    int64_t v = 0;
    int err = mtp_cfg_get_int(pc, n, path, lo, hi, &v);
    if (err == 0)
        *out = (int)v;
    return err;
}

/* A label code 0..255, with the message the remap/map rules use. */
int mtp_cfg_get_code(const parse_ctx *pc, const node *n, const char *path, int *out)
{
    int64_t v = 0;
    int err = mtp_cfg_get_int(pc, n, path, INT64_MIN, INT64_MAX, &v);
    if (err < 0)
        return err;
    if (v < 0 || v >= MTP_MAX_CODES)
        return mtp_cfg_fail(pc, n, path, "code %" PRId64 " out of range 0..%d", v,
                            MTP_MAX_CODES - 1);
    *out = (int)v;
    return 0;
}

int mtp_cfg_get_bool(const parse_ctx *pc, const node *n, const char *path, bool *out)
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
    return mtp_cfg_fail(pc, n, path, "expected true or false, got %s",
                        mtp_cfg_describe(n, shown, sizeof shown));
}

bool mtp_cfg_name_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '.' || ch == '_' || ch == '-';
}

/* Copies a scalar string into buf (capacity cap) after checking it fits and is well formed. */
int mtp_cfg_get_str(const parse_ctx *pc, const node *n, const char *path, char *buf, size_t cap,
                    str_kind kind)
{
    char shown[SHOWN_LEN];
    if (n->kind != NODE_SCALAR || mtp_cfg_is_null(n))
        return mtp_cfg_fail(pc, n, path, "expected a string, got %s",
                            mtp_cfg_describe(n, shown, sizeof shown));
    if (strlen(n->value) != n->len)
        return mtp_cfg_fail(pc, n, path, "contains a NUL character");
    if (n->len >= cap)
        return mtp_cfg_fail(pc, n, path, "longer than %zu characters", cap - 1);
    if (n->len == 0)
        return mtp_cfg_fail(pc, n, path, "must not be empty");
    for (size_t i = 0; i < n->len; i++) {
        unsigned char ch = (unsigned char)n->value[i];
        if (kind == STR_NAME && !mtp_cfg_name_char((char)ch))
            return mtp_cfg_fail(pc, n, path, "invalid name %s (allowed: A-Z a-z 0-9 . _ -)",
                                mtp_cfg_describe(n, shown, sizeof shown));
        bool allowed_ws = kind == STR_LONGTEXT && (ch == '\n' || ch == '\t');
        if ((ch < 0x20 || ch == 0x7f) && !allowed_ws)
            return mtp_cfg_fail(pc, n, path, "contains a control character");
    }
    if (kind == STR_NAME && n->value[0] == '.')
        return mtp_cfg_fail(pc, n, path, "invalid name %s (must not start with '.')",
                            mtp_cfg_describe(n, shown, sizeof shown));
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
int mtp_cfg_opt_str(const parse_ctx *pc, const node *map, const char *path, const char *key,
                    char *buf, size_t cap, str_kind kind)
{
    const node *v = mtp_cfg_map_value(map, key);
    if (v == NULL)
        return 0;
    char sub[PATH_LEN];
    mtp_cfg_join_key(sub, sizeof sub, path, key);
    return mtp_cfg_get_str(pc, v, sub, buf, cap, kind);
}

int mtp_cfg_opt_int(const parse_ctx *pc, const node *map, const char *path, const char *key, int lo,
                    int hi, int *out)
{
    const node *v = mtp_cfg_map_value(map, key);
    if (v == NULL)
        return 0;
    char sub[PATH_LEN];
    mtp_cfg_join_key(sub, sizeof sub, path, key);
    return mtp_cfg_get_int32(pc, v, sub, lo, hi, out);
}

int mtp_cfg_opt_bool(const parse_ctx *pc, const node *map, const char *path, const char *key,
                     bool *out)
{
    const node *v = mtp_cfg_map_value(map, key);
    if (v == NULL)
        return 0;
    char sub[PATH_LEN];
    mtp_cfg_join_key(sub, sizeof sub, path, key);
    return mtp_cfg_get_bool(pc, v, sub, out);
}

/* [start, stop) with 0 <= start < stop <= MTP_MAX_COORD. */
int mtp_cfg_get_range(const parse_ctx *pc, const node *n, const char *path, mtp_range *out)
{
    char shown[SHOWN_LEN];
    if (n->kind != NODE_SEQ)
        return mtp_cfg_fail(pc, n, path, "expected [start, stop], got %s",
                            mtp_cfg_describe(n, shown, sizeof shown));
    if (n->nkids != 2)
        return mtp_cfg_fail(pc, n, path, "expected [start, stop], got a list of %zu items",
                            n->nkids);
    int64_t start = 0, stop = 0;
    int err = mtp_cfg_get_int(pc, n->kids[0], path, 0, MTP_MAX_COORD, &start);
    if (err == 0)
        err = mtp_cfg_get_int(pc, n->kids[1], path, 0, MTP_MAX_COORD, &stop);
    if (err < 0)
        return err;
    if (start >= stop)
        return mtp_cfg_fail(pc, n, path, "start %" PRId64 " >= stop %" PRId64, start, stop);
    out->start = start;
    out->stop = stop;
    return 0;
}
