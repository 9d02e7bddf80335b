/*
 * config_yaml.h — private to the library: the YAML side of the config loader. config_yaml.c
 * reads libyaml events into a small tree of our own (pass 1) and offers typed getters whose
 * errors name the file, line, column and dotted key path (MTP_ECONFIG); config.c and
 * config_tasks.c walk the tree section by section (pass 2).
 */
#ifndef MTP_CONFIG_YAML_H
#define MTP_CONFIG_YAML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

#include "mtp/config.h"
#include "mtp/error.h"

#define PATH_LEN 384 /* dotted key paths in messages */
#define SHOWN_LEN 96 /* "got ..." renderings of a value */

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

typedef enum str_kind {
    STR_NAME,     /* [A-Za-z0-9._-]+, not starting with '.': safe as a file or group name */
    STR_LINE,     /* one line of text, no control characters */
    STR_LONGTEXT, /* may span lines: newlines and tabs allowed */
} str_kind;

void mtp_cfg_node_free(node *n);

int mtp_cfg_fail(const parse_ctx *pc, const node *at, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

void mtp_cfg_join_key(char *out, size_t cap, const char *path, const char *key);

void mtp_cfg_join_index(char *out, size_t cap, const char *path, size_t index);

bool mtp_cfg_is_null(const node *n);

/* A short, printable rendering of a node for "got ..." messages. Never used on tokens. */
const char *mtp_cfg_describe(const node *n, char *buf, size_t cap);

int mtp_cfg_build_tree(parse_ctx *pc, const char *text, size_t len, node **out);

const node *mtp_cfg_map_value(const node *map, const char *key);

bool mtp_cfg_in_list(const char *const *list, const char *value, size_t len);

int mtp_cfg_expect_map(const parse_ctx *pc, const node *n, const char *path);

/* A mapping whose keys are all in `known` and include every key in `required`. */
int mtp_cfg_check_keys(const parse_ctx *pc, const node *map, const char *path,
                       const char *const *known, const char *const *required);

/* A list with min (0 or 1) to max items; `what` names the items in messages ("creators"). */
int mtp_cfg_expect_seq(const parse_ctx *pc, const node *n, const char *path, size_t min, size_t max,
                       const char *what);

/* A mapping with min..max entries, as the named collections (channels, regions...) are. */
int mtp_cfg_expect_named_map(const parse_ctx *pc, const node *n, const char *path, size_t max,
                             const char *what);

int mtp_cfg_get_int(const parse_ctx *pc, const node *n, const char *path, int64_t lo, int64_t hi,
                    int64_t *out);

int mtp_cfg_get_int32(const parse_ctx *pc, const node *n, const char *path, int lo, int hi,
                      int *out);

/* A label code 0..255, with the message the remap/map rules use. */
int mtp_cfg_get_code(const parse_ctx *pc, const node *n, const char *path, int *out);

int mtp_cfg_get_bool(const parse_ctx *pc, const node *n, const char *path, bool *out);

bool mtp_cfg_name_char(char ch);

/* Copies a scalar string into buf (capacity cap) after checking it fits and is well formed. */
int mtp_cfg_get_str(const parse_ctx *pc, const node *n, const char *path, char *buf, size_t cap,
                    str_kind kind);

/* The optional-key variants: absent keys leave the output (the default) untouched. */
int mtp_cfg_opt_str(const parse_ctx *pc, const node *map, const char *path, const char *key,
                    char *buf, size_t cap, str_kind kind);

int mtp_cfg_opt_int(const parse_ctx *pc, const node *map, const char *path, const char *key, int lo,
                    int hi, int *out);

int mtp_cfg_opt_bool(const parse_ctx *pc, const node *map, const char *path, const char *key,
                     bool *out);

/* [start, stop) with 0 <= start < stop <= MTP_MAX_COORD. */
int mtp_cfg_get_range(const parse_ctx *pc, const node *n, const char *path, mtp_range *out);

/* config_tasks.c: the `tasks` section into pc->cfg (the sections it refers to are parsed). */
int mtp_cfg_parse_tasks(const parse_ctx *pc, const node *n, mtp_config *cfg);

#endif
