/*
 * sandbox.c - the Lua 5.4 state that spec files and templates run in: no io, os,
 * package, debug, load or dofile; a memory cap and an instruction cap, so a
 * spec can neither touch the machine nor hang or exhaust the generator.
 */
#include "gen_internal.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdlib.h>
#include <string.h>

typedef struct sandbox_limits {
    size_t used, limit;
    long instructions, instruction_limit;
} sandbox_limits;

enum { HOOK_STEP = 1000 };

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
    void *p = realloc(ptr, nsize);
    if (p)
        lim->used = lim->used - old + nsize;
    return p;
}

static void count_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    void *ud;
    lua_getallocf(L, &ud);
    sandbox_limits *lim = ud;
    lim->instructions += HOOK_STEP;
    if (lim->instructions > lim->instruction_limit) {
        /* A hook runs in the frame of the function it interrupts: level 0. */
        luaL_where(L, 0);
        lua_pushfstring(L, "instruction limit exceeded (%d million): endless loop?",
                        (int)(lim->instruction_limit / 1000000));
        lua_concat(L, 2);
        lua_error(L);
    }
}

static const char *const forbidden[] = {
    "io", "os", "package", "debug", "require", "load", "loadfile", "dofile",
    "loadstring", "print", "collectgarbage", "module", "setfenv", "getfenv", NULL
};

/* __index of the globals table: a missing global is an error with a position. */
static int global_missing(lua_State *L)
{
    const char *name = lua_tostring(L, 2);
    luaL_where(L, 1);               /* level 1: the Lua code that read the name */
    for (int i = 0; name && forbidden[i]; i++) {
        if (strcmp(name, forbidden[i]) == 0) {
            lua_pushfstring(L, "'%s' is not available in the sandbox", name);
            lua_concat(L, 2);
            return lua_error(L);
        }
    }
    lua_pushfstring(L, "unknown name '%s'", name ? name : "?");
    lua_concat(L, 2);
    return lua_error(L);
}

/* __index of the string table: string.dump (bytecode) is removed; say so
 * instead of "attempt to call a nil value". Other missing keys stay nil. */
static int string_missing(lua_State *L)
{
    const char *name = lua_tostring(L, 2);
    if (name && strcmp(name, "dump") == 0) {
        luaL_where(L, 1);
        lua_pushliteral(L, "'string.dump' is not available in the sandbox");
        lua_concat(L, 2);
        return lua_error(L);
    }
    lua_pushnil(L);
    return 1;
}

lua_State *sandbox_new(size_t memory_limit, long instruction_limit)
{
    sandbox_limits *lim = calloc(1, sizeof *lim);
    if (!lim)
        return NULL;
    lim->limit = memory_limit;
    lim->instruction_limit = instruction_limit;
    lua_State *L = lua_newstate(limited_alloc, lim);
    if (!L) {
        free(lim);
        return NULL;
    }
    static const luaL_Reg libs[] = {
        {LUA_GNAME, luaopen_base}, {LUA_STRLIBNAME, luaopen_string},
        {LUA_TABLIBNAME, luaopen_table}, {LUA_MATHLIBNAME, luaopen_math},
        {LUA_UTF8LIBNAME, luaopen_utf8}, {NULL, NULL}
    };
    for (const luaL_Reg *lib = libs; lib->func; lib++) {
        luaL_requiref(L, lib->name, lib->func, 1);
        lua_pop(L, 1);
    }
    lua_pushglobaltable(L);
    for (int i = 0; forbidden[i]; i++) {
        lua_pushnil(L);
        lua_setfield(L, -2, forbidden[i]);
    }
    lua_getfield(L, -1, "string");
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    lua_newtable(L);
    lua_pushcfunction(L, string_missing);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushcfunction(L, global_missing);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    lua_pop(L, 1);
    lua_sethook(L, count_hook, LUA_MASKCOUNT, HOOK_STEP);
    return L;
}

void sandbox_close(lua_State *L)
{
    if (!L)
        return;
    void *ud;
    lua_getallocf(L, &ud);
    lua_close(L);
    free(ud);
}
