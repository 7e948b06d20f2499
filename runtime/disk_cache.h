/* SPDX-License-Identifier: MIT */
/*
 * disk_cache.h - libaule's on-disk cache: SPIR-V modules by key, and named
 * blobs (Vulkan pipeline-cache data), shared by the threads and processes of
 * one user.
 *
 * Root: the path given to disk_cache_open, else $AULE_CACHE_DIR, else
 * $XDG_CACHE_HOME/aule (when absolute), else $HOME/.cache/aule.
 *   <root>/v1/spirv/<key[0..2)>/<key[2..32)>.spv   SPIR-V, by key
 *   <root>/v1/pipeline/<name>.bin                   blobs, by name
 *
 * A key is 32 lowercase hex digits, the hash of a "key input" text (the
 * canonical spec, device capabilities, versions: see docs/architecture.md, "The key").
 * Every entry is, little-endian:
 *   magic[8]        "AULESPV\0" (SPIR-V) or "AULEPCB\0" (blob)
 *   u32 version     1
 *   u32 key_len     then key_len bytes: the key input (a blob's: its name)
 *   u64 size        then size bytes of payload (SPIR-V: a multiple of 4 that
 *                   starts with the SPIR-V magic word)
 *   u64 checksum    XXH3-64 of every byte before it
 * Loading compares the stored key input with the caller's, so a colliding,
 * foreign, stale, truncated or corrupt entry is a miss, never a crash; no
 * length read from a file is trusted beyond the file's actual size.
 *
 * Writers write a temp file beside the entry and rename it over the final
 * name, so readers see a whole entry or none. A failed write (read-only or
 * full disk, a root that cannot be created) returns false and records a
 * message; the caller carries on without the cache.
 *
 * One disk_cache may be used from several threads at once. The library never
 * prints: reasons for failures and for rejected entries are kept as the last
 * error message.
 */
#ifndef AULE_DISK_CACHE_H
#define AULE_DISK_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DISK_CACHE_KEY_HEX 32                        /* digits in a key */
#define DISK_CACHE_MAX_SPIRV_BYTES (64u << 20)       /* largest SPIR-V entry payload */
#define DISK_CACHE_MAX_BLOB_BYTES (64u << 20)        /* largest blob payload */
#define DISK_CACHE_MAX_KEY_INPUT (1u << 20)          /* longest key input text */
#define DISK_CACHE_MAX_BLOB_NAME 128                 /* blob names: [A-Za-z0-9._-], no leading '.' */
#define DISK_CACHE_DEFAULT_LIMIT (256ull << 20)      /* size cap of the spirv/ tree */

typedef struct disk_cache disk_cache;

/* Opens the cache at root (NULL: resolved from the environment, as above) and
 * creates its folders (mode 0755). Returns 0, EINVAL (out is NULL) or ENOMEM.
 * Failing to create the folders, or finding no root at all (no variable set),
 * is not a failure: the cache then only reads what is there, or always
 * misses, and disk_cache_last_error says why. */
int aule__disk_cache_open(const char *root, disk_cache **out);

/* Closes the cache; NULL is a no-op. */
void aule__disk_cache_close(disk_cache *c);

/* The resolved root folder, or NULL when none could be resolved. */
const char *aule__disk_cache_root(const disk_cache *c);

/* The last failure's message ("" when none). The text is copied into a
 * per-thread buffer, valid until this thread calls disk_cache_last_error again. */
const char *aule__disk_cache_last_error(const disk_cache *c);

/* True when key_hex is exactly 32 lowercase hex digits. Any other key is
 * rejected by every call below and never becomes part of a path. */
bool aule__disk_cache_key_valid(const char *key_hex);

/* True when name is 1..128 characters of [A-Za-z0-9._-] not starting with '.'. */
bool aule__disk_cache_blob_name_valid(const char *name);

/* Looks up the SPIR-V stored under key_hex for key_input (the text the key
 * hashes). On a hit, *words (malloc'd; the caller frees it) holds *count
 * 32-bit words in host byte order, and the entry's mtime is refreshed so
 * eviction drops the least recently used entries first. Any miss returns
 * false and leaves *words NULL and *count 0; an absent entry records nothing,
 * a rejected one records why. */
bool aule__disk_cache_load(disk_cache *c, const char *key_hex, const char *key_input, uint32_t **words, size_t *count);

/* The path of key_hex's SPIR-V entry, for messages ("" when the key is
 * invalid or there is no root). */
void aule__disk_cache_entry_path(const disk_cache *c, const char *key_hex, char *buf, size_t size);

/* Deletes key_hex's SPIR-V entry (one that loaded but proved unusable), so it
 * is a miss from now on. Returns true when there was one to delete. */
bool aule__disk_cache_remove(disk_cache *c, const char *key_hex);

/* Stores count words of SPIR-V (count > 0, count * 4 <= 64 MiB, words[0] ==
 * 0x07230203) under key_hex, replacing any entry there, then evicts old
 * entries if the spirv/ tree is over the size cap. Returns false, with a
 * message, when the entry could not be written. */
bool aule__disk_cache_store(disk_cache *c, const char *key_hex, const char *key_input, const uint32_t *words, size_t count);

/* Named blobs at <root>/v1/pipeline/<name>.bin, for Vulkan pipeline-cache
 * data (which carries its own device header; the driver checks it). Load
 * returns a malloc'd copy in *data (caller frees) and its size (> 0). */
bool aule__disk_cache_load_blob(disk_cache *c, const char *name, void **data, size_t *size);
bool aule__disk_cache_store_blob(disk_cache *c, const char *name, const void *data, size_t size);

/* Size cap of the spirv/ tree in bytes (sum of entry file sizes); 0 means no
 * cap. After a store that takes the tree over the cap, the least recently
 * used entries are deleted until it is at most 90% of the cap (the entry just
 * stored is kept). Eviction tolerates other processes deleting or replacing
 * files at the same time. Default DISK_CACHE_DEFAULT_LIMIT. */
void aule__disk_cache_set_limit(disk_cache *c, uint64_t bytes);

/* When on, each entry is fsync'ed before it is renamed into place (durable
 * across a power cut; slower). Off by default: a torn entry after a crash is
 * caught by its checksum and is just a miss. */
void aule__disk_cache_set_fsync(disk_cache *c, bool on);

#endif
