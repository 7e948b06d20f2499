/* SPDX-License-Identifier: MIT */
/*
 * compile.c - GLSL -> SPIR-V with glslang's C interface (in-process), then
 * SPIRV-Tools: validation always, performance passes where the linked
 * SPIRV-Tools has its optimizer C API.
 */
#include "gen_internal.h"

#include <glslang/Include/glslang_c_interface.h>
#include <glslang/Public/resource_limits_c.h>
#include <glslang/build_info.h>
#include <pthread.h>
/* libspirv.h defines a non-static constant: under our prefix, so a static
 * archive of auegen exports only auegen_* names. */
#define kDefaultMaxIdBound auegen__kDefaultMaxIdBound
#include <spirv-tools/libspirv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t glslang_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t glslang_lock = PTHREAD_MUTEX_INITIALIZER;

static void glslang_finish(void) { glslang_finalize_process(); }

static void glslang_start(void)
{
    glslang_initialize_process();
    atexit(glslang_finish);
}

const char *auegen_compiler_version(void)
{
#define AUEGEN_STR2(x) #x
#define AUEGEN_STR(x) AUEGEN_STR2(x)
    return "glslang " AUEGEN_STR(GLSLANG_VERSION_MAJOR) "." AUEGEN_STR(GLSLANG_VERSION_MINOR) "."
        AUEGEN_STR(GLSLANG_VERSION_PATCH);
}

const char *auegen_spirv_tools_version(void) { return spvSoftwareVersionString(); }

void auegen_toolchain_query(auegen_toolchain *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    out->coopmat_khr = GLSLANG_VERSION_MAJOR >= 13;
}

static void copy_log(char *log, size_t log_size, const char *what, const char *text)
{
    if (!log || log_size == 0)
        return;
    snprintf(log, log_size, "%s%s%s", what, text && *text ? ": " : "", text ? text : "");
}

auegen_status auegen__glsl_compile(const char *glsl, const char *name, uint32_t **words, size_t *count,
                           char *log, size_t log_size)
{
    *words = NULL;
    *count = 0;
    pthread_once(&glslang_once, glslang_start);
    /* Cooperative matrices need SPIR-V 1.6 (Vulkan 1.3); the rest targets Vulkan 1.2. */
    bool v13 = strstr(glsl, "GL_KHR_cooperative_matrix") != NULL;
    const glslang_input_t input = {
        .language = GLSLANG_SOURCE_GLSL,
        .stage = GLSLANG_STAGE_COMPUTE,
        .client = GLSLANG_CLIENT_VULKAN,
        .client_version = v13 ? GLSLANG_TARGET_VULKAN_1_3 : GLSLANG_TARGET_VULKAN_1_2,
        .target_language = GLSLANG_TARGET_SPV,
        .target_language_version = v13 ? GLSLANG_TARGET_SPV_1_6 : GLSLANG_TARGET_SPV_1_5,
        .code = glsl,
        .default_version = 450,
        .default_profile = GLSLANG_NO_PROFILE,
        .force_default_version_and_profile = false,
        .forward_compatible = false,
        .messages = GLSLANG_MSG_DEFAULT_BIT | GLSLANG_MSG_SPV_RULES_BIT | GLSLANG_MSG_VULKAN_RULES_BIT,
        .resource = glslang_default_resource(),
    };
    auegen_status st = AUEGEN_ERROR_COMPILE;
    /* glslang's front end keeps global state that is not safe to share between threads. */
    pthread_mutex_lock(&glslang_lock);
    glslang_shader_t *shader = glslang_shader_create(&input);
    glslang_program_t *program = NULL;
    if (!shader) {
        copy_log(log, log_size, "glslang could not create a shader", NULL);
        st = AUEGEN_ERROR_OUT_OF_MEMORY;
        goto done;
    }
    if (!glslang_shader_preprocess(shader, &input) || !glslang_shader_parse(shader, &input)) {
        char what[160];
        snprintf(what, sizeof what, "glslang rejected %s", name);
        copy_log(log, log_size, what, glslang_shader_get_info_log(shader));
        goto done;
    }
    program = glslang_program_create();
    glslang_program_add_shader(program, shader);
    if (!glslang_program_link(program, GLSLANG_MSG_SPV_RULES_BIT | GLSLANG_MSG_VULKAN_RULES_BIT)) {
        copy_log(log, log_size, "glslang could not link", glslang_program_get_info_log(program));
        goto done;
    }
    glslang_spv_options_t opts = {
        .generate_debug_info = false,
        .strip_debug_info = true,
        .disable_optimizer = true,
        .validate = false,
    };
    glslang_program_SPIRV_generate_with_options(program, GLSLANG_STAGE_COMPUTE, &opts);
    size_t n = glslang_program_SPIRV_get_size(program);
    if (n == 0) {
        copy_log(log, log_size, "glslang produced no SPIR-V", glslang_program_SPIRV_get_messages(program));
        goto done;
    }
    *words = malloc(n * sizeof **words);
    if (!*words) {
        st = AUEGEN_ERROR_OUT_OF_MEMORY;
        goto done;
    }
    glslang_program_SPIRV_get(program, *words);
    *count = n;
    st = AUEGEN_OK;
done:
    if (program)
        glslang_program_delete(program);
    if (shader)
        glslang_shader_delete(shader);
    pthread_mutex_unlock(&glslang_lock);
    return st;
}

auegen_status auegen_compile_glsl(const char *glsl, uint32_t **words, size_t *count, char *log, size_t log_size)
{
    if (!glsl || !words || !count)
        return AUEGEN_ERROR_USAGE;
    return auegen__glsl_compile(glsl, "(glsl)", words, count, log, log_size);
}

static spv_target_env env_for(const uint32_t *words, size_t count)
{
    uint32_t version = count > 1 ? words[1] : 0;
    return version >= 0x00010600u ? SPV_ENV_VULKAN_1_3 : SPV_ENV_VULKAN_1_2;
}

auegen_status auegen_spirv_validate(const uint32_t *words, size_t count, char *log, size_t log_size)
{
    if (log && log_size)
        log[0] = '\0';
    if (!words || count < 5 || words[0] != 0x07230203u) {
        copy_log(log, log_size, "not a SPIR-V module", NULL);
        return AUEGEN_ERROR_VALIDATE;
    }
    spv_context ctx = spvContextCreate(env_for(words, count));
    spv_validator_options vopts = spvValidatorOptionsCreate();
    if (!ctx || !vopts) {
        spvContextDestroy(ctx);
        spvValidatorOptionsDestroy(vopts);
        return AUEGEN_ERROR_OUT_OF_MEMORY;
    }
    /* bf16 kernels: this SPIRV-Tools may predate SPV_KHR_bfloat16, so their
     * carrier form is validated, after the extension's own rule is checked. */
    uint32_t *carrier = NULL;
    size_t carrier_count = 0;
    int bf16 = auegen__spirv_bf16_carrier(words, count, &carrier, &carrier_count, log, log_size);
    if (bf16 < 0) {
        spvContextDestroy(ctx);
        spvValidatorOptionsDestroy(vopts);
        return AUEGEN_ERROR_VALIDATE;
    }
    spv_const_binary_t bin = {bf16 ? carrier : words, bf16 ? carrier_count : count};
    spv_diagnostic diag = NULL;
    spv_result_t r = spvValidateWithOptions(ctx, vopts, &bin, &diag);
    if (r != SPV_SUCCESS)
        copy_log(log, log_size, "spirv-val", diag && diag->error ? diag->error : "invalid module");
    spvDiagnosticDestroy(diag);
    spvValidatorOptionsDestroy(vopts);
    spvContextDestroy(ctx);
    free(carrier);
    return r == SPV_SUCCESS ? AUEGEN_OK : AUEGEN_ERROR_VALIDATE;
}

bool auegen__spirv_optimizer_available(void)
{
#ifdef AUEGEN_HAVE_SPV_OPTIMIZER
    return true;
#else
    return false;
#endif
}

auegen_status auegen__spirv_optimize(uint32_t **words, size_t *count, char *log, size_t log_size)
{
#ifdef AUEGEN_HAVE_SPV_OPTIMIZER
    spv_optimizer_t *opt = spvOptimizerCreate(env_for(*words, *count));
    spv_optimizer_options oo = spvOptimizerOptionsCreate();
    if (!opt || !oo) {
        if (opt)
            spvOptimizerDestroy(opt);
        if (oo)
            spvOptimizerOptionsDestroy(oo);
        return AUEGEN_ERROR_OUT_OF_MEMORY;
    }
    spvOptimizerRegisterPerformancePasses(opt);
    spvOptimizerOptionsSetRunValidator(oo, false);
    spv_binary out = NULL;
    spv_result_t r = spvOptimizerRun(opt, *words, *count, &out, oo);
    auegen_status st = AUEGEN_OK;
    if (r == SPV_SUCCESS && out && out->wordCount) {
        uint32_t *copy = malloc(out->wordCount * sizeof *copy);
        if (copy) {
            memcpy(copy, out->code, out->wordCount * sizeof *copy);
            free(*words);
            *words = copy;
            *count = out->wordCount;
        } else {
            st = AUEGEN_ERROR_OUT_OF_MEMORY;
        }
    } else {
        copy_log(log, log_size, "SPIRV-Tools' optimizer failed on the generated module (a generator bug)", NULL);
        st = AUEGEN_ERROR_INTERNAL;
    }
    spvBinaryDestroy(out);
    spvOptimizerOptionsDestroy(oo);
    spvOptimizerDestroy(opt);
    return st;
#else
    (void)words;
    (void)count;
    copy_log(log, log_size, "this SPIRV-Tools has no optimizer C API", NULL);
    return AUEGEN_ERROR_UNSUPPORTED;
#endif
}
