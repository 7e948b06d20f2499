/* SPDX-License-Identifier: MIT */
/*
 * spec_file.c - loads a Lua spec file: runs it in the sandbox, turns each
 * attention { ... } call into an auegen_spec_desc, validates it, and reports
 * every problem as "file:line: message" (the line of the offending field).
 */
#include "gen_internal.h"

#include <assert.h>
#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    SPEC_FILE_MAX_BYTES = 1 << 20,
    SPEC_FILE_MAX_KERNELS = 256,
    SPEC_MEMORY_LIMIT = 32 << 20,
};
#define SPEC_MEMORY_LIMIT_TEXT "32 MiB"
#define SPEC_INSTRUCTION_LIMIT 20000000L
#define SPEC_SECONDS 1.0            /* wall clock: a real spec takes well under a millisecond */

struct auegen_spec_file {
    char *name;
    char *source;              /* NUL-terminated copy of the text */
    size_t source_len;
    auegen_spec *specs;
    int *lines;                /* line of each spec's attention call */
    int count;
    int error_line;            /* where the run stopped with an error (0: unknown) */
    auegen_diag diag;
};

/* --- field lines ------------------------------------------------------------ */

static const char *line_start(const char *src, int line)
{
    const char *p = src;
    for (int l = 1; l < line && p; l++) {
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return p;
}

static bool is_word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Where [p, end) contains `word` as a whole word followed by '=' (not '=='), or NULL. */
static const char *line_assigns(const char *p, const char *end, const char *word)
{
    size_t n = strlen(word);
    for (const char *q = p; q + n <= end; q++) {
        if (memcmp(q, word, n) != 0 || (q > p && is_word_char(q[-1])) || (q + n < end && is_word_char(q[n])))
            continue;
        const char *r = q + n;
        while (r < end && (*r == ' ' || *r == '\t'))
            r++;
        if (r < end && *r == '=' && !(r + 1 < end && r[1] == '='))
            return q;
    }
    return NULL;
}

/* The line where `field = ...` is written for the attention call on call_line,
 * or call_line when the field is not spelled out there. *pos gets the offset
 * in the source of what was found (the start of call_line when not found):
 * the errors of one call are reported in that order. */
static int field_line(const auegen_spec_file *f, int call_line, const char *field, size_t *pos)
{
    *pos = 0;
    if (call_line <= 0)
        return call_line;
    const char *p = line_start(f->source, call_line);
    if (!p)
        return call_line;
    *pos = (size_t)(p - f->source);
    if (!field || !*field)
        return call_line;
    for (int line = call_line; p && *p; line++) {
        const char *end = strchr(p, '\n');
        if (!end)
            end = p + strlen(p);
        if (line > call_line) {
            for (const char *q = p; q + 9 <= end; q++) {
                if (memcmp(q, "attention", 9) == 0 && (q == p || !is_word_char(q[-1]))
                    && (q + 9 == end || !is_word_char(q[9])))
                    return call_line;       /* the next kernel starts: not written */
            }
        }
        const char *at = line_assigns(p, end, field);
        if (at) {
            *pos = (size_t)(at - f->source);
            return line;
        }
        p = *end ? end + 1 : NULL;
    }
    return call_line;
}

/* --- reading the attention { } table ------------------------------------------ */

/* Bit i stands for field i of the table (include/auegen_spec_fields.h). */
static_assert(AUEGEN__SPEC_FIELD_COUNT <= 32, "call_state's field bits need a wider type");

static unsigned field_bit(const char *field)
{
    const auegen__spec_field *f = auegen__spec_field_find(field);
    return f ? 1u << (f - auegen__spec_fields) : 0;
}

/* Errors of one call are collected, then reported in source order: Lua's table
 * iteration order is not the order the fields are written in. */
enum { CALL_MAX_ERRORS = 2 * AUEGEN_MAX_ERRORS + 8 };

typedef struct call_error_rec {
    size_t pos;
    auegen_error e;
} call_error_rec;

typedef struct call_state {
    auegen_spec_file *file;
    lua_State *L;
    int line;
    auegen_spec_desc desc;
    char name[AUEGEN_MAX_NAME + 1];
    unsigned seen;              /* field_bit of each field written */
    unsigned failed;            /* field_bit of each field already reported */
    unsigned suggested;         /* field_bit of each "did you mean" given */
    bool bad;
    int nerr;
    bool overflow;
    call_error_rec err[CALL_MAX_ERRORS];
} call_state;

static void call_add(call_state *c, const char *field, const char *msg)
{
    char top[32] = "";                      /* "window.left" is written under "window" */
    if (field)
        snprintf(top, sizeof top, "%.*s", (int)strcspn(field, "."), field);
    c->failed |= field_bit(top);
    c->bad = true;
    if (c->nerr >= CALL_MAX_ERRORS) {
        c->overflow = true;
        return;
    }
    call_error_rec *r = &c->err[c->nerr++];
    snprintf(r->e.field, sizeof r->e.field, "%s", field ? field : "");
    snprintf(r->e.message, sizeof r->e.message, "%s", msg);
    r->e.line = field_line(c->file, c->line, top, &r->pos);
}

static void call_error(call_state *c, const char *field, const char *fmt, ...) AUEGEN_PRINTF(3, 4);
static void call_error(call_state *c, const char *field, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    call_add(c, field, msg);
}

static int compare_errors(const void *pa, const void *pb)
{
    const call_error_rec *a = pa, *b = pb;
    if (a->pos != b->pos)
        return a->pos < b->pos ? -1 : 1;
    return strcmp(a->e.message, b->e.message);
}

/* Moves the call's errors, in source order, to the file's list. */
static void call_flush(call_state *c)
{
    qsort(c->err, (size_t)c->nerr, sizeof c->err[0], compare_errors);
    auegen_diag *d = &c->file->diag;
    for (int i = 0; i < c->nerr; i++)
        auegen__diag_add(d, c->err[i].e.field, c->err[i].e.line, "%s", c->err[i].e.message);
    if (c->overflow)
        d->truncated = true;
    c->nerr = 0;
}

/* What a value is, for "(got ...)": strings quoted, numbers and booleans as
 * written, anything else by its type. */
static const char *describe(lua_State *L, int idx, char *buf, size_t size)
{
    switch (lua_type(L, idx)) {
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        snprintf(buf, size, "\"%.40s%s\"", s, len > 40 ? "..." : "");
        break;
    }
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            snprintf(buf, size, "%lld", (long long)lua_tointeger(L, idx));
        else
            snprintf(buf, size, "%.14g", (double)lua_tonumber(L, idx));
        break;
    case LUA_TBOOLEAN:
        snprintf(buf, size, "%s", lua_toboolean(L, idx) ? "true" : "false");
        break;
    default:
        snprintf(buf, size, "%s", luaL_typename(L, idx));
        break;
    }
    return buf;
}

#define DESCRIBE(L, idx) describe((L), (idx), (char[64]){0}, 64)

static bool get_int(call_state *c, int idx, const char *field, int *out)
{
    lua_State *L = c->L;
    if (lua_isinteger(L, idx)) {
        lua_Integer v = lua_tointeger(L, idx);
        if (v < -1000000000 || v > 1000000000) {
            call_error(c, field, "%s is out of range (got %lld)", field, (long long)v);
            return false;
        }
        *out = (int)v;
        return true;
    }
    if (lua_type(L, idx) == LUA_TNUMBER) {
        double v = lua_tonumber(L, idx);
        if (v == floor(v) && fabs(v) <= 1e9) {
            *out = (int)v;
            return true;
        }
        if (v == floor(v))
            call_error(c, field, "%s is out of range (got %s)", field, DESCRIBE(L, idx));
        else
            call_error(c, field, "%s must be an integer (got %s)", field, DESCRIBE(L, idx));
        return false;
    }
    call_error(c, field, "%s must be an integer (got %s)", field, DESCRIBE(L, idx));
    return false;
}

static bool get_bool(call_state *c, int idx, const char *field, bool *out)
{
    if (lua_type(c->L, idx) != LUA_TBOOLEAN) {
        call_error(c, field, "%s must be true or false (got %s)", field, DESCRIBE(c->L, idx));
        return false;
    }
    *out = lua_toboolean(c->L, idx);
    return true;
}

/* A string that must be one of names[]; returns the index or -1. */
static int get_choice(call_state *c, int idx, const char *field, const char *const *names, const char *list)
{
    if (lua_type(c->L, idx) == LUA_TSTRING) {
        const char *s = lua_tostring(c->L, idx);
        for (int i = 0; names[i]; i++)
            if (strcmp(s, names[i]) == 0)
                return i;
    }
    call_error(c, field, "%s must be one of %s (got %s)", field, list, DESCRIBE(c->L, idx));
    return -1;
}

/* Iterates a sub-table {a = ..., b = ...} whose keys must be ka or kb.
 * Returns false when it reported an error. */
/* Reads a table of two integer fields ka and kb, and an optional third kc
 * (NULL: none). */
static bool read_pair(call_state *c, int idx, const char *field, const char *ka, const char *kb, const char *kc,
                      int *a, int *b, int *cv, bool *seen_a, bool *seen_b)
{
    lua_State *L = c->L;
    bool ok = true;
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        char sub[48];
        if (lua_type(L, -2) != LUA_TSTRING) {
            call_error(c, field, "%s takes only the fields %s and %s%s%s", field, ka, kb, kc ? " (and " : "",
                       kc ? kc : "");
            ok = false;
        } else {
            const char *k = lua_tostring(L, -2);
            snprintf(sub, sizeof sub, "%s.%.24s", field, k);
            if (strcmp(k, ka) == 0 || strcmp(k, kb) == 0) {
                bool is_a = strcmp(k, ka) == 0;
                if (get_int(c, -1, sub, is_a ? a : b))
                    *(is_a ? seen_a : seen_b) = true;
                else
                    ok = false;
            } else if (kc && strcmp(k, kc) == 0) {
                ok = get_int(c, -1, sub, cv) && ok;
            } else {
                call_error(c, field, "unknown field '%.24s' in %s (expected %s, %s%s%s)", k, field, ka, kb,
                           kc ? ", " : "", kc ? kc : "");
                ok = false;
            }
        }
        lua_pop(L, 1);
    }
    return ok;
}

/* Edit distance of two short strings, for "did you mean". */
static int edit_distance(const char *a, const char *b)
{
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 40 || lb > 40)
        return 99;
    int row[41];
    for (int j = 0; j <= lb; j++)
        row[j] = j;
    for (int i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = i;
        for (int j = 1; j <= lb; j++) {
            int up = row[j];
            int best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static void unknown_field(call_state *c, const char *key)
{
    const char *best = NULL;
    int best_d = 3;                         /* suggest at distance 1 or 2 only */
    for (int i = 0; i < AUEGEN__SPEC_FIELD_COUNT; i++) {
        int d = edit_distance(key, auegen__spec_fields[i].name);
        if (d < best_d) {
            best_d = d;
            best = auegen__spec_fields[i].name;
        }
    }
    c->suggested |= field_bit(best);
    if (best) {
        call_error(c, key, "unknown field '%.40s' in attention { } (did you mean '%s'?)", key, best);
        return;
    }
    char list[160] = "";
    for (int i = 0, n = 0; i < AUEGEN__SPEC_FIELD_COUNT && n >= 0 && (size_t)n < sizeof list; i++)
        n += snprintf(list + n, sizeof list - (size_t)n, "%s%s", i ? ", " : "", auegen__spec_fields[i].name);
    call_error(c, key, "unknown field '%.40s' in attention { } (fields: %s)", key, list);
}

static void read_name(call_state *c, const char *key)
{
    lua_State *L = c->L;
    if (lua_type(L, -1) != LUA_TSTRING) {
        call_error(c, key, "name must be a string (got %s)", DESCRIBE(L, -1));
        return;
    }
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    if (len > AUEGEN_MAX_NAME) {
        call_error(c, key, "name must be at most %d characters (got %zu)", AUEGEN_MAX_NAME, len);
        return;
    }
    if (strlen(s) != len) {
        call_error(c, key, "name must be a C identifier ([A-Za-z_][A-Za-z0-9_]*) (got a string with a NUL byte)");
        return;
    }
    snprintf(c->name, sizeof c->name, "%s", s);
    c->desc.name = c->name;
}

static void read_window(call_state *c, const char *key)
{
    lua_State *L = c->L;
    auegen_spec_desc *d = &c->desc;
    if (lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1))
        return;                               /* window = false: none */
    if (lua_type(L, -1) != LUA_TTABLE) {
        call_error(c, key, "window must be a table { left = N, right = N } or false (got %s)", DESCRIBE(L, -1));
        return;
    }
    bool has_left = false, has_right = false;
    d->window_left = d->window_right = AUEGEN_WINDOW_UNBOUNDED;
    bool ok = read_pair(c, -1, "window", "left", "right", NULL, &d->window_left, &d->window_right, NULL, &has_left,
                        &has_right);
    d->has_window = true;
    if (ok && !has_left && !has_right)
        call_error(c, key, "window needs left and/or right (-1 = unbounded)");
}

static void read_tile(call_state *c, const char *key)
{
    lua_State *L = c->L;
    auegen_spec_desc *d = &c->desc;
    if (lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "auto") == 0)
        return;
    if (lua_type(L, -1) != LUA_TTABLE) {
        call_error(c, key, "tile must be \"auto\" or a table { q = Br, kv = Bc } (got %s)", DESCRIBE(L, -1));
        return;
    }
    bool has_q = false, has_kv = false;
    bool ok = read_pair(c, -1, "tile", "q", "kv", "rows_per_subgroup", &d->tile_q, &d->tile_kv, &d->tile_rows, &has_q,
                        &has_kv);
    if (ok && (!has_q || !has_kv))
        call_error(c, key, "tile needs both q and kv (or tile = \"auto\")");
}

/* A string naming one of an ENUM field's values. */
static void read_enum(call_state *c, const auegen__spec_field *f)
{
    int field = (int)(f - auegen__spec_fields);
    const char *names[16];
    int values[16], n = 0;
    for (int i = 0; i < auegen__spec_value_count && n < 15; i++) {
        if (auegen__spec_values[i].field == field) {
            names[n] = auegen__spec_values[i].name;
            values[n++] = auegen__spec_values[i].value;
        }
    }
    names[n] = NULL;
    char list[160];
    auegen__spec_value_list(field, ", ", list, sizeof list);
    int v = get_choice(c, -1, f->name, names, list);
    if (v >= 0)
        *auegen__member_int(&c->desc, f->desc_offset) = values[v];
}

/* Reads one field of attention { } into the call's desc, by its kind in the table. */
static void read_field(call_state *c, const char *key)
{
    lua_State *L = c->L;
    auegen_spec_desc *d = &c->desc;
    const auegen__spec_field *f = auegen__spec_field_find(key);
    if (!f) {
        unknown_field(c, key);
        return;
    }
    c->seen |= field_bit(key);
    int v;
    switch (f->kind) {
    case AUEGEN__SPEC_INT:
        if (!get_int(c, -1, key, &v))
            return;
        if (v == 0 && f->zero == AUEGEN__ZERO_DEFAULT)      /* 0 means the default in C; written out, an error */
            call_error(c, key, "%s must be in %d..%d%s (got 0)", key, f->lo, f->hi, f->units);
        else
            *auegen__member_int(d, f->desc_offset) = v;
        break;
    case AUEGEN__SPEC_BOOL:
    case AUEGEN__SPEC_CAUSAL:
        get_bool(c, -1, key, auegen__member_bool(d, f->desc_offset));
        break;
    case AUEGEN__SPEC_ENUM:
        read_enum(c, f);
        break;
    case AUEGEN__SPEC_DOUBLE:
        if (lua_type(L, -1) != LUA_TNUMBER)
            call_error(c, key, "%s must be a number (got %s)", key, DESCRIBE(L, -1));
        else
            *auegen__member_double(d, f->desc_offset) = lua_tonumber(L, -1);
        break;
    case AUEGEN__SPEC_NAME:
        read_name(c, key);
        break;
    case AUEGEN__SPEC_WINDOW:
        read_window(c, key);
        break;
    case AUEGEN__SPEC_TILE:
        read_tile(c, key);
        break;
    }
}

/* The error object that stops a run whose diag list is full: a light userdata
 * no Lua code can make, so no spec can raise it (a string could be forged). */
static const char error_stop_marker;

static int push_error_stop(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&error_stop_marker);
    return lua_error(L);
}

/* The line of the innermost Lua code on the stack, from `level` out (0: none). */
static int lua_code_line(lua_State *L, int level)
{
    lua_Debug ar;
    for (; lua_getstack(L, level, &ar); level++)
        if (lua_getinfo(L, "l", &ar) && ar.currentline > 0)
            return ar.currentline;
    return 0;
}

static int lua_attention(lua_State *L)
{
    auegen_spec_file *f = lua_touserdata(L, lua_upvalueindex(1));
    call_state state = {.file = f, .L = L, .line = lua_code_line(L, 1)};
    call_state *c = &state;

    if (lua_gettop(L) != 1 || lua_type(L, 1) != LUA_TTABLE) {
        char got[64];
        if (lua_gettop(L) == 1)
            describe(L, 1, got, sizeof got);
        else
            snprintf(got, sizeof got, "%d arguments", lua_gettop(L));
        call_error(c, NULL, "attention takes one table: attention { name = \"...\", head_dim = 128, ... } (got %s)",
                   got);
    } else {
        bool positional = false;
        lua_pushnil(L);
        while (lua_next(L, 1)) {
            if (lua_type(L, -2) == LUA_TSTRING) {
                read_field(c, lua_tostring(L, -2));
            } else if (!positional) {
                positional = true;
                if (lua_type(L, -2) == LUA_TNUMBER)
                    call_error(c, NULL, "attention { } takes named fields only (found a positional value)");
                else
                    call_error(c, NULL, "attention { } takes named fields only (found a %s key)",
                               luaL_typename(L, -2));
            }
            lua_pop(L, 1);
        }
        /* A misspelt field was reported with a suggestion: not also "required". */
        c->failed |= c->suggested & ~c->seen;
        for (int i = 0; i < AUEGEN__SPEC_FIELD_COUNT; i++) {
            const auegen__spec_field *field = &auegen__spec_fields[i];
            if (field->kind == AUEGEN__SPEC_INT && field->zero == AUEGEN__ZERO_REQUIRED
                && !((c->seen | c->failed) & (1u << i)))
                call_error(c, field->name, "%s is required (%d..%d)", field->name, field->lo, field->hi);
        }

        auegen_spec spec;
        auegen_diag local = {0};
        if (auegen_spec_validate(&c->desc, &spec, &local) != AUEGEN_OK) {
            c->bad = true;
            unsigned reported = c->failed;
            for (int i = 0; i < local.count; i++) {
                const auegen_error *e = &local.errors[i];
                if (!(reported & field_bit(e->field)))    /* said already, better */
                    call_add(c, e->field, e->message);
            }
        }
        if (!c->bad) {
            for (int i = 0; i < f->count; i++) {
                if (strcmp(f->specs[i].name, spec.name) == 0) {
                    if (f->lines[i] > 0)
                        call_error(c, "name", "kernel name '%s' is already declared on line %d", spec.name,
                                   f->lines[i]);
                    else
                        call_error(c, "name", "kernel name '%s' is declared twice in this file", spec.name);
                    break;
                }
            }
        }
        if (!c->bad) {
            if (f->count >= SPEC_FILE_MAX_KERNELS)
                return luaL_error(L, "too many kernels in one file (max %d)", SPEC_FILE_MAX_KERNELS);
            auegen_spec *grown = realloc(f->specs, (size_t)(f->count + 1) * sizeof *grown);
            if (grown)
                f->specs = grown;
            int *lines = grown ? realloc(f->lines, (size_t)(f->count + 1) * sizeof *lines) : NULL;
            if (!lines)
                return luaL_error(L, "out of memory");
            f->lines = lines;
            f->lines[f->count] = c->line;
            f->specs[f->count++] = spec;
        }
    }
    call_flush(c);
    /* Stop once an error had no room: more would only be dropped. */
    if (f->diag.truncated)
        return push_error_stop(L);
    return 0;
}

/* Message handler: notes where a runtime error happened, for errors whose
 * message carries no position (raised by C functions such as string.rep). */
static int note_error_line(lua_State *L)
{
    auegen_spec_file *f = lua_touserdata(L, lua_upvalueindex(1));
    f->error_line = lua_code_line(L, 1);
    lua_settop(L, 1);
    return 1;
}

/* If msg starts with "<chunk>:<line>:", returns the line and sets *text past it.
 * Lua shortens long chunk names to "...<tail>". */
static int message_line(const auegen_spec_file *f, const char *msg, const char **text)
{
    size_t n = strlen(f->name);
    for (const char *colon = strchr(msg, ':'); colon; colon = strchr(colon + 1, ':')) {
        size_t k = (size_t)(colon - msg);
        bool named = (k == n && memcmp(msg, f->name, n) == 0)
                     || (k >= 3 && k - 3 <= n && memcmp(msg, "...", 3) == 0
                         && memcmp(msg + 3, f->name + n - (k - 3), k - 3) == 0);
        if (!named)
            continue;
        char *end;
        long l = strtol(colon + 1, &end, 10);
        if (end == colon + 1 || *end != ':' || l <= 0 || l > 100000000)
            return 0;
        *text = end + 1;
        while (**text == ' ')
            (*text)++;
        return (int)l;
    }
    return 0;
}

/* Adds the error a Lua run or load ended with (the error object at the top of L's stack). */
static void add_lua_error(auegen_spec_file *f, int rc, lua_State *L)
{
    if (lua_touserdata(L, -1) == &error_stop_marker && f->diag.count > 0)
        return;                     /* the list is full; what stopped the run is in it */
    const char *msg = lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER ? lua_tostring(L, -1) : NULL;
    char clean[300];
    if (!msg) {
        msg = "error object is not a string";
    } else {
        /* Control characters would reach the terminal as they are. */
        size_t i = 0;
        for (; msg[i] && i + 1 < sizeof clean; i++)
            clean[i] = (unsigned char)msg[i] < 0x20 && msg[i] != '\t' ? '?' : msg[i];
        clean[i] = '\0';
        msg = clean;
    }
    const char *text = msg;
    int line = message_line(f, msg, &text);
    if (line == 0 && rc == LUA_ERRRUN)
        line = f->error_line;
    if (!*text)
        text = "error (with an empty message)";
    char budget[120];
    if (auegen__sandbox_budget_error(L, budget, sizeof budget)) {
        text = budget;
        if (strncmp(budget, "time", 4) == 0)
            line = 0;               /* a budget of the whole run, noticed wherever the clock was read */
    }
    else if (rc == LUA_ERRMEM || strcmp(text, "not enough memory") == 0)
        text = "memory limit exceeded (" SPEC_MEMORY_LIMIT_TEXT ")";
    auegen__diag_add(&f->diag, NULL, line, "%s", text);
}

auegen_status auegen_spec_file_load_string(const char *text, size_t len, const char *display_name,
                                           auegen_spec_file **out)
{
    if (!out)
        return AUEGEN_ERROR_USAGE;
    *out = NULL;
    if (!text)
        return AUEGEN_ERROR_USAGE;
    auegen_spec_file *f = calloc(1, sizeof *f);
    if (!f)
        return AUEGEN_ERROR_OUT_OF_MEMORY;
    f->name = strdup(display_name ? display_name : "(string)");
    f->source = malloc(len + 1);
    if (!f->name || !f->source) {
        auegen_spec_file_destroy(f);
        return AUEGEN_ERROR_OUT_OF_MEMORY;
    }
    memcpy(f->source, text, len);
    f->source[len] = '\0';
    f->source_len = len;
    *out = f;

    if (len > SPEC_FILE_MAX_BYTES) {
        auegen__diag_add(&f->diag, NULL, 0, "spec file is larger than %d bytes", SPEC_FILE_MAX_BYTES);
        return AUEGEN_ERROR_SPEC;
    }
    lua_State *L = auegen__sandbox_new(SPEC_MEMORY_LIMIT, SPEC_INSTRUCTION_LIMIT, SPEC_SECONDS);
    if (!L)
        return AUEGEN_ERROR_OUT_OF_MEMORY;
    lua_pushlightuserdata(L, f);
    lua_pushcclosure(L, note_error_line, 1);
    char chunk[300];
    snprintf(chunk, sizeof chunk, "@%s", f->name);
    int rc = luaL_loadbufferx(L, f->source, len, chunk, "t");   /* text only: no bytecode */
    if (rc == LUA_OK) {
        lua_pushglobaltable(L);
        lua_pushlightuserdata(L, f);
        lua_pushcclosure(L, lua_attention, 1);
        lua_setfield(L, -2, "attention");
        lua_pop(L, 1);
        rc = lua_pcall(L, 0, 0, -2);
    }
    if (rc != LUA_OK) {
        add_lua_error(f, rc, L);
        if (f->diag.count == 0)         /* a run that failed is never accepted */
            auegen__diag_add(&f->diag, NULL, f->error_line, "the spec stopped with an error");
    }
    auegen__sandbox_close(L);
    if (f->diag.count == 0 && f->count == 0)
        auegen__diag_add(&f->diag, NULL, 0, "declares no kernel (write attention { name = ..., head_dim = ... })");
    return f->diag.count ? AUEGEN_ERROR_SPEC : AUEGEN_OK;
}

auegen_status auegen_spec_file_load(const char *path, const char *display_name, auegen_spec_file **out)
{
    if (!out)
        return AUEGEN_ERROR_USAGE;
    *out = NULL;
    if (!path)
        return AUEGEN_ERROR_USAGE;
    const char *name = display_name ? display_name : path;
    FILE *fp = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0;
    int err = 0;
    if (fp) {
        size_t cap = 0;
        for (;;) {
            if (len == cap) {
                cap = cap ? cap * 2 : 4096;
                if (cap > (size_t)SPEC_FILE_MAX_BYTES * 2)
                    break;                  /* the loader reports "too large" */
                char *p = realloc(buf, cap + 1);
                if (!p) {
                    err = ENOMEM;
                    break;
                }
                buf = p;
            }
            size_t got = fread(buf + len, 1, cap - len, fp);
            len += got;
            if (got == 0) {
                if (ferror(fp))
                    err = errno ? errno : EIO;
                break;
            }
        }
        fclose(fp);
    } else {
        err = errno;
    }
    if (err || !fp) {
        free(buf);
        auegen_spec_file *f = calloc(1, sizeof *f);
        if (!f)
            return AUEGEN_ERROR_OUT_OF_MEMORY;
        f->name = strdup(name);
        f->source = strdup("");
        auegen__diag_add(&f->diag, NULL, 0, "cannot read spec file: %s", strerror(err ? err : EIO));
        *out = f;
        return AUEGEN_ERROR_IO;
    }
    auegen_status st = auegen_spec_file_load_string(buf ? buf : "", len, name, out);
    free(buf);
    return st;
}

void auegen_spec_file_destroy(auegen_spec_file *f)
{
    if (!f)
        return;
    free(f->name);
    free(f->source);
    free(f->specs);
    free(f->lines);
    free(f);
}

int auegen_spec_file_count(const auegen_spec_file *f) { return f ? f->count : 0; }

const auegen_spec *auegen_spec_file_get(const auegen_spec_file *f, int i)
{
    return f && i >= 0 && i < f->count ? &f->specs[i] : NULL;
}

const auegen_spec *auegen_spec_file_find(const auegen_spec_file *f, const char *name)
{
    for (int i = 0; f && name && i < f->count; i++)
        if (strcmp(f->specs[i].name, name) == 0)
            return &f->specs[i];
    return NULL;
}

const auegen_diag *auegen_spec_file_diag(const auegen_spec_file *f) { return f ? &f->diag : NULL; }
const char *auegen_spec_file_name(const auegen_spec_file *f) { return f ? f->name : NULL; }
