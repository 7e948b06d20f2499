/* SPDX-License-Identifier: MIT */
/*
 * sandbox.c - the Lua 5.4 state that spec files and templates run in.
 *
 * A spec is a configuration file, so it gets only what a configuration needs
 * and a budget it can neither catch nor escape (docs/reliability.md):
 *
 *   - an allow-list: every global and library field not named below is
 *     removed (the library tables themselves are trimmed, since strings reach
 *     the string table through their metatable). Gone are io, os, package,
 *     debug, load*, dofile, require, print, coroutine, utf8, and everything
 *     that could run Lua code where the count hook is off or that loops in C:
 *     pcall and xpcall (they would catch the budget's error; hooks are off in
 *     xpcall's handler), setmetatable, getmetatable and collectgarbage (__gc
 *     finalizers run with hooks off), string.find/match/gmatch/gsub (pattern
 *     backtracking is exponential inside one C call), table.move and
 *     string.pack/unpack;
 *   - string.rep replaced by a version whose work is bounded by its result
 *     (an empty result returns at once), and the result by the memory budget;
 *   - a memory budget enforced by the allocator;
 *   - an instruction budget and a wall-clock deadline, both checked by the
 *     count hook. Once either is exceeded the sandbox is "tripped": every
 *     later hook call raises again, so nothing can carry on past it.
 * What is left in C (string.byte/char/format/len/lower/upper/reverse/sub,
 * table.concat/insert/remove/sort/unpack, math, tostring, tonumber, select,
 * next, pairs, ipairs, raw*) does work bounded by its arguments' size, which
 * the memory budget bounds; Lua code only ever runs with the hook on.
 */
#include "gen_internal.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct sandbox_limits {
    size_t used, limit;
    long instructions, instruction_limit;
    double seconds;                 /* the wall-clock budget */
    struct timespec deadline;
    const char *tripped;            /* why the budget ran out (NULL: it has not) */
} sandbox_limits;

enum { HOOK_STEP = 100, LARGE_BLOCK = 64 << 10 };  /* a hook call every 100 instructions: C work between two is short */

static bool past(const struct timespec *deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > deadline->tv_sec || (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

static void *limited_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    sandbox_limits *lim = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        lim->used -= old;
        return NULL;
    }
    if (nsize > old && lim->used - old + nsize > lim->limit)
        return NULL;                /* Lua raises "not enough memory" */
    /* Large blocks are work done in C, where the hook cannot look at the clock. */
    if (nsize > old && nsize - old >= LARGE_BLOCK && (lim->tripped || past(&lim->deadline))) {
        lim->tripped = "time";
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (p)
        lim->used = lim->used - old + nsize;
    return p;
}

static sandbox_limits *limits_of(lua_State *L)
{
    void *ud;
    lua_getallocf(L, &ud);
    return ud;
}

static void count_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    sandbox_limits *lim = limits_of(L);
    lim->instructions += HOOK_STEP;
    if (!lim->tripped && lim->instructions > lim->instruction_limit)
        lim->tripped = "instruction";
    if (!lim->tripped && past(&lim->deadline))
        lim->tripped = "time";
    if (!lim->tripped)
        return;
    /* The instruction limit names the line it stopped at (a hook runs in the frame
     * of the function it interrupts: level 0). The time limit names none: C work
     * (string.rep, table.concat, a large allocation) can notice the deadline too,
     * where no line is known, and the report must not depend on which noticed first. */
    if (strcmp(lim->tripped, "time") == 0) {
        lua_pushfstring(L, "time limit exceeded (%f s): endless loop?", lim->seconds);
    } else {
        luaL_where(L, 0);
        lua_pushfstring(L, "instruction limit exceeded (%d million): endless loop?",
                        (int)(lim->instruction_limit / 1000000));
        lua_concat(L, 2);
    }
    lua_error(L);
}

/* string.rep whose work is bounded by the size of its result. */
static int bounded_rep(lua_State *L)
{
    size_t l, lsep;
    const char *s = luaL_checklstring(L, 1, &l);
    lua_Integer n = luaL_checkinteger(L, 2);
    const char *sep = luaL_optlstring(L, 3, "", &lsep);
    if (n <= 0 || (l == 0 && lsep == 0)) {
        lua_pushliteral(L, "");
        return 1;
    }
    sandbox_limits *lim = limits_of(L);
    size_t room = lim->limit > lim->used ? lim->limit - lim->used : 0;
    size_t unit = l + lsep;         /* both below the memory budget, so no overflow */
    if ((lua_Unsigned)n > room / unit + 1 || (size_t)n * unit - lsep > room) {
        /* Not "not enough memory": lua_error turns that text into a memory
         * error, which skips the message handler that finds the line. */
        lua_pushfstring(L, "memory limit exceeded (%d MiB) by string.rep", (int)(lim->limit >> 20));
        return lua_error(L);
    }
    if (lim->tripped || past(&lim->deadline)) {
        lim->tripped = "time";
        lua_pushfstring(L, "time limit exceeded (%f s): endless loop?", lim->seconds);
        return lua_error(L);
    }
    luaL_Buffer b;
    char *p = luaL_buffinitsize(L, &b, (size_t)n * unit - lsep);
    for (lua_Integer i = 0; i < n; i++) {
        memcpy(p, s, l);
        p += l;
        if (lsep && i + 1 < n) {
            memcpy(p, sep, lsep);
            p += lsep;
        }
    }
    luaL_pushresultsize(&b, (size_t)n * unit - lsep);
    return 1;
}

/* What a spec or template may use; everything else is removed. */
static const char *const allowed_globals[] = {
    "_G", "_VERSION", "assert", "error", "ipairs", "next", "pairs", "rawequal", "rawget", "rawlen", "rawset",
    "select", "tonumber", "tostring", "type", "string", "table", "math", NULL
};
static const char *const allowed_string[] = {
    "byte", "char", "format", "len", "lower", "rep", "reverse", "sub", "upper", NULL
};
static const char *const allowed_table[] = {"concat", "insert", "remove", "sort", "unpack", NULL};

/* Names a spec writer may try, with the reason they are absent. */
static const char *const removed_globals[] = {
    "io", "os", "package", "debug", "require", "load", "loadfile", "dofile", "loadstring", "print",
    "collectgarbage", "module", "setfenv", "getfenv", "pcall", "xpcall", "setmetatable", "getmetatable",
    "coroutine", "utf8", NULL
};

static bool listed(const char *const *list, const char *name)
{
    for (int i = 0; name && list[i]; i++)
        if (strcmp(list[i], name) == 0)
            return true;
    return false;
}

/* Removes every string key of the table at idx that is not in allowed. */
static void keep_only(lua_State *L, int idx, const char *const *allowed)
{
    idx = lua_absindex(L, idx);
    for (;;) {
        bool removed = false;
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            lua_pop(L, 1);
            if (lua_type(L, -1) != LUA_TSTRING || !listed(allowed, lua_tostring(L, -1))) {
                lua_pushnil(L);
                lua_rawset(L, idx);     /* pops the key too: restart the walk */
                removed = true;
                break;
            }
        }
        if (!removed)
            return;
    }
}

/* __index of the globals table: a missing global is an error with a position. */
static int global_missing(lua_State *L)
{
    const char *name = lua_tostring(L, 2);
    luaL_where(L, 1);               /* level 1: the Lua code that read the name */
    if (listed(removed_globals, name))
        lua_pushfstring(L, "'%s' is not available in the sandbox", name);
    else
        lua_pushfstring(L, "unknown name '%s'", name ? name : "?");
    lua_concat(L, 2);
    return lua_error(L);
}

/* __index of a trimmed library table (upvalue 1: its name): a removed function
 * is an error that says so, instead of "attempt to call a nil value". */
static int library_missing(lua_State *L)
{
    const char *lib = lua_tostring(L, lua_upvalueindex(1));
    const char *name = lua_tostring(L, 2);
    luaL_where(L, 1);
    lua_pushfstring(L, "'%s.%s' is not available in the sandbox", lib, name ? name : "?");
    lua_concat(L, 2);
    return lua_error(L);
}

static void trim_library(lua_State *L, const char *lib, const char *const *allowed)
{
    lua_getfield(L, -1, lib);
    keep_only(L, -1, allowed);
    lua_newtable(L);
    lua_pushstring(L, lib);
    lua_pushcclosure(L, library_missing, 1);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    lua_pop(L, 1);
}

lua_State *auegen__sandbox_new(size_t memory_limit, long instruction_limit, double seconds)
{
    sandbox_limits *lim = calloc(1, sizeof *lim);
    if (!lim)
        return NULL;
    lim->limit = memory_limit;
    lim->instruction_limit = instruction_limit;
    lim->seconds = seconds;
    clock_gettime(CLOCK_MONOTONIC, &lim->deadline);
    long ns = (long)((seconds - (double)(long)seconds) * 1e9);
    lim->deadline.tv_sec += (time_t)seconds + (lim->deadline.tv_nsec + ns) / 1000000000L;
    lim->deadline.tv_nsec = (lim->deadline.tv_nsec + ns) % 1000000000L;
    lua_State *L = lua_newstate(limited_alloc, lim);
    if (!L) {
        free(lim);
        return NULL;
    }
    static const luaL_Reg libs[] = {
        {LUA_GNAME, luaopen_base}, {LUA_STRLIBNAME, luaopen_string},
        {LUA_TABLIBNAME, luaopen_table}, {LUA_MATHLIBNAME, luaopen_math}, {NULL, NULL}
    };
    for (const luaL_Reg *lib = libs; lib->func; lib++) {
        luaL_requiref(L, lib->name, lib->func, 1);
        lua_pop(L, 1);
    }
    lua_pushglobaltable(L);
    keep_only(L, -1, allowed_globals);
    lua_getfield(L, -1, "string");
    lua_pushcfunction(L, bounded_rep);
    lua_setfield(L, -2, "rep");
    lua_pop(L, 1);
    trim_library(L, "string", allowed_string);
    trim_library(L, "table", allowed_table);
    lua_newtable(L);
    lua_pushcfunction(L, global_missing);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    lua_pop(L, 1);
    /* The loaded-modules table still holds the untrimmed io, os and so on. */
    lua_pushnil(L);
    lua_setfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_sethook(L, count_hook, LUA_MASKCOUNT, HOOK_STEP);
    return L;
}

const char *auegen__sandbox_budget_error(lua_State *L, char *buf, size_t size)
{
    sandbox_limits *lim = limits_of(L);
    if (!lim->tripped)
        return NULL;
    if (strcmp(lim->tripped, "time") == 0)
        snprintf(buf, size, "time limit exceeded (%g s): endless loop?", lim->seconds);
    else
        snprintf(buf, size, "instruction limit exceeded (%ld million): endless loop?", lim->instruction_limit / 1000000);
    return buf;
}

void auegen__sandbox_close(lua_State *L)
{
    if (!L)
        return;
    void *ud;
    lua_getallocf(L, &ud);
    lua_close(L);
    free(ud);
}
