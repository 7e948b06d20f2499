/*
 * spec_file.c - loads a Lua spec file: runs it in the sandbox, turns each
 * attention { ... } call into an auegen_spec_desc, validates it, and reports
 * every problem as "file:line: message" (the line of the offending field).
 */
#include "gen_internal.h"

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
#define SPEC_INSTRUCTION_LIMIT 20000000L

struct auegen_spec_file {
    char *name;
    char *source;              /* NUL-terminated copy of the text */
    size_t source_len;
    auegen_spec *specs;
    int count;
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

/* Does [p, end) contain `word` as a whole word followed by '=' (not '==')? */
static bool line_assigns(const char *p, const char *end, const char *word)
{
    size_t n = strlen(word);
    for (const char *q = p; q + n <= end; q++) {
        if (memcmp(q, word, n) != 0 || (q > p && is_word_char(q[-1])) || (q + n < end && is_word_char(q[n])))
            continue;
        const char *r = q + n;
        while (r < end && (*r == ' ' || *r == '\t'))
            r++;
        if (r < end && *r == '=' && !(r + 1 < end && r[1] == '='))
            return true;
    }
    return false;
}

/* The line where `field = ...` is written for the attention call on call_line,
 * or call_line when the field is not spelled out there. */
static int field_line(const auegen_spec_file *f, int call_line, const char *field)
{
    if (!field || !*field || call_line <= 0)
        return call_line;
    const char *p = line_start(f->source, call_line);
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
        if (line_assigns(p, end, field))
            return line;
        p = *end ? end + 1 : NULL;
    }
    return call_line;
}

/* --- reading the attention { } table ------------------------------------------ */

typedef struct call_state {
    auegen_spec_file *file;
    lua_State *L;
    int line;
    auegen_spec_desc desc;
    char name[AUEGEN_MAX_NAME + 2];
    bool bad;
} call_state;

static void call_error(call_state *c, const char *field, const char *fmt, ...) AUEGEN_PRINTF(3, 4);
static void call_error(call_state *c, const char *field, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char top[32] = "";                      /* "window.left" is written under "window" */
    if (field)
        snprintf(top, sizeof top, "%.*s", (int)strcspn(field, "."), field);
    diag_add(&c->file->diag, field, field_line(c->file, c->line, top), "%s", msg);
    c->bad = true;
}

static const char *type_of(lua_State *L, int idx) { return luaL_typename(L, idx); }

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
        call_error(c, field, "%s must be an integer (got %g)", field, v);
        return false;
    }
    call_error(c, field, "%s must be an integer (got %s)", field, type_of(L, idx));
    return false;
}

static bool get_bool(call_state *c, int idx, const char *field, bool *out)
{
    if (lua_type(c->L, idx) != LUA_TBOOLEAN) {
        call_error(c, field, "%s must be true or false (got %s)", field, type_of(c->L, idx));
        return false;
    }
    *out = lua_toboolean(c->L, idx);
    return true;
}

/* A string that must be one of names[]; returns the index or -1. */
static int get_choice(call_state *c, int idx, const char *field, const char *const *names, const char *list)
{
    if (lua_type(c->L, idx) != LUA_TSTRING) {
        call_error(c, field, "%s must be one of %s (got %s)", field, list, type_of(c->L, idx));
        return -1;
    }
    const char *s = lua_tostring(c->L, idx);
    for (int i = 0; names[i]; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    call_error(c, field, "%s must be one of %s (got \"%.40s\")", field, list, s);
    return -1;
}

/* Iterates a sub-table {a = ..., b = ...} whose keys must be in allowed[]. */
static void read_pair(call_state *c, int idx, const char *field, const char *ka, const char *kb,
                      int *a, int *b, bool *seen_a, bool *seen_b)
{
    lua_State *L = c->L;
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        char sub[48];
        if (lua_type(L, -2) != LUA_TSTRING) {
            call_error(c, field, "%s takes only the fields %s and %s", field, ka, kb);
        } else {
            const char *k = lua_tostring(L, -2);
            snprintf(sub, sizeof sub, "%s.%s", field, k);
            if (strcmp(k, ka) == 0)
                *seen_a = get_int(c, -1, sub, a) || *seen_a;
            else if (strcmp(k, kb) == 0)
                *seen_b = get_int(c, -1, sub, b) || *seen_b;
            else
                call_error(c, field, "unknown field '%.24s' in %s (expected %s, %s)", k, field, ka, kb);
        }
        lua_pop(L, 1);
    }
}

static void read_field(call_state *c, const char *key)
{
    static const char *const kinds[] = {"forward", "decode", "backward", NULL};
    static const char *const dtypes[] = {"f32", "f16", "bf16", NULL};
    static const char *const coopmats[] = {"auto", "khr", "none", NULL};
    lua_State *L = c->L;
    auegen_spec_desc *d = &c->desc;
    int v;

    if (strcmp(key, "name") == 0) {
        if (lua_type(L, -1) != LUA_TSTRING) {
            call_error(c, key, "name must be a string (got %s)", type_of(L, -1));
            return;
        }
        snprintf(c->name, sizeof c->name, "%s", lua_tostring(L, -1));
        d->name = c->name;
    } else if (strcmp(key, "kind") == 0) {
        if ((v = get_choice(c, -1, key, kinds, "\"forward\", \"decode\", \"backward\"")) >= 0)
            d->kind = (auegen_kind)v;
    } else if (strcmp(key, "head_dim") == 0) {
        get_int(c, -1, key, &d->head_dim);
    } else if (strcmp(key, "head_dim_v") == 0) {
        if (get_int(c, -1, key, &v)) {
            if (v == 0)
                call_error(c, key, "head_dim_v must be in 1..%d (got 0)", AUEGEN_MAX_HEAD_DIM);
            else
                d->head_dim_v = v;
        }
    } else if (strcmp(key, "gqa") == 0) {
        if (get_int(c, -1, key, &v)) {
            if (v == 0)
                call_error(c, key, "gqa must be in 1..%d query heads per KV head (got 0)", AUEGEN_MAX_GQA);
            else
                d->gqa = v;
        }
    } else if (strcmp(key, "causal") == 0) {
        get_bool(c, -1, key, &d->causal);
    } else if (strcmp(key, "window") == 0) {
        if (lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1))
            return;                               /* window = false: none */
        if (lua_type(L, -1) != LUA_TTABLE) {
            call_error(c, key, "window must be a table { left = N, right = N } or false (got %s)",
                       type_of(L, -1));
            return;
        }
        bool has_left = false, has_right = false;
        d->window_left = d->window_right = AUEGEN_WINDOW_UNBOUNDED;
        read_pair(c, -1, "window", "left", "right", &d->window_left, &d->window_right, &has_left, &has_right);
        d->has_window = true;
        if (!has_left && !has_right && !c->bad)
            call_error(c, key, "window needs left and/or right (-1 = unbounded)");
    } else if (strcmp(key, "softcap") == 0) {
        if (lua_type(L, -1) != LUA_TNUMBER) {
            call_error(c, key, "softcap must be a number (got %s)", type_of(L, -1));
            return;
        }
        d->softcap = lua_tonumber(L, -1);
    } else if (strcmp(key, "dtype") == 0) {
        if ((v = get_choice(c, -1, key, dtypes, "\"f32\", \"f16\", \"bf16\"")) >= 0)
            d->dtype = (auegen_dtype)(AUEGEN_DTYPE_F32 + v);
    } else if (strcmp(key, "int8") == 0) {
        get_bool(c, -1, key, &d->int8);
    } else if (strcmp(key, "coopmat") == 0) {
        if ((v = get_choice(c, -1, key, coopmats, "\"auto\", \"khr\", \"none\"")) >= 0)
            d->coopmat = (auegen_coopmat)v;
    } else if (strcmp(key, "tile") == 0) {
        if (lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "auto") == 0)
            return;
        if (lua_type(L, -1) != LUA_TTABLE) {
            call_error(c, key, "tile must be \"auto\" or a table { q = Br, kv = Bc } (got %s)",
                       lua_type(L, -1) == LUA_TSTRING ? "a string other than \"auto\"" : type_of(L, -1));
            return;
        }
        bool has_q = false, has_kv = false;
        read_pair(c, -1, "tile", "q", "kv", &d->tile_q, &d->tile_kv, &has_q, &has_kv);
        if ((!has_q || !has_kv) && !c->bad)
            call_error(c, key, "tile needs both q and kv (or tile = \"auto\")");
    } else {
        call_error(c, key, "unknown field '%.40s' in attention { } (see docs/spec.md)", key);
    }
}

static int push_error_stop(lua_State *L, auegen_spec_file *f)
{
    (void)f;
    lua_pushliteral(L, "\001stop");   /* marker: the diag list is already full */
    return lua_error(L);
}

static int lua_attention(lua_State *L)
{
    auegen_spec_file *f = lua_touserdata(L, lua_upvalueindex(1));
    call_state c = {.file = f, .L = L};
    lua_Debug ar;
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "l", &ar))
        c.line = ar.currentline;

    if (lua_gettop(L) != 1 || lua_type(L, 1) != LUA_TTABLE) {
        call_error(&c, NULL, "attention takes one table: attention { name = \"...\", head_dim = 128, ... }");
        return f->diag.count >= AUEGEN_MAX_ERRORS ? push_error_stop(L, f) : 0;
    }
    if (lua_rawlen(L, 1) > 0)
        call_error(&c, NULL, "attention { } takes named fields only (found a positional value)");
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        if (lua_type(L, -2) == LUA_TSTRING)
            read_field(&c, lua_tostring(L, -2));
        else if (lua_type(L, -2) != LUA_TNUMBER)
            call_error(&c, NULL, "attention { } takes named fields only (found a %s key)", type_of(L, -2));
        lua_pop(L, 1);
    }
    if (c.desc.head_dim == 0 && !c.bad)
        call_error(&c, NULL, "head_dim is required");

    auegen_spec spec;
    auegen_diag local = {0};
    if (auegen_spec_validate(&c.desc, &spec, &local) != AUEGEN_OK) {
        for (int i = 0; i < local.count; i++) {
            const auegen_error *e = &local.errors[i];
            diag_add(&f->diag, e->field, field_line(f, c.line, e->field), "%s", e->message);
        }
        c.bad = true;
    }
    if (!c.bad) {
        for (int i = 0; i < f->count; i++) {
            if (strcmp(f->specs[i].name, spec.name) == 0) {
                call_error(&c, "name", "kernel name '%s' is declared twice in this file", spec.name);
                break;
            }
        }
    }
    if (!c.bad) {
        if (f->count >= SPEC_FILE_MAX_KERNELS)
            return luaL_error(L, "too many kernels in one file (max %d)", SPEC_FILE_MAX_KERNELS);
        auegen_spec *grown = realloc(f->specs, (size_t)(f->count + 1) * sizeof *grown);
        if (!grown)
            return luaL_error(L, "out of memory");
        f->specs = grown;
        f->specs[f->count++] = spec;
    }
    if (f->diag.count >= AUEGEN_MAX_ERRORS)
        return push_error_stop(L, f);
    return 0;
}

/* Splits a Lua message "name:12: text" into a line and the text. */
static void add_lua_error(auegen_spec_file *f, const char *msg)
{
    if (!msg)
        msg = "error object is not a string";
    if (msg[0] == '\001')
        return;
    size_t n = strlen(f->name);
    int line = 0;
    const char *text = msg;
    if (strncmp(msg, f->name, n) == 0 && msg[n] == ':') {
        char *end;
        long l = strtol(msg + n + 1, &end, 10);
        if (end != msg + n + 1 && *end == ':') {
            line = (int)l;
            text = end + 1;
            while (*text == ' ')
                text++;
        }
    }
    diag_add(&f->diag, NULL, line, "%s", text);
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
        diag_add(&f->diag, NULL, 0, "spec file is larger than %d bytes", SPEC_FILE_MAX_BYTES);
        return AUEGEN_ERROR_SPEC;
    }
    lua_State *L = sandbox_new(SPEC_MEMORY_LIMIT, SPEC_INSTRUCTION_LIMIT);
    if (!L)
        return AUEGEN_ERROR_OUT_OF_MEMORY;
    char chunk[300];
    snprintf(chunk, sizeof chunk, "@%s", f->name);
    int rc = luaL_loadbufferx(L, f->source, len, chunk, "t");   /* text only: no bytecode */
    if (rc == LUA_OK) {
        lua_pushglobaltable(L);
        lua_pushlightuserdata(L, f);
        lua_pushcclosure(L, lua_attention, 1);
        lua_setfield(L, -2, "attention");
        lua_pop(L, 1);
        rc = lua_pcall(L, 0, 0, 0);
    }
    if (rc != LUA_OK)
        add_lua_error(f, lua_tostring(L, -1));
    sandbox_close(L);
    if (f->diag.count == 0 && f->count == 0)
        diag_add(&f->diag, NULL, 0, "declares no kernel (write attention { name = ..., head_dim = ... })");
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
        diag_add(&f->diag, NULL, 0, "cannot read spec file: %s", strerror(err ? err : EIO));
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
