# SPDX-License-Identifier: MIT
# AuleKernels.cmake - aule_add_kernels(): attention kernels generated from a
# project's own specs at its build time, compiled into one of its targets and
# registered with libaule, so that aule_attention_forward, aule_attention_decode
# and aule_kv_append find them by spec, also with JIT disabled.
#
#   aule_add_kernels(TARGET <target> SPECS <spec.lua>... [TARGETS <profile>...] [OUT_DIR <dir>])
#
# For each spec, auegen (the aule::auegen target: installed, or built by
# add_subdirectory/FetchContent) writes OUT_DIR/NAME[.PART].PROFILE.{comp,spv,c,h}
# for every kernel and profile (default: portable), and OUT_DIR/STEM.kernels.c,
# which includes the .c files and registers their kernels from a constructor.
# That file is the only source added to <target>; OUT_DIR is added to its
# include path (for the typed launchers in the .h files). auegen writes a
# depfile: it runs again only when the spec, auegen or libaule changed.
# <target> must link aule::aule. In a static library the registration object
# is pulled into a program only through a symbol it defines (a kernel or a
# typed launcher the program uses); executables, shared and object libraries
# need nothing more.
#
# Native CPU profiles (cpu-avx512, cpu-avx2-fma, cpu-generic, cpu-neon, ...;
# `cpu-host`: those of the host's architecture that libaule's runtime chooses
# from) may be listed among TARGETS: auegen writes NAME.PROFILE.c for each
# kernel the CPU backend runs (forward and decode), each is added to <target>
# as a source compiled with its profile's flags (aule_cpu_profile), and the
# registration file registers them with aule_register_cpu_kernels, which
# refuses kernels built against another libaule's CPU-kernel ABI. Their names
# are known only from the spec, so auegen lists them at configure time
# (--list-outputs), and the spec is a configure dependency: this needs an
# auegen that runs at configure time (an installed one, find_package). With
# aule built in the same tree (add_subdirectory, FetchContent) the CPU profiles
# are skipped with a message, and the specs run libaule's generic CPU kernel.
# Profiles of another architecture than the host's are skipped the same way.
include_guard(GLOBAL)

# aule_cpu_profile(<profile> <arch-var> <flags-var>): the architecture and compiler
# flags of one of auegen's native CPU profiles (gen/cpu.c declares them; the
# cli test checks that `auegen --targets` agrees with this table). A profile
# this table does not know sets both to "".
function(aule_cpu_profile profile arch_var flags_var)
    set(x86_avx512 -O3 -ffp-contract=fast -mavx512f -mavx512bw -mavx512vl -mavx512dq -mfma -mf16c)
    set(arch "")
    set(flags "")
    if(profile STREQUAL "cpu-avx512-bf16")
        set(arch x86_64)
        set(flags ${x86_avx512} -mavx512bf16)
    elseif(profile STREQUAL "cpu-avx512")
        set(arch x86_64)
        set(flags ${x86_avx512})
    elseif(profile STREQUAL "cpu-avx2-fma")
        set(arch x86_64)
        set(flags -O3 -ffp-contract=fast -mavx2 -mfma -mf16c)
    elseif(profile STREQUAL "cpu-generic")
        set(arch x86_64)
        set(flags -O3 -ffp-contract=fast)
    elseif(profile STREQUAL "cpu-neon")
        set(arch aarch64)
        set(flags -O3 -ffp-contract=fast)
    elseif(profile STREQUAL "cpu-sve256")
        set(arch aarch64)
        set(flags -O3 -ffp-contract=fast -march=armv8.2-a+sve -msve-vector-bits=256)
    endif()
    set(${arch_var} "${arch}" PARENT_SCOPE)
    set(${flags_var} "${flags}" PARENT_SCOPE)
endfunction()

# The host's architecture as the CPU profiles name it ("" for others).
function(aule_cpu_host_arch out_var)
    if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
        set(${out_var} x86_64 PARENT_SCOPE)
    elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64|ARM64)$")
        set(${out_var} aarch64 PARENT_SCOPE)
    else()
        set(${out_var} "" PARENT_SCOPE)
    endif()
endfunction()

function(aule_add_kernels)
    cmake_parse_arguments(PARSE_ARGV 0 arg "" "TARGET;OUT_DIR" "SPECS;TARGETS")
    if(arg_UNPARSED_ARGUMENTS)
        message(FATAL_ERROR "aule_add_kernels: unknown arguments: ${arg_UNPARSED_ARGUMENTS}")
    endif()
    if(NOT arg_TARGET OR NOT TARGET "${arg_TARGET}")
        message(FATAL_ERROR "aule_add_kernels: TARGET must name an existing target (got '${arg_TARGET}')")
    endif()
    if(NOT arg_SPECS)
        message(FATAL_ERROR "aule_add_kernels: SPECS is empty")
    endif()
    if(NOT TARGET aule::auegen OR NOT TARGET aule::aule)
        message(FATAL_ERROR "aule_add_kernels: aule::auegen is not defined: find_package(aule) or "
                            "add_subdirectory(aule) first")
    endif()
    if(NOT arg_TARGETS)
        set(arg_TARGETS portable)
    endif()
    if(NOT arg_OUT_DIR)
        set(arg_OUT_DIR "${CMAKE_CURRENT_BINARY_DIR}/aule_kernels/${arg_TARGET}")
    endif()
    cmake_path(ABSOLUTE_PATH arg_OUT_DIR BASE_DIRECTORY "${CMAKE_CURRENT_BINARY_DIR}" NORMALIZE)

    # The native CPU profiles: those of the host's architecture, with an auegen
    # that runs now (to list their files); the others are dropped with a message.
    aule_cpu_host_arch(host_arch)
    set(gpu_targets "")
    set(cpu_targets "")
    foreach(t IN LISTS arg_TARGETS)
        if(t STREQUAL "cpu-host")
            if(host_arch STREQUAL "x86_64")
                list(APPEND cpu_targets cpu-avx512 cpu-avx2-fma cpu-generic)
            elseif(host_arch STREQUAL "aarch64")
                list(APPEND cpu_targets cpu-neon)
            endif()
        elseif(t MATCHES "^cpu-")
            aule_cpu_profile("${t}" arch flags)
            if(NOT arch)
                message(FATAL_ERROR "aule_add_kernels: ${t}: not a native CPU profile (auegen --targets lists them)")
            elseif(NOT arch STREQUAL host_arch)
                message(STATUS "aule_add_kernels(${arg_TARGET}): ${t} is for ${arch}, this host is "
                               "'${host_arch}': skipped")
            else()
                list(APPEND cpu_targets "${t}")
            endif()
        else()
            list(APPEND gpu_targets "${t}")
        endif()
    endforeach()
    list(REMOVE_DUPLICATES cpu_targets)
    set(auegen_now "")
    if(cpu_targets)
        get_target_property(auegen_imported aule::auegen IMPORTED)
        if(auegen_imported)
            get_target_property(configs aule::auegen IMPORTED_CONFIGURATIONS)
            foreach(c IN LISTS configs)
                get_target_property(auegen_now aule::auegen IMPORTED_LOCATION_${c})
                if(auegen_now)
                    break()
                endif()
            endforeach()
            if(NOT auegen_now)
                get_target_property(auegen_now aule::auegen IMPORTED_LOCATION)
            endif()
        endif()
        if(NOT auegen_now OR NOT EXISTS "${auegen_now}")
            string(JOIN ", " skipped ${cpu_targets})
            message(STATUS "aule_add_kernels(${arg_TARGET}): ${skipped} skipped: CPU profiles need an installed "
                           "auegen at configure time (find_package(aule)); the specs run libaule's generic CPU kernel")
            set(cpu_targets "")
            set(auegen_now "")
        endif()
    endif()
    if(NOT gpu_targets AND NOT cpu_targets)
        set(gpu_targets portable)
    endif()
    string(JOIN "," profiles ${gpu_targets} ${cpu_targets})

    # What the outputs depend on besides the spec: auegen, and libaule when it
    # is a shared library (the generator's code lives there).
    set(tools "$<TARGET_FILE:aule::auegen>")
    get_target_property(auegen_real aule::auegen ALIASED_TARGET)
    if(auegen_real)
        list(APPEND tools "${auegen_real}")        # built here: a target-level dependency too
    endif()
    get_target_property(aule_type aule::aule TYPE)
    if(aule_type STREQUAL "SHARED_LIBRARY")
        list(APPEND tools "$<TARGET_FILE:aule::aule>")
    endif()

    set(sources "")
    foreach(spec IN LISTS arg_SPECS)
        cmake_path(ABSOLUTE_PATH spec BASE_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}" NORMALIZE OUTPUT_VARIABLE spec_abs)
        cmake_path(GET spec_abs STEM LAST_ONLY stem)
        cmake_path(GET spec_abs FILENAME spec_name)
        set(registration "${arg_OUT_DIR}/${stem}.kernels.c")
        if(registration IN_LIST sources)
            message(FATAL_ERROR "aule_add_kernels: two specs named ${stem} in one OUT_DIR")
        endif()
        # The CPU kernels' files, each compiled on its own with its profile's flags.
        set(cpu_files "")
        foreach(t IN LISTS cpu_targets)
            execute_process(COMMAND "${auegen_now}" --spec "${spec_abs}" --target "${t}" --out "${arg_OUT_DIR}"
                                    --list-outputs
                            OUTPUT_VARIABLE listed ERROR_VARIABLE err RESULT_VARIABLE rc)
            if(NOT rc EQUAL 0)
                message(FATAL_ERROR "aule_add_kernels: auegen --list-outputs failed for ${spec_name}, ${t}:\n${err}")
            endif()
            string(REGEX REPLACE "\n$" "" listed "${listed}")
            string(REPLACE "\n" ";" listed "${listed}")
            aule_cpu_profile("${t}" arch flags)
            foreach(f IN LISTS listed)
                # Hidden: a shared library that links them in does not export them.
                set_source_files_properties("${f}" PROPERTIES GENERATED TRUE
                    COMPILE_OPTIONS "${flags};-fvisibility=hidden" OBJECT_DEPENDS "${registration}")
                list(APPEND cpu_files "${f}")
            endforeach()
        endforeach()
        if(cpu_targets)
            # A changed spec may name other kernels: list them again.
            set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${spec_abs}")
        endif()
        add_custom_command(
            OUTPUT "${registration}"
            BYPRODUCTS ${cpu_files}
            COMMAND "$<TARGET_FILE:aule::auegen>" --spec "${spec_abs}" --target "${profiles}" --out "${arg_OUT_DIR}"
                    --register "${registration}" --depfile "${arg_OUT_DIR}/${stem}.kernels.d"
            DEPENDS "${spec_abs}" ${tools}
            DEPFILE "${arg_OUT_DIR}/${stem}.kernels.d"
            COMMENT "auegen: kernels of ${spec_name} for ${profiles}"
            VERBATIM)
        list(APPEND sources "${registration}" ${cpu_files})
    endforeach()
    target_sources("${arg_TARGET}" PRIVATE ${sources})
    target_include_directories("${arg_TARGET}" PRIVATE "${arg_OUT_DIR}"
        "$<TARGET_PROPERTY:aule::aule,INTERFACE_INCLUDE_DIRECTORIES>")
endfunction()
