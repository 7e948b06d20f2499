/* SPDX-License-Identifier: MIT */
/*
 * probe.c - how the device lays a 16x16 cooperative matrix over a subgroup's
 * lanes, found by running a tiny kernel at context creation; the planner's
 * register-softmax kernel needs the layout (auegen_lane_layout).
 */
#include "runtime_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The probe: a subgroup loads a 16x16 matrix whose entries are their own
 * indices (row * 16 + column) and writes out what each lane holds. */
static const char probe_glsl[] =
    "#version 450\n"
    "#extension GL_KHR_cooperative_matrix : require\n"
    "#extension GL_KHR_memory_scope_semantics : require\n"
    "#extension GL_KHR_shader_subgroup_basic : require\n"
    "#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require\n"
    "layout(local_size_x = %d) in;\n"
    "layout(set = 0, binding = 3) buffer Out { float v[]; };\n"
    "shared float idx[256];\n"
    "shared float16_t idx16[256];\n"
    "void main() {\n"
    "    uint l = gl_SubgroupInvocationID;\n"
    "    for (uint e = l; e < 256u; e += %du) { idx[e] = float(e); idx16[e] = float16_t(e); }\n"
    "    barrier();\n"
    "    coopmat<float, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator> m;\n"
    "    coopMatLoad(m, idx, 0, 16, gl_CooperativeMatrixLayoutRowMajor);\n"
    "    coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseA> a;\n"
    "    coopMatLoad(a, idx16, 0, 16, gl_CooperativeMatrixLayoutRowMajor);\n"
    "    v[%du + l] = float(m.length());\n"
    "    v[%du + l] = float(a.length());\n"
    "    for (int i = 0; i < m.length() && i < %d; i++) v[l * %du + uint(i)] = m[i];\n"
    "    for (int i = 0; i < a.length() && i < %d; i++) v[%du + l * %du + uint(i)] = float(a[i]);\n"
    "}\n";

/* Runs the probe on a subgroup of `lanes`; fills out on success, and a_same
 * when f16 A matrices hold the same elements in the same places. Output
 * floats: the accumulator's elements (lanes x MAXE), the A matrix's (lanes x
 * MAXE), then each lane's element counts. */
static bool probe_run(aule_context *ctx, int lanes, auegen_lane_layout *out, bool *a_same)
{
    enum { MAXE = AUEGEN_LANE_MAX_ELEMS };
    char glsl[sizeof probe_glsl + 128];
    int a_off = lanes * MAXE, n_off = 2 * lanes * MAXE;
    snprintf(glsl, sizeof glsl, probe_glsl, lanes, lanes, n_off, n_off + lanes, MAXE, MAXE, MAXE, a_off, MAXE);
    size_t floats = (size_t)n_off + 2 * (size_t)lanes;
    *a_same = false;
    uint32_t *words = NULL;
    size_t count = 0;
    char log[512];
    kernel_entry e = {.plan = {.variant = AUEGEN_VARIANT_COOPMAT, .subgroup_size = lanes, .workgroup_size = lanes}};
    VkBuffer buf = VK_NULL_HANDLE;
    VkDeviceMemory mem = VK_NULL_HANDLE;
    void *map = NULL;
    bool ok = auegen_compile_glsl(glsl, &words, &count, log, sizeof log) == AUEGEN_OK
        && aule__pipeline_create(ctx, &e, words, count) == AULE_OK
        && aule__buffer_create(ctx, floats * sizeof(float), VK_BUFFER_USAGE_STORAGE_BUFFER_BIT,
                         VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT, 0, &buf, &mem,
                         &map) == AULE_OK
        && map;
    if (ok) {
        memset(map, 0, floats * sizeof(float));
        ok = aule__dispatch_raw(ctx, &e, buf) == AULE_OK;
    }
    int elems = 0;
    int cell[256];
    const float *v = map;
    bool same = ok;
    for (int l = 0; ok && l < lanes; l++) {
        float n = v[n_off + l];
        if (l == 0)
            elems = (int)n;
        ok = n == (float)elems && elems > 0 && elems <= MAXE && elems * lanes == 256;
        same = same && v[n_off + lanes + l] == n;
        for (int i = 0; ok && i < elems; i++) {
            float x = v[l * MAXE + i];
            ok = x >= 0.0f && x < 256.0f && x == (float)(int)x;
            cell[l * elems + i] = (int)x;
            same = same && v[a_off + l * MAXE + i] == x;
        }
    }
    ok = ok && auegen_lane_layout_fit(cell, lanes, elems, out);
    *a_same = ok && same;
    aule__buffer_destroy(ctx, buf, mem);
    if (e.pipeline)
        ctx->vk.vkDestroyPipeline(ctx->device, e.pipeline, NULL);
    if (e.module)
        ctx->vk.vkDestroyShaderModule(ctx->device, e.module, NULL);
    free(words);
    return ok;
}

void aule__kernels_probe_layout(aule_context *ctx)
{
    auegen_target *t = &ctx->info.caps;
    if (t->coopmat_emulated)
        return;                 /* the emulation's own layout, set with the caps */
    memset(&t->lane_layout, 0, sizeof t->lane_layout);
    t->lane_layout_a = false;
    auegen_toolchain tools;
    auegen_toolchain_query(&tools);
    bool shape = false;
    for (int i = 0; i < t->coopmat_count; i++)
        shape = shape || (t->coopmat[i].m == 16 && t->coopmat[i].n == 16 && t->coopmat[i].k == 16
                          && t->coopmat[i].a_type == AUEGEN_TYPE_F16 && t->coopmat[i].c_type == AUEGEN_TYPE_F32);
    int lanes = t->subgroup_size;
    if (!shape || !tools.coopmat_khr || !t->fp16_arith || lanes < 4 || 256 % lanes || lanes < t->subgroup_min
        || lanes > t->subgroup_max)
        return;
    auegen_lane_layout lay;
    bool a_same;
    bool ok = probe_run(ctx, lanes, &lay, &a_same);
    if (ok) {
        t->lane_layout = lay;
        t->lane_layout_a = a_same;
    }
    aule_log(ctx, AULE_LOG_INFO, "cooperative-matrix accumulator layout: %s",
             ok ? "known (softmax in registers)" : "not of the row-cluster form (softmax through shared memory)");
    if (ok)
        aule_log(ctx, AULE_LOG_INFO, "  %d lanes, %d elements each, clusters of %d lanes; A matrices %s", lay.lanes,
                 lay.elems, lay.cluster, a_same ? "the same (P built in registers)" : "differ (P through shared memory)");
}
