/* SPDX-License-Identifier: MIT */
/*
 * npy.h - NumPy .npy files: read format 1.0, 2.0 and 3.0, write 1.0. Tests and
 * tools use them to exchange tensors with Python.
 *
 * Supported dtypes, all little-endian, C order only:
 *     '<f4' float, '<f2' IEEE half, '<f8' double, '<i4' int32, '<u2' uint16.
 * bfloat16 is not a NumPy dtype: store its bits as '<u2' (aule_f32_to_bf16) and
 * view them in Python with arr.view(ml_dtypes.bfloat16) or by shifting into
 * float32 ((arr.astype('<u4') << 16).view('<f4')).
 *
 * Every malformed file is an error with a message, never a crash: wrong magic,
 * truncated preamble, header or data, bytes after the data, a header that is not
 * the dict NumPy writes (keys 'descr', 'fortran_order', 'shape', each once,
 * nothing else), big-endian or unsupported dtypes, fortran_order True, more than
 * AULE_NPY_MAX_DIMS dimensions, negative dimensions, and shapes whose byte size
 * overflows. The data size is checked against the file size before allocating.
 */
#ifndef AULE_NPY_H
#define AULE_NPY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AULE_NPY_MAX_DIMS 8

typedef struct aule_npy_array {
    char dtype[8];                      /* "<f4", "<f2", "<f8", "<i4" or "<u2" */
    int ndim;                           /* 0 (a scalar) .. AULE_NPY_MAX_DIMS */
    int64_t shape[AULE_NPY_MAX_DIMS];   /* unused entries are 0 */
    size_t elem_size;                   /* bytes per element */
    size_t count;                       /* elements: the product of shape (1 for a scalar) */
    void *data;                         /* count * elem_size bytes, C order; never NULL after a read */
} aule_npy_array;

/* Bytes per element of a supported dtype string, 0 for any other. */
size_t aule_npy_dtype_size(const char *dtype);

/* Reads path into *out. Returns 0, or -1 with *out zeroed and a message
 * ("path: what is wrong") in err (err may be NULL, err_size 0). */
int aule_npy_read(const char *path, aule_npy_array *out, char *err, size_t err_size);

/* As aule_npy_read, refusing (before allocating) data over max_bytes. Only
 * regular files are read: a folder, FIFO or device is an error, never a wait. */
int aule_npy_read_max(const char *path, size_t max_bytes, aule_npy_array *out, char *err, size_t err_size);

/* Reads a whole .npy file held in memory (size bytes); name is used in messages. */
int aule_npy_read_buffer(const void *data, size_t size, const char *name, size_t max_bytes, aule_npy_array *out,
                         char *err, size_t err_size);

/* Writes a C-order array of ndim dims (0 = scalar) as format 1.0, through a
 * temp file in the same folder renamed over path. data may be NULL only when
 * the array has no elements. An existing path that is not a regular file is
 * an error (never replaced). Returns 0, or -1 with a message in err. */
int aule_npy_write(const char *path, const char *dtype, int ndim, const int64_t *shape, const void *data,
                   char *err, size_t err_size);

/* Frees the data and zeroes *arr; NULL is a no-op. */
void aule_npy_free(aule_npy_array *arr);

#ifdef __cplusplus
}
#endif
#endif
