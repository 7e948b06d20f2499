/*
 * template.c - fills a GLSL template from a plan.
 *
 * Template syntax: {{ expr }} inserts a value, {% lua %} runs a statement
 * (if/else/end, and for loops that unroll named variables). A {% %} tag alone
 * on its line vanishes with its line, and the output gets a #line directive
 * wherever it stops matching the template's numbering, so glslang's messages
 * point at template lines. The template is turned into a Lua chunk and run
 * in the sandbox with the plan's numbers as its only globals. A tag
 * {% include "name" %} expands another template in place, with the same globals.
 */
#include "gen_internal.h"

#include <lauxlib.h>
#include <lua.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

enum { TEMPLATE_MEMORY_LIMIT = 64 << 20 };
#define TEMPLATE_INSTRUCTION_LIMIT 50000000L
#define TEMPLATE_SECONDS 30.0      /* far above any real template, even under valgrind */

const char *template_find(const char *name)
{
    for (int i = 0; name && i < auegen_template_count; i++)
        if (strcmp(auegen_templates[i].name, name) == 0)
            return auegen_templates[i].text;
    return NULL;
}

void hash_hex(const void *data, size_t size, char out[33])
{
    XXH128_hash_t h = XXH3_128bits(data, size);
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)h.high64, (unsigned long long)h.low64);
}

static char templates_hex[33];
static pthread_once_t templates_once = PTHREAD_ONCE_INIT;

static void templates_hash_compute(void)
{
    XXH3_state_t *st = XXH3_createState();
    if (!st) {
        memset(templates_hex, '0', 32);
        return;
    }
    XXH3_128bits_reset(st);
    for (int i = 0; i < auegen_template_count; i++) {
        XXH3_128bits_update(st, auegen_templates[i].name, strlen(auegen_templates[i].name) + 1);
        XXH3_128bits_update(st, auegen_templates[i].text, strlen(auegen_templates[i].text) + 1);
    }
    XXH128_hash_t h = XXH3_128bits_digest(st);
    XXH3_freeState(st);
    snprintf(templates_hex, sizeof templates_hex, "%016llx%016llx", (unsigned long long)h.high64,
             (unsigned long long)h.low64);
}

const char *templates_hash(void)
{
    pthread_once(&templates_once, templates_hash_compute);
    return templates_hex;
}

static void emit_string(strbuf *lua, const char *s, size_t n)
{
    if (n == 0)
        return;
    sb_puts(lua, "out(\"");
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\n')
            sb_puts(lua, "\\n");
        else if (c == '"' || c == '\\')
            sb_printf(lua, "\\%c", c);
        else if ((unsigned char)c < 32)
            sb_printf(lua, "\\%03d", (unsigned char)c);
        else
            sb_append(lua, &c, 1);
    }
    sb_puts(lua, "\")\n");
}

static int count_lines(const char *s, const char *end)
{
    int n = 0;
    for (; s < end; s++)
        n += *s == '\n';
    return n;
}

/* Translates template text into a Lua chunk. Returns NULL with err set. */
static char *translate(const char *name, const char *text, int depth, char *err, size_t err_size)
{
    strbuf lua = {0};
    sb_puts(&lua, "local out, sync = ...\n");
    const char *p = text;
    int line = 1;
    while (*p) {
        const char *tag = strstr(p, "{");
        while (tag && tag[1] != '{' && tag[1] != '%')
            tag = strstr(tag + 1, "{");
        if (!tag) {
            emit_string(&lua, p, strlen(p));
            break;
        }
        bool code = tag[1] == '%';
        const char *close = strstr(tag + 2, code ? "%}" : "}}");
        if (!close) {
            snprintf(err, err_size, "%s:%d: unclosed %s", name, line + count_lines(p, tag), code ? "{%" : "{{");
            sb_free(&lua);
            return NULL;
        }
        /* A {% %} alone on its line takes the line with it. */
        const char *text_end = tag;
        const char *after = close + 2;
        bool alone = false;
        if (code) {
            const char *ls = tag;
            while (ls > p && (ls[-1] == ' ' || ls[-1] == '\t'))
                ls--;
            const char *le = after;
            while (*le == ' ' || *le == '\t')
                le++;
            if ((ls == text || ls[-1] == '\n') && (*le == '\n' || *le == '\0')) {
                alone = true;
                text_end = ls;
                after = *le ? le + 1 : le;
            }
        }
        emit_string(&lua, p, (size_t)(text_end - p));
        line += count_lines(p, tag);
        int tag_line = line;
        line += count_lines(tag, after);
        char inc[64];
        if (code && sscanf(tag + 2, " include \"%63[^\"]\" %%", inc) == 1) {
            /* {% include "name" %}: another template's text, expanded in place. */
            const char *itext = depth < 4 ? template_find(inc) : NULL;
            char *ichunk = itext ? translate(inc, itext, depth + 1, err, err_size) : NULL;
            if (!ichunk) {
                if (!itext)
                    snprintf(err, err_size, "%s:%d: %s \"%s\"", name, tag_line,
                             depth < 4 ? "no template named" : "includes nest too deep at", inc);
                sb_free(&lua);
                return NULL;
            }
            sb_puts(&lua, strchr(ichunk, '\n') + 1);     /* less its header line */
            free(ichunk);
            sb_printf(&lua, "sync(%d)\n", line);
        } else if (code) {
            sb_append(&lua, tag + 2, (size_t)(close - tag - 2));
            sb_puts(&lua, "\n");
            if (alone)
                sb_printf(&lua, "sync(%d)\n", line);
        } else {
            sb_puts(&lua, "out(tostring(");
            sb_append(&lua, tag + 2, (size_t)(close - tag - 2));
            sb_printf(&lua, "))  -- line %d\n", tag_line);
        }
        p = after;
    }
    char *chunk = sb_take(&lua);
    if (!chunk)
        snprintf(err, err_size, "out of memory translating %s", name);
    return chunk;
}

typedef struct expand_state {
    strbuf out;
    int line;          /* the number glslang gives the next output line */
} expand_state;

static int lua_out(lua_State *L)
{
    expand_state *st = lua_touserdata(L, lua_upvalueindex(1));
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    sb_append(&st->out, s, n);
    st->line += count_lines(s, s + n);
    if (st->out.failed)
        return luaL_error(L, "out of memory");
    return 0;
}

static int lua_sync(lua_State *L)
{
    expand_state *st = lua_touserdata(L, lua_upvalueindex(1));
    int want = (int)luaL_checkinteger(L, 1);
    if (st->line != want) {
        sb_printf(&st->out, "#line %d\n", want);
        st->line = want;
    }
    return 0;
}

static void set_int(lua_State *L, const char *k, long long v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, k);
}

static void set_str(lua_State *L, const char *k, const char *v)
{
    lua_pushstring(L, v);
    lua_setfield(L, -2, k);
}

static void set_bool(lua_State *L, const char *k, bool v)
{
    lua_pushboolean(L, v);
    lua_setfield(L, -2, k);
}

/* A Lua sequence (1-based) of n small integers. */
static void set_table(lua_State *L, const char *k, const signed char *v, int n)
{
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushinteger(L, v[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, k);
}

/* The template's globals: the plan's numbers under fixed names (docs/architecture.md). */
static void push_env(lua_State *L, const auegen_spec *s, const auegen_plan *p)
{
    lua_newtable(L);
    set_int(L, "D", s->head_dim);
    set_int(L, "DV", s->head_dim_v);
    set_int(L, "DPAD", p->d_pad);
    set_int(L, "DVPAD", p->dv_pad);
    set_int(L, "GQA", s->gqa);
    set_int(L, "WIN_LEFT", s->window_left);
    set_int(L, "WIN_RIGHT", s->window_right);
    set_bool(L, "HAS_SOFTCAP", s->softcap > 0);
    char cap[64];
    snprintf(cap, sizeof cap, "%.9g", s->softcap > 0 ? s->softcap : 1.0);
    if (!strpbrk(cap, ".eE"))
        strcat(cap, ".0");
    set_str(L, "SOFTCAP", cap);
    set_str(L, "DTYPE", dtype_name(s->dtype));
    set_bool(L, "STORAGE16", p->storage16);
    set_int(L, "WG", p->workgroup_size);
    set_int(L, "BR", p->tile_q);
    set_int(L, "BC", p->tile_kv);
    set_int(L, "QS", p->q_stride);
    set_int(L, "KS", p->k_stride);
    set_int(L, "VS", p->v_stride);
    set_int(L, "SPT", p->scores_per_thread);
    set_int(L, "OPT", p->out_per_thread);
    set_int(L, "SG", p->subgroup_size);
    set_int(L, "NSG", p->subgroups);
    set_int(L, "MM", p->mma.m);
    set_int(L, "MN", p->mma.n);
    set_int(L, "MK", p->mma.k);
    set_bool(L, "DECODE", s->kind == AUEGEN_KIND_DECODE);
    set_bool(L, "PAGED", s->page_size > 0);
    set_int(L, "PAGE", s->page_size);
    set_bool(L, "KV_INT8", s->kv_int8);
    /* Fast coopmat kernel: 16-byte K/V vectors each invocation prefetches per tile. */
    int wg = p->workgroup_size ? p->workgroup_size : 1;
    set_int(L, "KPT", (p->tile_kv * (p->d_pad / 8) + wg - 1) / wg);
    set_int(L, "VPT", (p->tile_kv * (p->dv_pad / 8) + wg - 1) / wg);
    /* Cooperative matrices: emulated or not, and the lane layout (auegen.h). */
    set_bool(L, "EMULATE", p->emulated);
    set_bool(L, "P_IN_REGISTERS", p->p_in_registers);
    set_bool(L, "Q_SHARED", p->q_in_shared);
    set_int(L, "RB", p->row_blocks > 1 ? p->row_blocks : 1);
    const auegen_lane_layout *lay = &p->lane;
    set_int(L, "LANE_CLUSTER", lay->cluster);
    set_int(L, "LANE_ROW_STEP", lay->row_step);
    set_int(L, "LANE_COL_STEP", lay->col_step);
    set_int(L, "LANE_ELEMS", lay->elems);
    int elems = lay->elems > 0 && lay->elems <= AUEGEN_LANE_MAX_ELEMS ? lay->elems : 0;
    set_table(L, "ROW_OFF", lay->row_off, elems);
    set_table(L, "COL_OFF", lay->col_off, elems);
    lua_pushglobaltable(L);
    lua_getfield(L, -1, "string");
    lua_setfield(L, -3, "string");
    lua_getfield(L, -1, "math");
    lua_setfield(L, -3, "math");
    lua_getfield(L, -1, "tostring");
    lua_setfield(L, -3, "tostring");
    lua_pop(L, 1);
    /* A misspelt name is an error, not a nil that turns into bad GLSL. */
    lua_newtable(L);
    luaL_loadstring(L, "local _, k = ... error('template uses unknown name ' .. tostring(k), 2)");
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
}

char *template_expand(const char *name, const auegen_spec *spec, const auegen_plan *plan,
                      const auegen_target *target, char *err, size_t err_size)
{
    (void)target;
    const char *text = template_find(name);
    if (!text) {
        snprintf(err, err_size, "no template named %s", name);
        return NULL;
    }
    char *chunk = translate(name, text, 0, err, err_size);
    if (!chunk)
        return NULL;
    lua_State *L = sandbox_new(TEMPLATE_MEMORY_LIMIT, TEMPLATE_INSTRUCTION_LIMIT, TEMPLATE_SECONDS);
    if (!L) {
        free(chunk);
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    expand_state st = {.line = 1};
    char chunkname[128];
    snprintf(chunkname, sizeof chunkname, "=%s(lua)", name);
    int rc = luaL_loadbufferx(L, chunk, strlen(chunk), chunkname, "t");
    free(chunk);
    if (rc == LUA_OK) {
        push_env(L, spec, plan);
        lua_setupvalue(L, -2, 1);           /* the chunk's _ENV */
        lua_pushlightuserdata(L, &st);
        lua_pushcclosure(L, lua_out, 1);
        lua_pushlightuserdata(L, &st);
        lua_pushcclosure(L, lua_sync, 1);
        rc = lua_pcall(L, 2, 0, 0);
    }
    char *result = NULL;
    if (rc != LUA_OK) {
        snprintf(err, err_size, "template %s: %s", name, lua_tostring(L, -1));
        sb_free(&st.out);
    } else {
        result = sb_take(&st.out);
        if (!result)
            snprintf(err, err_size, "out of memory expanding %s", name);
    }
    sandbox_close(L);
    return result;
}
