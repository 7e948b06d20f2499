/* SPDX-License-Identifier: MIT */
/*
 * auegen_spec_fields.h - every field of the spec language, declared once.
 *
 * An X-macro table (in the manner of LLVM's .def files): no include guard
 * around the rows. Define AUEGEN_SPEC_FIELD and/or AUEGEN_SPEC_VALUE, include
 * this file, and each row expands where it is included; both macros are
 * undefined again at the end. What expands it:
 *   include/auegen.h      the members of auegen_spec_desc and auegen_spec
 *   gen/spec.c            validation, normalization, the canonical form
 *   gen/spec_file.c       reading attention { } in Lua, "unknown field" messages
 *   gen/generate.c        the .spec initializer of the C stubs
 *   gen/template.c        the spec's values as template globals
 *   tests/test_unit.c     no field dropped by normalize; docs/spec.md's field table
 * Adding a field: docs/spec.md, "Adding a spec field".
 *
 * AUEGEN_SPEC_FIELD(FIELD, KIND, CTYPE, LO, HI, ZERO, DEFAULT, UNITS, TOKEN, CANON, TMPL, CHECK,
 *                   NEEDS, EXAMPLE, LUA_TYPE, VALUES, DOC_DEFAULT, DOC), in canonical order:
 *   FIELD     the Lua field; for the single-member kinds also the member of both structs
 *   KIND      INT, BOOL, ENUM, DOUBLE: one member of type CTYPE, read, checked, printed and
 *             copied by generic code. NAME, CAUSAL, WINDOW, TILE: the members below, with
 *             hand-written code for each kind (a switch over the kinds, so none is missed)
 *   CTYPE     the member's C type (single-member kinds; `void` otherwise)
 *   LO, HI    INT: the accepted range (the message says "FIELD must be in LO..HI")
 *   ZERO      what a zero member of auegen_spec_desc means: REQUIRED (nothing: 0 is checked
 *             like any value), DEFAULT (the default: DEFAULT; Lua rejects a written 0),
 *             VALUE (a value of its own, e.g. page_size = 0 is a contiguous cache)
 *   DEFAULT   ZERO = DEFAULT: the value that stands for 0, a C expression that may read
 *             `s`, the auegen_spec validated so far (the rows above this one)
 *   UNITS     appended to the range in messages ("gqa must be in 1..256 query heads ...")
 *   TOKEN     the field's name in the canonical form (NULL: not in it)
 *   CANON     ALWAYS: " TOKEN=value" every time; IF_SET: only when the member is nonzero
 *             (for BOOL just " TOKEN"), so a new field leaves older canonical forms and keys
 *             unchanged; NONE: not written
 *   TMPL      the template global the value becomes (NULL: none); DOUBLE: TMPL and HAS_TMPL;
 *             WINDOW: TMPL_LEFT and TMPL_RIGHT
 *   CHECK     a hand-written validator in gen/spec.c used instead of the generic check of
 *             the kind (it may call the generic one), or 0
 *   NEEDS, EXAMPLE  auegen_spec_desc designators in parentheses: EXAMPLE is a non-default
 *             setting of the field (needing NEEDS); tests/test_unit.c checks that it
 *             survives normalization and reaches the canonical form (or is rejected both ways)
 *   LUA_TYPE, VALUES, DOC_DEFAULT  the cells of docs/spec.md's field table (checked by test_unit)
 *   DOC       how that table's "meaning" cell starts
 *
 * AUEGEN_SPEC_VALUE(FIELD, CONSTANT, NAME): one value of an ENUM field, in the order
 * Lua names are listed in messages; the generic code maps names, constants and text.
 */
#ifndef AUEGEN_SPEC_FIELDS_KINDS
#define AUEGEN_SPEC_FIELDS_KINDS
/* The members each kind gives auegen_spec_desc (DESC) and auegen_spec (SPEC). */
#define AUEGEN_SPEC_DESC_MEMBERS_INT(field, ctype) ctype field;
#define AUEGEN_SPEC_DESC_MEMBERS_BOOL(field, ctype) bool field;
#define AUEGEN_SPEC_DESC_MEMBERS_ENUM(field, ctype) ctype field;
#define AUEGEN_SPEC_DESC_MEMBERS_DOUBLE(field, ctype) double field;
#define AUEGEN_SPEC_DESC_MEMBERS_NAME(field, ctype) const char *field;
#define AUEGEN_SPEC_DESC_MEMBERS_CAUSAL(field, ctype) bool field;
#define AUEGEN_SPEC_DESC_MEMBERS_WINDOW(field, ctype) bool has_window; int window_left, window_right;
#define AUEGEN_SPEC_DESC_MEMBERS_TILE(field, ctype) int tile_q, tile_kv, tile_rows;
#define AUEGEN_SPEC_MEMBERS_INT(field, ctype) ctype field;
#define AUEGEN_SPEC_MEMBERS_BOOL(field, ctype) bool field;
#define AUEGEN_SPEC_MEMBERS_ENUM(field, ctype) ctype field;
#define AUEGEN_SPEC_MEMBERS_DOUBLE(field, ctype) double field;
#define AUEGEN_SPEC_MEMBERS_NAME(field, ctype) char field[AUEGEN_MAX_NAME + 1];
#define AUEGEN_SPEC_MEMBERS_CAUSAL(field, ctype)            /* folded into window_right == 0 */
#define AUEGEN_SPEC_MEMBERS_WINDOW(field, ctype) int window_left, window_right;
#define AUEGEN_SPEC_MEMBERS_TILE(field, ctype) int tile_q, tile_kv, tile_rows;
#endif

#ifndef AUEGEN_SPEC_FIELD
#define AUEGEN_SPEC_FIELD(FIELD, KIND, CTYPE, LO, HI, ZERO, DEFAULT, UNITS, TOKEN, CANON, TMPL, CHECK, NEEDS, \
                          EXAMPLE, LUA_TYPE, VALUES, DOC_DEFAULT, DOC)
#endif
#ifndef AUEGEN_SPEC_VALUE
#define AUEGEN_SPEC_VALUE(FIELD, CONSTANT, NAME)
#endif

AUEGEN_SPEC_FIELD(name, NAME, void, 1, AUEGEN_MAX_NAME, REQUIRED, 0, "",
    NULL, NONE, NULL, check_name, (), (.name = "renamed"),
    "string", "a C identifier `[A-Za-z_][A-Za-z0-9_]*`, at most 63 characters, unique within the file", "required",
    "Names the kernel:")

AUEGEN_SPEC_FIELD(kind, ENUM, auegen_kind, 0, 0, DEFAULT, AUEGEN_KIND_FORWARD, "",
    "kind", ALWAYS, "KIND", check_kind, (), (.kind = AUEGEN_KIND_DECODE),
    "string", "`\"forward\"`, `\"decode\"`, `\"backward\"`", "`\"forward\"`",
    "Kernel family.")
AUEGEN_SPEC_VALUE(kind, AUEGEN_KIND_FORWARD, "forward")
AUEGEN_SPEC_VALUE(kind, AUEGEN_KIND_DECODE, "decode")
AUEGEN_SPEC_VALUE(kind, AUEGEN_KIND_BACKWARD, "backward")

AUEGEN_SPEC_FIELD(head_dim, INT, int, 1, AUEGEN_MAX_HEAD_DIM, REQUIRED, 0, "",
    "head_dim", ALWAYS, "D", 0, (), (.head_dim = 32),
    "integer", "1..256", "required",
    "D, the head dimension of Q and K.")

AUEGEN_SPEC_FIELD(head_dim_v, INT, int, 1, AUEGEN_MAX_HEAD_DIM, DEFAULT, s->head_dim, "",
    "head_dim_v", ALWAYS, "DV", 0, (), (.head_dim_v = 32),
    "integer", "1..256", "`head_dim`",
    "Dv, the head dimension of V and O, when it differs from D.")

AUEGEN_SPEC_FIELD(gqa, INT, int, 1, AUEGEN_MAX_GQA, DEFAULT, 1, " query heads per KV head",
    "gqa", ALWAYS, "GQA", 0, (), (.gqa = 4),
    "integer", "1..256", "1",
    "Query heads per KV head: H = gqa × Hkv.")

AUEGEN_SPEC_FIELD(causal, CAUSAL, bool, 0, 0, VALUE, 0, "",
    NULL, NONE, NULL, 0, (), (.causal = true),
    "boolean", "`true`, `false`", "`false`",
    "Causal mask, bottom-right aligned.")

AUEGEN_SPEC_FIELD(window, WINDOW, void, -1, 0, VALUE, 0, "",
    "window", ALWAYS, "WIN", check_window, (), (.has_window = true, .window_left = 8, .window_right = 2),
    "table or `false`", "`{ left = L, right = R }`, each an integer >= 0 or -1 (unbounded); at least one of the "
    "two; with `causal = true`, `right` must be 0 or -1", "`false` (no window)",
    "Sliding-window (local) attention.")

AUEGEN_SPEC_FIELD(softcap, DOUBLE, double, 0, 0, VALUE, 0, "",
    "softcap", ALWAYS, "SOFTCAP", check_softcap, (), (.softcap = 30),
    "number", "0, or 0.001..1e6", "0 (off)",
    "Soft-capping of the attention logits (Gemma 2).")

AUEGEN_SPEC_FIELD(dtype, ENUM, auegen_dtype, 0, 0, DEFAULT, AUEGEN_DTYPE_F16, "",
    "dtype", ALWAYS, "DTYPE", 0, (), (.dtype = AUEGEN_DTYPE_BF16),
    "string", "`\"f32\"`, `\"f16\"`, `\"bf16\"`", "`\"f16\"`",
    "Storage type of Q, K, V and O.")
AUEGEN_SPEC_VALUE(dtype, AUEGEN_DTYPE_F32, "f32")
AUEGEN_SPEC_VALUE(dtype, AUEGEN_DTYPE_F16, "f16")
AUEGEN_SPEC_VALUE(dtype, AUEGEN_DTYPE_BF16, "bf16")

AUEGEN_SPEC_FIELD(int8, BOOL, bool, 0, 0, VALUE, 0, "",
    "int8", ALWAYS, "INT8", check_int8, (), (.int8 = true),
    "boolean", "`true` needs `kind = \"forward\"`; not with `softcap`, `sinks` or `backward`", "`false`",
    "Q·Kᵀ in 8-bit integers (SageAttention-style)")

AUEGEN_SPEC_FIELD(coopmat, ENUM, auegen_coopmat, 0, 0, DEFAULT, AUEGEN_COOPMAT_AUTO, "",
    "coopmat", ALWAYS, NULL, 0, (), (.coopmat = AUEGEN_COOPMAT_NONE),
    "string", "`\"auto\"`, `\"khr\"`, `\"none\"`", "`\"auto\"`",
    "Tensor cores through `VK_KHR_cooperative_matrix`.")
AUEGEN_SPEC_VALUE(coopmat, AUEGEN_COOPMAT_AUTO, "auto")
AUEGEN_SPEC_VALUE(coopmat, AUEGEN_COOPMAT_KHR, "khr")
AUEGEN_SPEC_VALUE(coopmat, AUEGEN_COOPMAT_NONE, "none")

AUEGEN_SPEC_FIELD(tile, TILE, void, 1, AUEGEN_MAX_TILE, DEFAULT, 0, "",
    "tile", ALWAYS, NULL, check_tile, (), (.tile_q = 64, .tile_kv = 32, .tile_rows = 32),
    "`\"auto\"` or table", "`{ q = Br, kv = Bc }`, both powers of two in 1..256, both given; optionally "
    "`rows_per_subgroup = 16` or `32`", "`\"auto\"`",
    "Query rows (Br) and keys (Bc) per workgroup step.")

AUEGEN_SPEC_FIELD(page_size, INT, int, 16, 256, VALUE, 0, "",
    "page", ALWAYS, "PAGE", check_page_size, (.kind = AUEGEN_KIND_DECODE), (.page_size = 16),
    "integer", "0, or a power of two in 16..256", "`0`",
    "Decode only: tokens per page of a paged KV cache")

AUEGEN_SPEC_FIELD(kv_int8, BOOL, bool, 0, 0, VALUE, 0, "",
    "kv=int8", IF_SET, "KV_INT8", check_kv_int8, (.kind = AUEGEN_KIND_DECODE, .page_size = 16), (.kv_int8 = true),
    "boolean", "`true` needs `kind = \"decode\"` and a `page_size`", "`false`",
    "The KV cache in int8 with fp32 scales per page, KV head and channel")

AUEGEN_SPEC_FIELD(sinks, BOOL, bool, 0, 0, VALUE, 0, "",
    "sinks", IF_SET, "SINKS", 0, (), (.sinks = true),
    "boolean", "`true`, `false`", "`false`",
    "Attention sinks (gpt-oss): one learned logit per query head")

AUEGEN_SPEC_FIELD(backward, BOOL, bool, 0, 0, VALUE, 0, "",
    "backward", IF_SET, "BACKWARD", check_backward, (), (.backward = true),
    "boolean", "`true` needs `kind = \"forward\"`", "`false`",
    "Training: the backward kernels (dQ, dK, dV) are generated beside the forward one")

AUEGEN_SPEC_FIELD(atomic_dq, BOOL, bool, 0, 0, VALUE, 0, "",
    "atomic_dq", IF_SET, NULL, check_atomic_dq, (.backward = true), (.atomic_dq = true),
    "boolean", "`true` needs `backward = true` and no `sinks`", "`false`",
    "Training: dQ accumulated with float atomics where the device has them (not deterministic)")

#undef AUEGEN_SPEC_FIELD
#undef AUEGEN_SPEC_VALUE
