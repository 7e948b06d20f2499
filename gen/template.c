/* SPDX-License-Identifier: MIT */
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

const char *auegen__template_find(const char *name)
{
    for (int i = 0; name && i < auegen_template_count; i++)
        if (strcmp(auegen_templates[i].name, name) == 0)
            return auegen_templates[i].text;
    return NULL;
}

void auegen__hash_hex(const void *data, size_t size, char out[33])
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
    /* The ABI blocks are part of every kernel's text too. */
    for (int f = 0; f < AUEGEN_FAMILY_COUNT; f++) {
        strbuf abi = {0};
        auegen__abi_glsl((auegen_family)f, &abi);
        if (abi.data)
            XXH3_128bits_update(st, abi.data, abi.len);
        auegen__sb_free(&abi);
    }
    XXH128_hash_t h = XXH3_128bits_digest(st);
    XXH3_freeState(st);
    snprintf(templates_hex, sizeof templates_hex, "%016llx%016llx", (unsigned long long)h.high64,
             (unsigned long long)h.low64);
}

const char *auegen__templates_hash(void)
{
    pthread_once(&templates_once, templates_hash_compute);
    return templates_hex;
}

static void emit_string(strbuf *lua, const char *s, size_t n)
{
    if (n == 0)
        return;
    auegen__sb_puts(lua, "out(\"");
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\n')
            auegen__sb_puts(lua, "\\n");
        else if (c == '"' || c == '\\')
            auegen__sb_printf(lua, "\\%c", c);
        else if ((unsigned char)c < 32)
            auegen__sb_printf(lua, "\\%03d", (unsigned char)c);
        else
            auegen__sb_append(lua, &c, 1);
    }
    auegen__sb_puts(lua, "\")\n");
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
    auegen__sb_puts(&lua, "local out, sync, at = ...\n");
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
            auegen__sb_free(&lua);
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
            const char *itext = depth < 4 ? auegen__template_find(inc) : NULL;
            char *ichunk = itext ? translate(inc, itext, depth + 1, err, err_size) : NULL;
            if (!ichunk) {
                if (!itext)
                    snprintf(err, err_size, "%s:%d: %s \"%s\"", name, tag_line,
                             depth < 4 ? "no template named" : "includes nest too deep at", inc);
                auegen__sb_free(&lua);
                return NULL;
            }
            auegen__sb_puts(&lua, strchr(ichunk, '\n') + 1);     /* less its header line */
            free(ichunk);
            auegen__sb_printf(&lua, "sync(%d)\n", line);
        } else if (code) {
            auegen__sb_printf(&lua, "at(\"%s\", %d) ", name, tag_line);
            auegen__sb_append(&lua, tag + 2, (size_t)(close - tag - 2));
            auegen__sb_puts(&lua, "\n");
            if (alone)
                auegen__sb_printf(&lua, "sync(%d)\n", line);
        } else {
            auegen__sb_printf(&lua, "at(\"%s\", %d) out(tostring(", name, tag_line);
            auegen__sb_append(&lua, tag + 2, (size_t)(close - tag - 2));
            auegen__sb_printf(&lua, "))  -- line %d\n", tag_line);
        }
        p = after;
    }
    char *chunk = auegen__sb_take(&lua);
    if (!chunk)
        snprintf(err, err_size, "out of memory translating %s", name);
    return chunk;
}

typedef struct expand_state {
    strbuf out;
    int line;          /* the number glslang gives the next output line */
    int pending;       /* the template line the next output line should have (0: any) */
    const char *at_name;   /* the template and line being run, for error messages */
    int at_line;
} expand_state;

/* A #line directive only where the numbering really jumps, written just before
 * the next output (so several syncs in a row make at most one directive). */
static void flush_line(expand_state *st)
{
    if (st->pending > 0 && st->pending != st->line && (st->out.len == 0 || st->out.data[st->out.len - 1] == '\n')) {
        auegen__sb_printf(&st->out, "#line %d\n", st->pending);
        st->line = st->pending;
    }
    st->pending = 0;
}

static int lua_out(lua_State *L)
{
    expand_state *st = lua_touserdata(L, lua_upvalueindex(1));
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    if (n)
        flush_line(st);
    auegen__sb_append(&st->out, s, n);
    st->line += count_lines(s, s + n);
    if (st->out.failed)
        return luaL_error(L, "out of memory");
    return 0;
}

static int lua_sync(lua_State *L)
{
    expand_state *st = lua_touserdata(L, lua_upvalueindex(1));
    st->pending = (int)luaL_checkinteger(L, 1);
    return 0;
}

static int lua_at(lua_State *L)
{
    expand_state *st = lua_touserdata(L, lua_upvalueindex(1));
    st->at_name = lua_tostring(L, 1);     /* a literal of the chunk: lives as long as it */
    st->at_line = (int)lua_tointeger(L, 2);
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

/* The spec's fields as globals, under the TMPL names of the field table
 * (include/auegen_spec_fields.h). */
static void spec_globals(lua_State *L, const auegen_spec *s)
{
    for (int i = 0; i < AUEGEN__SPEC_FIELD_COUNT; i++) {
        const auegen__spec_field *f = &auegen__spec_fields[i];
        char name[64];
        if (!f->tmpl)
            continue;
        switch (f->kind) {
        case AUEGEN__SPEC_INT:
            set_int(L, f->tmpl, *auegen__member_int(s, f->spec_offset));
            break;
        case AUEGEN__SPEC_ENUM: {
            const auegen__spec_value *e = auegen__spec_value_find(i, *auegen__member_int(s, f->spec_offset));
            set_str(L, f->tmpl, e ? e->name : "?");
            break;
        }
        case AUEGEN__SPEC_BOOL:
            set_bool(L, f->tmpl, *auegen__member_bool(s, f->spec_offset));
            break;
        case AUEGEN__SPEC_DOUBLE: {
            /* HAS_X, and X as a GLSL float literal (1.0 when off, so X can divide). */
            double v = *auegen__member_double(s, f->spec_offset);
            snprintf(name, sizeof name, "HAS_%s", f->tmpl);
            set_bool(L, name, v > 0);
            char lit[64];
            snprintf(lit, sizeof lit, "%.9g", v > 0 ? v : 1.0);
            if (!strpbrk(lit, ".eE"))
                strcat(lit, ".0");
            set_str(L, f->tmpl, lit);
            break;
        }
        case AUEGEN__SPEC_WINDOW:
            snprintf(name, sizeof name, "%s_LEFT", f->tmpl);
            set_int(L, name, s->window_left);
            snprintf(name, sizeof name, "%s_RIGHT", f->tmpl);
            set_int(L, name, s->window_right);
            break;
        case AUEGEN__SPEC_NAME:
        case AUEGEN__SPEC_CAUSAL:
        case AUEGEN__SPEC_TILE:             /* none: the plan's BR and BC */
            break;
        }
    }
}

/* The template's globals: the spec's fields and the plan's numbers under fixed
 * names (docs/architecture.md). */
static void push_env(lua_State *L, const auegen_spec *s, const auegen_plan *p)
{
    lua_newtable(L);
    strbuf abi = {0};
    auegen__abi_glsl(p->family, &abi);
    set_str(L, "ABI", abi.data ? abi.data : "");   /* written by {% out(ABI) %} */
    auegen__sb_free(&abi);
    spec_globals(L, s);
    set_int(L, "DPAD", p->d_pad);
    set_int(L, "DVPAD", p->dv_pad);
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
    set_bool(L, "INT8_DOT", p->int8_dot);
    /* Fast coopmat kernel: 16-byte K/V vectors each invocation prefetches per tile. */
    int wg = p->workgroup_size ? p->workgroup_size : 1;
    set_int(L, "KPT", (p->tile_kv * (p->d_pad / 8) + wg - 1) / wg);
    set_int(L, "VPT", (p->tile_kv * (p->dv_pad / 8) + wg - 1) / wg);
    /* Cooperative matrices: emulated or not, and the lane layout (auegen.h). */
    set_bool(L, "EMULATE", p->emulated);
    set_bool(L, "BF16_MATRICES", p->variant == AUEGEN_VARIANT_COOPMAT && p->mma.a_type == AUEGEN_TYPE_BF16);
    set_bool(L, "ATOMIC_DQ", p->atomic_dq);
    set_int(L, "INT8_FLOAT_SLOTS", AUEGEN_INT8_FLOAT_SLOTS);
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
    set_int(L, "LANE_SLOTS", p->lane_slots);
    set_table(L, "SLOT", p->lane_slot, elems);
    set_table(L, "SLOT_ROW", p->slot_row, p->lane_slots > 0 && p->lane_slots <= AUEGEN_LANE_MAX_ELEMS ? p->lane_slots : 0);
    set_int(L, "KV_ROWS", p->kv_rows);
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

char *auegen__template_expand(const char *name, const auegen_spec *spec, const auegen_plan *plan,
                      const auegen_target *target, char *err, size_t err_size)
{
    (void)target;
    const char *text = auegen__template_find(name);
    if (!text) {
        snprintf(err, err_size, "no template named %s", name);
        return NULL;
    }
    return auegen__template_expand_text(name, text, spec, plan, err, err_size);
}

char *auegen__template_expand_text(const char *name, const char *text, const auegen_spec *spec, const auegen_plan *plan,
                           char *err, size_t err_size)
{
    char *chunk = translate(name, text, 0, err, err_size);
    if (!chunk)
        return NULL;
    lua_State *L = auegen__sandbox_new(TEMPLATE_MEMORY_LIMIT, TEMPLATE_INSTRUCTION_LIMIT, TEMPLATE_SECONDS);
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
        lua_pushlightuserdata(L, &st);
        lua_pushcclosure(L, lua_at, 1);
        rc = lua_pcall(L, 3, 0, 0);
    }
    char *result = NULL;
    if (rc != LUA_OK) {
        /* Name the template's own line, not the generated chunk's. */
        const char *msg = lua_tostring(L, -1);
        msg = msg ? msg : "error";
        const char *lua_pos = strstr(msg, "(lua):");
        if (lua_pos && (lua_pos = strstr(lua_pos, ": ")))
            msg = lua_pos + 2;
        if (st.at_name)
            snprintf(err, err_size, "template %s:%d: %s", st.at_name, st.at_line, msg);
        else
            snprintf(err, err_size, "template %s: %s", name, msg);
        auegen__sb_free(&st.out);
    } else {
        result = auegen__sb_take(&st.out);
        if (!result)
            snprintf(err, err_size, "out of memory expanding %s", name);
    }
    auegen__sandbox_close(L);
    return result;
}
