/* SPDX-License-Identifier: MIT */
/*
 * device.c - finds the Vulkan loader at run time (volk: dlopen, so a machine
 * without Vulkan gets AULE_ERROR_NO_DEVICE rather than a link failure), lists
 * devices, reads what the planner needs (subgroups, shared memory, 16-bit
 * storage, cooperative-matrix shapes) and opens the chosen device. The native
 * CPU backend is listed after the Vulkan devices and chosen by the selector
 * rules of aule.h (aule_context_create): by default a GPU, else the CPU.
 */
#include "runtime_internal.h"

#include <ctype.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* volk keeps the loader's global and instance entry points in globals. */
static pthread_mutex_t volk_lock = PTHREAD_MUTEX_INITIALIZER;
static bool volk_tried;
static VkResult volk_result = VK_ERROR_INITIALIZATION_FAILED;

/* Component types of VK_KHR_cooperative_matrix (and VK_KHR_shader_bfloat16). */
enum { CT_F16 = 0, CT_F32 = 1, CT_S8 = 3, CT_S32 = 5, CT_BF16 = 1000141000 };
enum { SCOPE_SUBGROUP = 3 };

static bool map_type(uint32_t ct, auegen_scalar_type *out)
{
    switch (ct) {
    case CT_F16: *out = AUEGEN_TYPE_F16; return true;
    case CT_F32: *out = AUEGEN_TYPE_F32; return true;
    case CT_S8: *out = AUEGEN_TYPE_S8; return true;
    case CT_S32: *out = AUEGEN_TYPE_S32; return true;
    case CT_BF16: *out = AUEGEN_TYPE_BF16; return true;
    default: return false;
    }
}

static bool has_extension(const VkExtensionProperties *exts, uint32_t n, const char *name)
{
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(exts[i].extensionName, name) == 0)
            return true;
    return false;
}

static aule_status instance_create(aule_context *ctx, VkInstance *out)
{
    pthread_mutex_lock(&volk_lock);
    if (!volk_tried) {
        volk_result = volkInitialize();
        volk_tried = true;
    }
    if (volk_result != VK_SUCCESS) {
        pthread_mutex_unlock(&volk_lock);
        return aule_fail(ctx, AULE_ERROR_NO_DEVICE, "no Vulkan loader (libvulkan.so.1) could be loaded");
    }
    uint32_t version = VK_API_VERSION_1_0;
    if (vkEnumerateInstanceVersion)
        vkEnumerateInstanceVersion(&version);
    if (version < VK_API_VERSION_1_2) {
        pthread_mutex_unlock(&volk_lock);
        return aule_fail(ctx, AULE_ERROR_NO_DEVICE, "the Vulkan loader supports only %u.%u; aule needs 1.2",
                         VK_API_VERSION_MAJOR(version), VK_API_VERSION_MINOR(version));
    }
    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
        .pApplicationName = "aule",
        .pEngineName = "aule",
        .engineVersion = VK_MAKE_API_VERSION(0, 0, 1, 0),
        .apiVersion = version >= VK_API_VERSION_1_3 ? VK_API_VERSION_1_3 : VK_API_VERSION_1_2,
    };
    VkInstanceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, .pApplicationInfo = &app};
    VkResult r = vkCreateInstance(&ci, NULL, out);
    if (r == VK_SUCCESS)
        volkLoadInstanceOnly(*out);    /* loader trampolines: valid for every instance */
    pthread_mutex_unlock(&volk_lock);
    if (r != VK_SUCCESS)
        return aule_fail(ctx, r == VK_ERROR_INCOMPATIBLE_DRIVER ? AULE_ERROR_NO_DEVICE : aule_vk_status(r),
                         r == VK_ERROR_INCOMPATIBLE_DRIVER
                             ? "no Vulkan driver found (VK_ERROR_INCOMPATIBLE_DRIVER); install your GPU's Vulkan "
                               "driver, or Mesa's lavapipe (mesa-vulkan-drivers) to run on the CPU"
                             : "vkCreateInstance failed: %s",
                         aule_vk_result_string(r));
    return AULE_OK;
}

/* Everything aule wants to know about one physical device. */
typedef struct device_probe {
    aule_device_info info;
    bool usable;                   /* Vulkan 1.2, a compute queue */
    uint32_t queue_family;
    bool f16_storage, i8_storage, f16_arith, vk_memory_model, size_control, full_subgroups, coopmat, float_add;
    bool int8_dot;                 /* shaderIntegerDotProduct (Vulkan 1.3): the INT8 kernels' OpSDot */
    bool int8_arith;               /* shaderInt8: int8 cooperative matrices (the INT8 coopmat kernel) */
    bool has_coopmat_ext, has_size_control_13, has_exec_props, has_atomic_float;
    bool bf16_coopmat;             /* VK_KHR_shader_bfloat16 with bf16 cooperative matrices */
    bool int16;                    /* shaderInt16 (the scalar bf16 kernels' 16-bit integers) */
} device_probe;

static void probe(VkInstance instance, VkPhysicalDevice pd, int index, device_probe *p)
{
    memset(p, 0, sizeof *p);
    VkPhysicalDeviceSubgroupProperties sub = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceSubgroupSizeControlProperties sizectl = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES, .pNext = &sub};
    VkPhysicalDeviceDriverProperties drv = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES,
                                            .pNext = &sizectl};
    VkPhysicalDeviceProperties2 props = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &drv};
    /* Compute units, where a vendor extension tells them (decode plans its KV split from them). */
    uint32_t next0 = 0;
    vkEnumerateDeviceExtensionProperties(pd, NULL, &next0, NULL);
    VkExtensionProperties *ext0 = calloc(next0 ? next0 : 1, sizeof *ext0);
    if (ext0)
        vkEnumerateDeviceExtensionProperties(pd, NULL, &next0, ext0);
    else
        next0 = 0;
    VkPhysicalDeviceShaderSMBuiltinsPropertiesNV sm = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_SM_BUILTINS_PROPERTIES_NV};
    VkPhysicalDeviceShaderCorePropertiesAMD amd = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_CORE_PROPERTIES_AMD};
    if (has_extension(ext0, next0, VK_NV_SHADER_SM_BUILTINS_EXTENSION_NAME)) {
        sm.pNext = drv.pNext;
        drv.pNext = &sm;
    }
    if (has_extension(ext0, next0, VK_AMD_SHADER_CORE_PROPERTIES_EXTENSION_NAME)) {
        amd.pNext = drv.pNext;
        drv.pNext = &amd;
    }
    free(ext0);
    vkGetPhysicalDeviceProperties2(pd, &props);
    const VkPhysicalDeviceProperties *pr = &props.properties;
    aule_device_info *in = &p->info;
    in->index = index;
    snprintf(in->name, sizeof in->name, "%s", pr->deviceName);
    snprintf(in->driver, sizeof in->driver, "%.120s %.120s", drv.driverName, drv.driverInfo);
    switch (pr->deviceType) {
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: in->type = AULE_DEVICE_INTEGRATED; break;
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: in->type = AULE_DEVICE_DISCRETE; break;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: in->type = AULE_DEVICE_VIRTUAL; break;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: in->type = AULE_DEVICE_CPU; break;
    default: in->type = AULE_DEVICE_OTHER; break;
    }
    in->vendor_id = pr->vendorID;
    in->device_id = pr->deviceID;
    in->driver_version = pr->driverVersion;
    in->api_version = pr->apiVersion;
    in->max_storage_buffer_range = pr->limits.maxStorageBufferRange;
    in->max_workgroup_count_x = pr->limits.maxComputeWorkGroupCount[0];
    in->timestamp_period_ns = pr->limits.timestampPeriod;

    uint32_t next = 0;
    vkEnumerateDeviceExtensionProperties(pd, NULL, &next, NULL);
    VkExtensionProperties *exts = calloc(next ? next : 1, sizeof *exts);
    if (exts)
        vkEnumerateDeviceExtensionProperties(pd, NULL, &next, exts);
    else
        next = 0;
    bool v13 = pr->apiVersion >= VK_API_VERSION_1_3;
    p->has_coopmat_ext = has_extension(exts, next, AULE_VK_COOPERATIVE_MATRIX_EXTENSION);
    p->has_exec_props = has_extension(exts, next, VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME);
    p->has_atomic_float = has_extension(exts, next, VK_EXT_SHADER_ATOMIC_FLOAT_EXTENSION_NAME);
    bool has_bf16 = has_extension(exts, next, AULE_VK_SHADER_BFLOAT16_EXTENSION);
    p->has_size_control_13 = v13;

    aule_vk_coopmat_features cmf = {.sType = AULE_VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR};
    VkPhysicalDeviceVulkan13Features f13 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES};
    VkPhysicalDeviceVulkan12Features f12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    VkPhysicalDeviceVulkan11Features f11 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
    f11.pNext = &f12;
    if (v13) {
        f12.pNext = &f13;
        if (p->has_coopmat_ext)
            f13.pNext = &cmf;
    }
    VkPhysicalDeviceShaderAtomicFloatFeaturesEXT faf = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_ATOMIC_FLOAT_FEATURES_EXT};
    VkPhysicalDeviceFeatures2 feats = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f11};
    if (p->has_atomic_float) {
        faf.pNext = feats.pNext;
        feats.pNext = &faf;
    }
    aule_vk_bf16_features bf = {.sType = AULE_VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_BFLOAT16_FEATURES_KHR};
    if (has_bf16) {
        bf.pNext = feats.pNext;
        feats.pNext = &bf;
    }
    vkGetPhysicalDeviceFeatures2(pd, &feats);
    p->int16 = feats.features.shaderInt16;
    bool bf16_matrices = has_bf16 && bf.shaderBFloat16Type && bf.shaderBFloat16CooperativeMatrix;
    p->float_add = p->has_atomic_float && faf.shaderBufferFloat32AtomicAdd;
    p->f16_storage = f11.storageBuffer16BitAccess;
    p->i8_storage = f12.storageBuffer8BitAccess;
    p->f16_arith = f12.shaderFloat16;
    p->int8_arith = f12.shaderInt8;
    p->vk_memory_model = f12.vulkanMemoryModel;
    p->size_control = v13 && f13.subgroupSizeControl;
    p->full_subgroups = v13 && f13.computeFullSubgroups;
    p->int8_dot = v13 && f13.shaderIntegerDotProduct;
    in->subgroup_size_control = p->size_control && p->full_subgroups;

    /* Cooperative matrices: only with the size control that pins the subgroup size. */
    auegen_target *t = &in->caps;
    if (p->has_coopmat_ext && cmf.cooperativeMatrix && p->vk_memory_model && p->f16_arith && p->f16_storage) {
        aule_PFN_coopmat_properties get = (aule_PFN_coopmat_properties)vkGetInstanceProcAddr(
            instance, "vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR");
        uint32_t n = 0;
        if (get && get(pd, &n, NULL) == VK_SUCCESS && n > 0) {
            aule_vk_coopmat_properties *cp = calloc(n, sizeof *cp);
            if (cp) {
                for (uint32_t i = 0; i < n; i++)
                    cp[i].sType = AULE_VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_KHR;
                if (get(pd, &n, cp) == VK_SUCCESS) {
                    for (uint32_t i = 0; i < n && t->coopmat_count < AUEGEN_MAX_COOPMAT_SHAPES; i++) {
                        auegen_coopmat_shape s;
                        if (cp[i].scope != SCOPE_SUBGROUP || cp[i].AType != cp[i].BType
                            || cp[i].CType != cp[i].ResultType || cp[i].saturatingAccumulation
                            || !map_type(cp[i].AType, &s.a_type) || !map_type(cp[i].CType, &s.c_type))
                            continue;
                        if (s.a_type == AUEGEN_TYPE_S8 && !p->int8_arith)
                            continue;      /* int8 matrices need the Int8 capability (shaderInt8) */
                        if (s.a_type == AUEGEN_TYPE_BF16 && !bf16_matrices)
                            continue;      /* bf16 matrices need VK_KHR_shader_bfloat16's features */
                        p->bf16_coopmat |= s.a_type == AUEGEN_TYPE_BF16;
                        s.m = (int)cp[i].MSize;
                        s.n = (int)cp[i].NSize;
                        s.k = (int)cp[i].KSize;
                        t->coopmat[t->coopmat_count++] = s;
                    }
                }
                free(cp);
            }
        }
        p->coopmat = t->coopmat_count > 0;
        in->coopmat_khr = p->coopmat;
    }
    free(exts);

    snprintf(t->name, sizeof t->name, "%.63s", pr->deviceName);
    t->subgroup_size = (int)sub.subgroupSize;
    t->subgroup_min = p->size_control ? (int)sizectl.minSubgroupSize : (int)sub.subgroupSize;
    t->subgroup_max = p->size_control ? (int)sizectl.maxSubgroupSize : (int)sub.subgroupSize;
    t->shared_memory_bytes = (int)(pr->limits.maxComputeSharedMemorySize > 1u << 30 ? 1u << 30
                                                                                    : pr->limits.maxComputeSharedMemorySize);
    uint32_t inv = pr->limits.maxComputeWorkGroupInvocations;
    if (pr->limits.maxComputeWorkGroupSize[0] < inv)
        inv = pr->limits.maxComputeWorkGroupSize[0];
    t->max_workgroup_invocations = (int)inv;
    t->compute_units = sm.shaderSMCount ? (int)sm.shaderSMCount
                                        : (int)(amd.shaderEngineCount * amd.shaderArraysPerEngineCount
                                                * amd.computeUnitsPerShaderArray);
    t->storage16 = p->f16_storage;
    t->storage8 = p->i8_storage;
    t->fp16_arith = p->f16_arith;
    t->int8_dot = p->int8_dot;
    t->atomic_float_add = p->float_add;
    t->cpu = in->type == AULE_DEVICE_CPU;
    /* Cooperative-matrix kernels need every subgroup full and of the planned size. */
    if (p->coopmat && !(in->subgroup_size_control || t->subgroup_min == t->subgroup_max)) {
        t->coopmat_count = 0;
        p->coopmat = in->coopmat_khr = false;
    }

    VkPhysicalDeviceMemoryProperties mem;
    vkGetPhysicalDeviceMemoryProperties(pd, &mem);
    bool unified = true;
    for (uint32_t i = 0; i < mem.memoryHeapCount; i++)
        if (mem.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)
            in->device_local_bytes += mem.memoryHeaps[i].size;
    for (uint32_t i = 0; i < mem.memoryTypeCount; i++) {
        VkMemoryPropertyFlags f = mem.memoryTypes[i].propertyFlags;
        if ((f & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) && !(f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT))
            unified = false;
    }
    in->unified_memory = unified && (in->type == AULE_DEVICE_CPU || in->type == AULE_DEVICE_INTEGRATED);

    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, NULL);
    VkQueueFamilyProperties *qs = calloc(nq ? nq : 1, sizeof *qs);
    bool found = false;
    if (qs) {
        vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, qs);
        /* Prefer a compute queue without graphics (a dedicated compute engine). */
        for (int pass = 0; pass < 2 && !found; pass++) {
            for (uint32_t i = 0; i < nq && !found; i++) {
                bool compute = qs[i].queueFlags & VK_QUEUE_COMPUTE_BIT;
                bool graphics = qs[i].queueFlags & VK_QUEUE_GRAPHICS_BIT;
                if (compute && (pass == 1 || !graphics) && qs[i].timestampValidBits > 0) {
                    p->queue_family = i;
                    found = true;
                }
            }
        }
        for (uint32_t i = 0; i < nq && !found; i++) {
            if (qs[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
                p->queue_family = i;
                found = true;
            }
        }
        free(qs);
    }
    p->usable = found && pr->apiVersion >= VK_API_VERSION_1_2;
}

static int type_rank(aule_device_type t)
{
    switch (t) {
    case AULE_DEVICE_DISCRETE: return 4;
    case AULE_DEVICE_INTEGRATED: return 3;
    case AULE_DEVICE_VIRTUAL: return 2;
    case AULE_DEVICE_CPU: return 1;
    default: return 0;
    }
}

static bool name_matches(const char *name, const char *want)
{
    size_t n = strlen(want);
    for (const char *p = name; *p; p++) {
        size_t i = 0;
        while (i < n && p[i] && tolower((unsigned char)p[i]) == tolower((unsigned char)want[i]))
            i++;
        if (i == n)
            return true;
    }
    return false;
}

static aule_status enumerate(aule_context *ctx, VkInstance instance, VkPhysicalDevice **pds, device_probe **probes,
                             uint32_t *count)
{
    *pds = NULL;
    *probes = NULL;
    *count = 0;
    uint32_t n = 0;
    VkResult r = vkEnumeratePhysicalDevices(instance, &n, NULL);
    if (r != VK_SUCCESS || n == 0)
        return aule_fail(ctx, AULE_ERROR_NO_DEVICE, "no Vulkan device found (is a driver installed? "
                         "On a machine without a GPU, Mesa's lavapipe: mesa-vulkan-drivers)");
    *pds = calloc(n, sizeof **pds);
    *probes = calloc(n, sizeof **probes);
    if (!*pds || !*probes) {
        free(*pds);
        free(*probes);
        *pds = NULL;
        *probes = NULL;
        return aule_fail(ctx, AULE_ERROR_OUT_OF_MEMORY, "out of memory listing devices");
    }
    vkEnumeratePhysicalDevices(instance, &n, *pds);
    for (uint32_t i = 0; i < n; i++)
        probe(instance, (*pds)[i], (int)i, &(*probes)[i]);
    *count = n;
    return AULE_OK;
}

aule_status aule_devices_list(aule_device_info *out, int max, int *count)
{
    if (count)
        *count = 0;
    if ((!out && max > 0) || max < 0)
        return aule_fail(NULL, AULE_ERROR_INVALID_ARGUMENT, "aule_devices_list: out is NULL");
    VkInstance instance;
    uint32_t n = 0;
    if (instance_create(NULL, &instance) == AULE_OK) {
        VkPhysicalDevice *pds;
        device_probe *probes;
        if (enumerate(NULL, instance, &pds, &probes, &n) != AULE_OK)
            n = 0;
        for (uint32_t i = 0; i < n && (int)i < max; i++)
            out[i] = probes[i].info;
        free(pds);
        free(probes);
        vkDestroyInstance(instance, NULL);
    }
    /* The native CPU, always last. */
    if ((int)n < max) {
        aule_status st = aule__cpu_info(&out[n], NULL);
        if (st != AULE_OK)
            return st;
        out[n].index = (int)n;
    }
    if (count)
        *count = (int)n + 1;
    return AULE_OK;
}

int aule__device_find_memory(const aule_context *ctx, uint32_t type_bits, VkMemoryPropertyFlags want)
{
    for (uint32_t i = 0; i < ctx->memory.memoryTypeCount; i++)
        if ((type_bits & (1u << i)) && (ctx->memory.memoryTypes[i].propertyFlags & want) == want)
            return (int)i;
    return -1;
}

static bool is_gpu(aule_device_type t)
{
    return t == AULE_DEVICE_DISCRETE || t == AULE_DEVICE_INTEGRATED || t == AULE_DEVICE_VIRTUAL;
}

/* Closes what the selection opened of Vulkan, when the native CPU is chosen. */
static aule_status choose_cpu(aule_context *ctx, VkPhysicalDevice *pds, device_probe *probes, int n, bool *cpu)
{
    free(pds);
    free(probes);
    if (ctx->instance)
        vkDestroyInstance(ctx->instance, NULL);
    ctx->instance = VK_NULL_HANDLE;
    ctx->last_error[0] = '\0';     /* what failed on the way (no Vulkan driver) is not this context's error */
    *cpu = true;
    return aule__cpu_open(ctx, n);
}

aule_status aule__device_open(aule_context *ctx, const char *selector, bool *cpu)
{
    *cpu = false;
    bool want_vulkan = selector && strcasecmp(selector, "vulkan") == 0;
    bool by_default = !selector || !*selector;
    if (selector && strcasecmp(selector, "cpu") == 0)
        return choose_cpu(ctx, NULL, NULL, -1, cpu);   /* not listed: no index */
    aule_status st = instance_create(ctx, &ctx->instance);
    if (st != AULE_OK && !want_vulkan) {
        /* No Vulkan loader or driver: the CPU is device 0. */
        char *end;
        long idx = selector ? strtol(selector, &end, 10) : 0;
        bool cpu_named = by_default || (*end == '\0' && idx == 0);
        if (!cpu_named && selector) {
            aule_device_info info;
            cpu_named = aule__cpu_info(&info, NULL) == AULE_OK && name_matches(info.name, selector);
        }
        if (cpu_named)
            return choose_cpu(ctx, NULL, NULL, 0, cpu);
        return st;
    }
    if (st != AULE_OK)
        return st;
    VkPhysicalDevice *pds;
    device_probe *probes;
    uint32_t n;
    st = enumerate(ctx, ctx->instance, &pds, &probes, &n);
    if (st != AULE_OK) {
        if (want_vulkan)
            return st;
        n = 0;                      /* no Vulkan device: the CPU alone, device 0 */
        pds = NULL;
        probes = NULL;
    }
    int pick = -1;
    if (selector && *selector && !want_vulkan) {
        char *end;
        long idx = strtol(selector, &end, 10);
        if (*end == '\0') {
            if (idx == (long)n)
                return choose_cpu(ctx, pds, probes, (int)n, cpu);
            if (idx < 0 || idx > (long)n) {
                free(pds);
                free(probes);
                return aule_fail(ctx, AULE_ERROR_NO_DEVICE, "device %ld does not exist (%u device(s) found)", idx,
                                 n + 1);
            }
            pick = (int)idx;
        } else {
            for (uint32_t i = 0; i < n && pick < 0; i++)
                if (name_matches(probes[i].info.name, selector))
                    pick = (int)i;
            if (pick < 0) {
                aule_device_info info;
                if (aule__cpu_info(&info, NULL) == AULE_OK && name_matches(info.name, selector))
                    return choose_cpu(ctx, pds, probes, (int)n, cpu);
                free(pds);
                free(probes);
                return aule_fail(ctx, AULE_ERROR_NO_DEVICE, "no device name contains \"%s\"", selector);
            }
        }
        if (!probes[pick].usable) {
            aule_status e = aule_fail(ctx, AULE_ERROR_NO_DEVICE, "device %d (%s) lacks Vulkan 1.2 or a compute queue",
                                      pick, probes[pick].info.name);
            free(pds);
            free(probes);
            return e;
        }
    } else {
        /* By default only GPUs; "vulkan": any Vulkan device (lavapipe too). */
        for (uint32_t i = 0; i < n; i++)
            if (probes[i].usable && (want_vulkan || is_gpu(probes[i].info.type))
                && (pick < 0 || type_rank(probes[i].info.type) > type_rank(probes[pick].info.type)))
                pick = (int)i;
        if (pick < 0 && !want_vulkan)
            return choose_cpu(ctx, pds, probes, (int)n, cpu);
        if (pick < 0) {
            free(pds);
            free(probes);
            return aule_fail(ctx, AULE_ERROR_NO_DEVICE, "no Vulkan 1.2 device with a compute queue");
        }
    }
    device_probe p = probes[pick];
    ctx->physical = pds[pick];
    free(pds);
    free(probes);
    ctx->info = p.info;
    ctx->queue_family = p.queue_family;
    vkGetPhysicalDeviceMemoryProperties(ctx->physical, &ctx->memory);

    float priority = 1.0f;
    VkDeviceQueueCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                   .queueFamilyIndex = p.queue_family, .queueCount = 1,
                                   .pQueuePriorities = &priority};
    aule_vk_coopmat_features cmf = {.sType = AULE_VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR,
                                    .cooperativeMatrix = VK_TRUE};
    VkPhysicalDeviceVulkan13Features f13 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES,
                                            .subgroupSizeControl = p.size_control,
                                            .computeFullSubgroups = p.full_subgroups,
                                            .shaderIntegerDotProduct = p.int8_dot};
    VkPhysicalDeviceVulkan12Features f12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
                                            .shaderFloat16 = p.f16_arith,
                                            .shaderInt8 = p.int8_arith,
                                            .vulkanMemoryModel = p.vk_memory_model,
                                            .storageBuffer8BitAccess = p.i8_storage};
    VkPhysicalDeviceVulkan11Features f11 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
                                            .storageBuffer16BitAccess = p.f16_storage, .pNext = &f12};
    const char *exts[4];
    uint32_t next = 0;
    VkPhysicalDeviceShaderAtomicFloatFeaturesEXT faf = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_ATOMIC_FLOAT_FEATURES_EXT,
        .shaderBufferFloat32AtomicAdd = VK_TRUE};
    if (p.float_add) {               /* atomic_dq's accumulation */
        faf.pNext = f11.pNext;
        f11.pNext = &faf;
        exts[next++] = VK_EXT_SHADER_ATOMIC_FLOAT_EXTENSION_NAME;
    }
    VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR execf = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR,
        .pipelineExecutableInfo = VK_TRUE};
    if (p.has_size_control_13)
        f12.pNext = &f13;
    if (p.coopmat) {
        f13.pNext = &cmf;
        exts[next++] = AULE_VK_COOPERATIVE_MATRIX_EXTENSION;
    }
    if (p.has_exec_props && ctx->profile) {
        /* Register and spill counts for profiling (aule_kernel_statistics). */
        execf.pNext = f11.pNext;
        f11.pNext = &execf;
        exts[next++] = VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME;
        ctx->info.pipeline_statistics = true;
    }
    aule_vk_bf16_features bf = {.sType = AULE_VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_BFLOAT16_FEATURES_KHR,
                                .shaderBFloat16Type = VK_TRUE, .shaderBFloat16CooperativeMatrix = VK_TRUE};
    if (p.coopmat && p.bf16_coopmat) {   /* the bf16 coopmat kernels (spirv_bf16.c) */
        bf.pNext = f11.pNext;
        f11.pNext = &bf;
        exts[next++] = AULE_VK_SHADER_BFLOAT16_EXTENSION;
    }
    /* Core features: 16-bit integers (the scalar bf16 kernels' conversions). */
    VkPhysicalDeviceFeatures2 core = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f11,
                                      .features = {.shaderInt16 = p.int16}};
    VkDeviceCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, .pNext = &core, .queueCreateInfoCount = 1,
                              .pQueueCreateInfos = &qci, .enabledExtensionCount = next,
                              .ppEnabledExtensionNames = exts};
    VkResult r = vkCreateDevice(ctx->physical, &dci, NULL, &ctx->device);
    if (r != VK_SUCCESS)
        return aule_fail(ctx, aule_vk_status(r), "vkCreateDevice (%s) failed: %s", ctx->info.name,
                         aule_vk_result_string(r));
    volkLoadDeviceTable(&ctx->vk, ctx->device);
    ctx->vk.vkGetDeviceQueue(ctx->device, p.queue_family, 0, &ctx->queue);
    aule_log(ctx, AULE_LOG_INFO, "device %d: %s (%s), subgroup %d, shared %d B, coopmat shapes %d", pick,
             ctx->info.name, ctx->info.driver, ctx->info.caps.subgroup_size, ctx->info.caps.shared_memory_bytes,
             ctx->info.caps.coopmat_count);
    return AULE_OK;
}

void aule__device_close(aule_context *ctx)
{
    if (ctx->device)
        ctx->vk.vkDestroyDevice(ctx->device, NULL);
    if (ctx->instance)
        vkDestroyInstance(ctx->instance, NULL);
    ctx->device = VK_NULL_HANDLE;
    ctx->instance = VK_NULL_HANDLE;
}
