# SPDX-License-Identifier: MIT
# cpu_profiles.cmake: the CPU profiles' architecture and flags agree between auegen
# (gen/cpu.c, as `auegen --targets` prints them) and CMake (aule_cpu_profile in
# cmake/AuleKernels.cmake, which compiles the generated files).
#   cmake -DAUEGEN=build/auegen -DSOURCE_DIR=. -P tests/cpu_profiles.cmake
include("${SOURCE_DIR}/cmake/AuleKernels.cmake")
execute_process(COMMAND "${AUEGEN}" --targets OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "auegen --targets failed (${rc})")
endif()
string(REPLACE "\n" ";" lines "${out}")
set(n 0)
foreach(line IN LISTS lines)
    if(line MATCHES "^(cpu-[a-z0-9-]+) +native CPU, ([a-z0-9_]+): [^,]+, tile [0-9x]+, (.*)$")
        set(name "${CMAKE_MATCH_1}")
        set(arch "${CMAKE_MATCH_2}")
        separate_arguments(flags UNIX_COMMAND "${CMAKE_MATCH_3}")
        aule_cpu_profile("${name}" cm_arch cm_flags)
        if(NOT cm_arch STREQUAL arch OR NOT cm_flags STREQUAL flags)
            message(FATAL_ERROR "${name}: auegen says ${arch} '${flags}', aule_cpu_profile says ${cm_arch} '${cm_flags}'")
        endif()
        math(EXPR n "${n} + 1")
    endif()
endforeach()
if(n LESS 4)
    message(FATAL_ERROR "auegen --targets listed ${n} CPU profiles")
endif()
message(STATUS "${n} CPU profiles: auegen and aule_cpu_profile agree")
