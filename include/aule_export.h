/* SPDX-License-Identifier: MIT */
/*
 * aule_export.h - marks the public API of libaule and of the generator inside
 * it. The library is built with hidden visibility (-fvisibility=hidden), so a
 * function is exported from the shared library only when its declaration in
 * include/ carries AULE_API (runtime) or AUEGEN_API (generator).
 */
#ifndef AULE_EXPORT_H
#define AULE_EXPORT_H

#if defined(_WIN32) || defined(__CYGWIN__)
#  if defined(AULE_STATIC)
#    define AULE_API
#  elif defined(AULE_BUILDING)
#    define AULE_API __declspec(dllexport)
#  else
#    define AULE_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__) || defined(__clang__)
#  define AULE_API __attribute__((visibility("default")))
#else
#  define AULE_API
#endif

/* The generator's API lives in the same library. */
#define AUEGEN_API AULE_API

#endif
