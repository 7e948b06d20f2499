/* SPDX-License-Identifier: MIT */
/*
 * spirv_bf16.c - bf16 cooperative-matrix kernels from f16 ones, at the SPIR-V level.
 *
 * The bf16 coopmat kernels are written in GLSL with float16_t as a carrier:
 * the shared tiles and the A/B matrices hold bf16 bit patterns, and the
 * template only moves them (loads, stores, bitcasts, conversions, matrix
 * loads and multiply-adds), never computes with them. glslang compiles that,
 * SPIRV-Tools optimizes and validates it as an ordinary f16 module, and this
 * pass then gives the module's one 16-bit float type the BFloat16KHR encoding
 * of SPV_KHR_bfloat16 (OpTypeFloat 16 0), declares BFloat16TypeKHR and
 * BFloat16CooperativeMatrixKHR, and re-encodes the 16-bit float constants.
 * So the kernel needs no compiler with GL_EXT_bfloat16 (glslang 15.4+).
 *
 * The pass refuses a module in which the 16-bit float type (or a type built
 * from it) reaches an instruction SPV_KHR_bfloat16 does not allow (arithmetic,
 * comparisons, extended instructions): the carrier must stay a carrier.
 *
 * SPIRV-Tools releases before SPV_KHR_bfloat16 cannot validate the result, so
 * auegen_spirv_validate checks such a module in its carrier form (the
 * encoding, capabilities and extension taken out) and applies the same rule.
 */
#include "gen_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    OP_SOURCE_CONTINUED = 2, OP_SOURCE = 3, OP_SOURCE_EXTENSION = 4, OP_NAME = 5, OP_MEMBER_NAME = 6,
    OP_STRING = 7, OP_LINE = 8, OP_EXTENSION = 10, OP_EXT_INST_IMPORT = 11, OP_EXT_INST = 12, OP_MEMORY_MODEL = 14,
    OP_ENTRY_POINT = 15, OP_EXECUTION_MODE = 16, OP_CAPABILITY = 17, OP_TYPE_FLOAT = 22, OP_TYPE_VECTOR = 23,
    OP_TYPE_MATRIX = 24, OP_TYPE_ARRAY = 28, OP_TYPE_RUNTIME_ARRAY = 29, OP_TYPE_STRUCT = 30, OP_TYPE_POINTER = 32,
    OP_TYPE_FUNCTION = 33, OP_CONSTANT = 43, OP_SPEC_CONSTANT = 50, OP_FUNCTION_END = 56, OP_STORE = 62,
    OP_DECORATE = 71, OP_MEMBER_DECORATE = 72, OP_LABEL = 248, OP_TYPE_COOPMAT = 4456,
    CAP_BF16_TYPE = 5116, CAP_BF16_DOT = 5117, CAP_BF16_COOPMAT = 5118,
    FP_ENCODING_BF16 = 0,
};

static const char BF16_EXTENSION[] = "SPV_KHR_bfloat16";

/* Instructions with neither a result type nor a result id, or a result id alone
 * (types, labels, imports): the rest of the core grammar has both. */
static bool has_result_type(uint32_t op)
{
    if (op >= 19 && op <= 39)          /* OpType* */
        return false;
    switch (op) {
    case 0: case OP_SOURCE_CONTINUED: case OP_SOURCE: case OP_SOURCE_EXTENSION: case OP_NAME: case OP_MEMBER_NAME:
    case OP_STRING: case OP_LINE: case OP_EXTENSION: case OP_EXT_INST_IMPORT: case OP_MEMORY_MODEL: case OP_ENTRY_POINT:
    case OP_EXECUTION_MODE: case OP_CAPABILITY: case OP_FUNCTION_END: case OP_STORE: case 63: case 64:
    case OP_DECORATE: case OP_MEMBER_DECORATE: case 73: case 74: case 75: case 224: case 225: case 228:
    case 246: case 247: case OP_LABEL: case 249: case 250: case 251: case 252: case 253: case 254: case 255:
    case 256: case 257: case 317: case 322: case 330: case 331: case 332: case 4416: case OP_TYPE_COOPMAT:
    case 4458: case 5632: case 5633:
        return false;
    default:
        return true;
    }
}

/* Instructions that take no values: the module's header (capabilities,
 * extensions, imports, the memory model, entry points and execution modes),
 * debug and annotation instructions, labels, merges and unconditional branches.
 * Their literals must not be read as ids. */
static bool takes_no_values(uint32_t op)
{
    switch (op) {
    case 0: case OP_SOURCE_CONTINUED: case OP_SOURCE: case OP_SOURCE_EXTENSION: case OP_NAME: case OP_MEMBER_NAME:
    case OP_STRING: case OP_LINE: case OP_EXTENSION: case OP_EXT_INST_IMPORT: case OP_MEMORY_MODEL:
    case OP_ENTRY_POINT: case OP_EXECUTION_MODE: case OP_CAPABILITY: case OP_DECORATE: case OP_MEMBER_DECORATE:
    case 73: case 74: case 75: case 246: case 247: case OP_LABEL: case 249: case 317: case 330: case 331: case 332:
    case 5632: case 5633:
        return true;
    default:
        return false;
    }
}

/* What SPV_KHR_bfloat16 lets a bf16 value (or a type containing one) reach:
 * constant creation, memory, function, conversion and composite instructions,
 * OpDot, the cooperative-matrix multiply-add and length, OpSelect, OpPhi,
 * OpReturnValue and the lifetime instructions; plus the cooperative-matrix
 * loads and stores, which are memory instructions. */
static bool bf16_allowed(uint32_t op)
{
    if ((op >= 41 && op <= 46) || (op >= 48 && op <= 52))      /* constants */
        return true;
    if ((op >= 59 && op <= 70) || (op >= 401 && op <= 403) || op == 4457 || op == 4458)   /* memory */
        return true;
    if (op >= 54 && op <= 57)                                   /* function */
        return true;
    if (op >= 109 && op <= 126)                                 /* conversion */
        return true;
    if ((op >= 77 && op <= 84) || op == 400)                    /* composite */
        return true;
    switch (op) {
    case 148: case 4459: case 4460: case 169: case 245: case 254: case 256: case 257:
        return true;
    default:
        return false;
    }
}

/* The module, walked once: ids of types that contain the 16-bit float (the
 * float itself, vectors, arrays, structs, pointers, functions, matrices of
 * it), and the type of every value. */
typedef struct module_scan {
    const uint32_t *w;
    size_t count, bound;
    uint32_t half;                 /* the 16-bit float type's id; 0 when none */
    int half_types;                /* OpTypeFloat 16 instructions */
    bool half_is_bf16;             /* it carries the BFloat16KHR encoding already */
    unsigned char *holds;          /* [bound]: type id that contains the 16-bit float */
    uint32_t *value_type;          /* [bound]: the type of each value id, 0 for none */
    size_t last_capability, last_extension;   /* word offsets just past them; 0: none */
    bool has_bf16_extension;
} module_scan;

static void scan_free(module_scan *m)
{
    free(m->holds);
    free(m->value_type);
}

static int fail(char *log, size_t log_size, const char *fmt, unsigned a, unsigned b)
{
    if (log && log_size)
        snprintf(log, log_size, fmt, a, b);
    return -1;
}

static bool word_is_string(const uint32_t *w, size_t n, const char *s)
{
    size_t len = strlen(s);
    if (n * 4 < len + 1)
        return false;
    return memcmp(w, s, len) == 0 && ((const char *)w)[len] == '\0';
}

static int scan(const uint32_t *w, size_t count, module_scan *m, char *log, size_t log_size)
{
    memset(m, 0, sizeof *m);
    if (!w || count < 5 || w[0] != 0x07230203u || w[3] == 0 || w[3] > (1u << 22))
        return fail(log, log_size, "not a SPIR-V module", 0, 0);
    m->w = w;
    m->count = count;
    m->bound = w[3];
    m->holds = calloc(m->bound, 1);
    m->value_type = calloc(m->bound, sizeof *m->value_type);
    if (!m->holds || !m->value_type)
        return fail(log, log_size, "out of memory", 0, 0);
    for (size_t i = 5; i < count;) {
        uint32_t n = w[i] >> 16, op = w[i] & 0xffffu;
        if (n == 0 || i + n > count)
            return fail(log, log_size, "SPIR-V instruction at word %u runs past the module's end", (unsigned)i, 0);
        const uint32_t *a = w + i + 1;
        uint32_t na = n - 1;
        uint32_t result = (op >= 19 && op <= 39) || op == OP_TYPE_COOPMAT || op == OP_LABEL || op == OP_STRING
                          || op == OP_EXT_INST_IMPORT ? 1 : has_result_type(op) ? 2 : 0;
        if (result && (na < result || a[result - 1] >= m->bound))
            return fail(log, log_size, "SPIR-V instruction at word %u has a result id beyond the bound %u",
                        (unsigned)i, (unsigned)m->bound);
        switch (op) {
        case OP_CAPABILITY:
            m->last_capability = i + n;
            break;
        case OP_EXTENSION:
            m->last_extension = i + n;
            if (word_is_string(a, na, BF16_EXTENSION))
                m->has_bf16_extension = true;
            break;
        case OP_TYPE_FLOAT:
            if (na >= 2 && a[1] == 16) {
                m->half = a[0];
                m->half_types++;
                m->half_is_bf16 = na >= 3 && a[2] == FP_ENCODING_BF16;
                m->holds[a[0]] = 1;
            }
            break;
        case OP_TYPE_VECTOR: case OP_TYPE_MATRIX: case OP_TYPE_ARRAY: case OP_TYPE_RUNTIME_ARRAY:
            if (na >= 2 && a[1] < m->bound && m->holds[a[1]])
                m->holds[a[0]] = 1;
            break;
        case OP_TYPE_COOPMAT:
            if (na >= 2 && a[1] < m->bound && m->holds[a[1]])
                m->holds[a[0]] = 1;
            break;
        case OP_TYPE_POINTER:
            if (na >= 3 && a[2] < m->bound && m->holds[a[2]])
                m->holds[a[0]] = 1;
            break;
        case OP_TYPE_STRUCT: case OP_TYPE_FUNCTION:
            for (uint32_t k = 1; k < na; k++)
                if (a[k] < m->bound && m->holds[a[k]])
                    m->holds[a[0]] = 1;
            break;
        default:
            if (has_result_type(op) && na >= 2 && a[1] < m->bound)
                m->value_type[a[1]] = a[0];
            break;
        }
        i += n;
    }
    if (m->half_types > 1)
        return fail(log, log_size, "the module has %u 16-bit float types; a bf16 carrier module has one", (unsigned)m->half_types, 0);
    return 0;
}

static const char *op_name(uint32_t op)
{
    switch (op) {
    case 1: return "OpUndef";
    case 12: return "OpExtInst";
    case 127: return "OpFNegate";
    case 129: return "OpFAdd";
    case 131: return "OpFSub";
    case 133: return "OpFMul";
    case 136: return "OpFDiv";
    case 142: return "OpVectorTimesScalar";
    case 156: return "OpIsNan";
    default: return op >= 180 && op <= 191 ? "a floating-point comparison" : "an arithmetic instruction";
    }
}

/* The SPV_KHR_bfloat16 rule over a scanned module: every instruction that a
 * 16-bit float value or type reaches must be one the extension allows. */
static int check_uses(const module_scan *m, char *log, size_t log_size)
{
    const uint32_t *w = m->w;
    if (!m->half)
        return 0;
    for (size_t i = 5; i < m->count;) {
        uint32_t n = w[i] >> 16, op = w[i] & 0xffffu;
        const uint32_t *a = w + i + 1;
        uint32_t na = n - 1;
        bool touches = false;
        if (!(op >= 19 && op <= 39) && op != OP_TYPE_COOPMAT && !takes_no_values(op)) {
            uint32_t first = 0, end = na;
            if (has_result_type(op) && na >= 2) {
                touches = a[0] < m->bound && m->holds[a[0]];
                first = 2;
            }
            if (op == 250 || op == 251)        /* OpBranchConditional, OpSwitch: the condition or selector */
                end = na ? 1 : 0;
            for (uint32_t k = first; k < end && !touches; k++) {
                if (op == OP_EXT_INST && k == 3)
                    continue;                  /* the extended instruction's number, a literal */
                uint32_t id = a[k];
                touches = id < m->bound && m->value_type[id] && m->holds[m->value_type[id]];
            }
        }
        if (touches && !bf16_allowed(op)) {
            if (log && log_size)
                snprintf(log, log_size, "bf16: %s (opcode %u) on a 16-bit float; SPV_KHR_bfloat16 allows only moves, "
                         "conversions and matrix products (the template computes with its bf16 carrier)", op_name(op), op);
            return -1;
        }
        i += n;
    }
    return 0;
}

/* IEEE binary16 bits -> float (exact), float -> bf16 bits, rounded to nearest even. */
static float half_to_float(uint32_t h)
{
    uint32_t sign = (h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, f = h & 0x3ffu, u;
    if (e == 0x1f) {
        u = sign | 0x7f800000u | (f << 13);
    } else if (e) {
        u = sign | ((e + 112u) << 23) | (f << 13);
    } else if (f) {                        /* subnormal: renormalize */
        int shift = 0;
        while (!(f & 0x400u)) {
            f <<= 1;
            shift++;
        }
        u = sign | ((uint32_t)(113 - shift) << 23) | ((f & 0x3ffu) << 13);
    } else {
        u = sign;
    }
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

static uint32_t float_to_bf16(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return 0x7fc0u | ((u >> 16) & 0x8000u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return u >> 16;
}

uint32_t auegen__half_bits_to_bf16(uint32_t half_bits) { return float_to_bf16(half_to_float(half_bits & 0xffffu)); }

static size_t string_words(const char *s) { return strlen(s) / 4 + 1; }

auegen_status auegen__spirv_bf16_retype(uint32_t **words, size_t *count, char *log, size_t log_size)
{
    if (log && log_size)
        log[0] = '\0';
    if (!words || !*words || !count)
        return AUEGEN_ERROR_USAGE;
    module_scan m;
    if (scan(*words, *count, &m, log, log_size) || check_uses(&m, log, log_size)) {
        scan_free(&m);
        return AUEGEN_ERROR_INTERNAL;
    }
    if (!m.half || m.half_is_bf16 || m.has_bf16_extension || !m.last_capability) {
        if (log && log_size)
            snprintf(log, log_size, "bf16: %s", !m.half ? "the module has no 16-bit float type to retype"
                                            : !m.last_capability ? "the module declares no capability"
                                                                 : "the module is already bf16");
        scan_free(&m);
        return AUEGEN_ERROR_INTERNAL;
    }
    /* Two capabilities (2 words each), the extension, and the encoding operand. */
    size_t ext_words = 1 + string_words(BF16_EXTENSION);
    size_t out_count = *count + 4 + ext_words + 1;
    uint32_t *out = calloc(out_count, sizeof *out);
    if (!out) {
        scan_free(&m);
        return AUEGEN_ERROR_OUT_OF_MEMORY;
    }
    const uint32_t *w = *words;
    size_t o = 0;
    memcpy(out, w, 5 * sizeof *w);
    o = 5;
    /* Extensions follow the capabilities; the new one goes after the last of either. */
    size_t ext_at = m.last_extension > m.last_capability ? m.last_extension : m.last_capability;
    for (size_t i = 5; i < *count;) {
        uint32_t n = w[i] >> 16, op = w[i] & 0xffffu;
        if (op == OP_TYPE_FLOAT && w[i + 1] == m.half) {
            out[o++] = (4u << 16) | OP_TYPE_FLOAT;
            out[o++] = m.half;
            out[o++] = 16;
            out[o++] = FP_ENCODING_BF16;
        } else if ((op == OP_CONSTANT || op == OP_SPEC_CONSTANT) && n == 4 && w[i + 1] == m.half) {
            out[o++] = w[i];
            out[o++] = w[i + 1];
            out[o++] = w[i + 2];
            out[o++] = auegen__half_bits_to_bf16(w[i + 3]);
        } else {
            memcpy(out + o, w + i, n * sizeof *w);
            o += n;
        }
        i += n;
        if (i == m.last_capability) {
            out[o++] = (2u << 16) | OP_CAPABILITY;
            out[o++] = CAP_BF16_TYPE;
            out[o++] = (2u << 16) | OP_CAPABILITY;
            out[o++] = CAP_BF16_COOPMAT;
        }
        if (i == ext_at) {
            out[o++] = ((uint32_t)ext_words << 16) | OP_EXTENSION;
            memcpy(out + o, BF16_EXTENSION, sizeof BF16_EXTENSION);
            o += ext_words - 1;
        }
    }
    scan_free(&m);
    free(*words);
    *words = out;
    *count = o;
    return AUEGEN_OK;
}

int auegen__spirv_bf16_carrier(const uint32_t *words, size_t count, uint32_t **carrier, size_t *carrier_count,
                               char *log, size_t log_size)
{
    *carrier = NULL;
    *carrier_count = 0;
    module_scan m;
    if (scan(words, count, &m, log, log_size)) {
        scan_free(&m);
        return -1;
    }
    if (!m.half_is_bf16 && !m.has_bf16_extension) {
        scan_free(&m);
        return 0;
    }
    if (!m.half_is_bf16 || !m.has_bf16_extension) {
        scan_free(&m);
        if (log && log_size)
            snprintf(log, log_size, "bf16: the module %s", m.half_is_bf16 ? "has a bf16 type but does not declare "
                     "SPV_KHR_bfloat16" : "declares SPV_KHR_bfloat16 but has no bf16 type");
        return -1;
    }
    if (check_uses(&m, log, log_size)) {
        scan_free(&m);
        return -1;
    }
    uint32_t *out = malloc(count * sizeof *out);
    if (!out) {
        scan_free(&m);
        return fail(log, log_size, "out of memory", 0, 0);
    }
    memcpy(out, words, 5 * sizeof *words);
    size_t o = 5;
    for (size_t i = 5; i < count;) {
        uint32_t n = words[i] >> 16, op = words[i] & 0xffffu;
        bool drop = (op == OP_CAPABILITY && n == 2
                     && (words[i + 1] == CAP_BF16_TYPE || words[i + 1] == CAP_BF16_DOT || words[i + 1] == CAP_BF16_COOPMAT))
                    || (op == OP_EXTENSION && word_is_string(words + i + 1, n - 1, BF16_EXTENSION));
        if (op == OP_TYPE_FLOAT && n == 4 && words[i + 1] == m.half) {
            out[o++] = (3u << 16) | OP_TYPE_FLOAT;
            out[o++] = m.half;
            out[o++] = 16;
        } else if (!drop) {
            memcpy(out + o, words + i, n * sizeof *words);
            o += n;
        }
        i += n;
    }
    scan_free(&m);
    *carrier = out;
    *carrier_count = o;
    return 1;
}
