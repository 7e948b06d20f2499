/* SPDX-License-Identifier: MIT */
/*
 * disk_cache.c - the on-disk SPIR-V and pipeline-blob cache (see disk_cache.h
 * for the layout and the entry format).
 *
 * Reading: open, fstat, then read the entry piece by piece, checking each
 * length against the file's real size before allocating anything, hashing as
 * it goes; any mismatch is a miss. Writing: a uniquely named temp file in the
 * entry's own folder (O_EXCL), renamed over the final name; the temp file is
 * removed on any failure. Eviction keeps a running estimate of the spirv/
 * tree's size and only walks the tree when the estimate crosses the cap (or
 * every EVICT_RESCAN_STORES stores, to notice other processes' writes).
 */
#include "disk_cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#define FORMAT_VERSION 1u
#define HEADER_BYTES 16u            /* magic, version, key length */
#define SPIRV_MAGIC 0x07230203u
#define ERROR_BYTES 1024
#define EVICT_RESCAN_STORES 32      /* walk the tree at least every this many stores */
#define STALE_TEMP_SECONDS 3600     /* temp files older than this are a crashed writer's */
#define TEMP_PREFIX ".tmp-"

static const char spirv_magic[8] = {'A', 'U', 'L', 'E', 'S', 'P', 'V', '\0'};
static const char blob_magic[8] = {'A', 'U', 'L', 'E', 'P', 'C', 'B', '\0'};

struct disk_cache {
    char *root;            /* NULL: no root could be resolved (always miss) */
    char *spirv_dir;       /* <root>/v1/spirv */
    char *pipeline_dir;    /* <root>/v1/pipeline */
    pthread_mutex_t lock;  /* guards everything below */
    pthread_mutex_t evict_lock;
    char error[ERROR_BYTES];
    uint64_t limit;
    bool fsync;
    bool scanned;          /* estimate comes from a walk of the tree */
    uint64_t estimate;     /* bytes in spirv/, as last walked plus this cache's stores since */
    unsigned stores_since_scan;
};

static atomic_uint_fast64_t temp_counter;
static _Thread_local char thread_error[ERROR_BYTES];
static _Thread_local char thread_marker;   /* its address tells threads apart */

/* --- small helpers ----------------------------------------------------------- */

#if defined(__GNUC__)
#define PRINTF_LIKE(a, b) __attribute__((format(printf, a, b)))
#else
#define PRINTF_LIKE(a, b)
#endif

static void set_error(disk_cache *c, const char *fmt, ...) PRINTF_LIKE(2, 3);

static void set_error(disk_cache *c, const char *fmt, ...)
{
    char text[ERROR_BYTES];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&c->lock);
    memcpy(c->error, text, sizeof text);
    pthread_mutex_unlock(&c->lock);
}

/* strerror, thread-safe, whichever strerror_r the C library declares. */
static const char *error_text(int err, char *buf, size_t size)
{
#if defined(_GNU_SOURCE) && defined(__GLIBC__)
    return strerror_r(err, buf, size);
#else
    if (strerror_r(err, buf, size) != 0)
        snprintf(buf, size, "error %d", err);
    return buf;
#endif
}

#define ERRNO_TEXT(err) error_text((err), (char[128]){0}, 128)

static char *format_path(const char *fmt, ...) PRINTF_LIKE(1, 2);

static char *format_path(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static bool host_little_endian(void)
{
    const uint32_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const unsigned char *p)
{
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

static void swap_words(uint32_t *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        w[i] = get_u32((const unsigned char *)&w[i]);
}

static bool is_lower_hex(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
}

bool aule__disk_cache_key_valid(const char *key_hex)
{
    if (!key_hex)
        return false;
    for (int i = 0; i < DISK_CACHE_KEY_HEX; i++)
        if (!is_lower_hex(key_hex[i]))
            return false;
    return key_hex[DISK_CACHE_KEY_HEX] == '\0';
}

bool aule__disk_cache_blob_name_valid(const char *name)
{
    if (!name || name[0] == '\0' || name[0] == '.')
        return false;
    size_t i = 0;
    for (; name[i]; i++) {
        char ch = name[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                  ch == '.' || ch == '_' || ch == '-';
        if (!ok || i >= DISK_CACHE_MAX_BLOB_NAME)
            return false;
    }
    return true;
}

/* An entry file's name inside a 2-hex folder: 30 lowercase hex + ".spv". */
static bool is_entry_name(const char *s)
{
    for (int i = 0; i < DISK_CACHE_KEY_HEX - 2; i++)
        if (!is_lower_hex(s[i]))
            return false;
    return strcmp(s + DISK_CACHE_KEY_HEX - 2, ".spv") == 0;
}

static bool is_hex2(const char *s)
{
    return is_lower_hex(s[0]) && is_lower_hex(s[1]) && s[2] == '\0';
}

/* mkdir -p with mode 0755; true when path is a folder at the end. */
static bool make_dirs(char *path)
{
    if (mkdir(path, 0755) == 0 || errno == EEXIST)
        goto check;
    if (errno != ENOENT)
        return false;
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int r = mkdir(path, 0755);
        int err = errno;
        *p = '/';
        if (r != 0 && err != EEXIST)
            return false;
    }
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return false;
check:;
    struct stat st;
    if (stat(path, &st) != 0)
        return false;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return false;
    }
    return true;
}

static bool make_dirs_or_error(disk_cache *c, const char *dir)
{
    char *copy = format_path("%s", dir);
    if (!copy) {
        set_error(c, "out of memory");
        return false;
    }
    bool ok = make_dirs(copy);
    if (!ok)
        set_error(c, "cannot create %s: %s", dir, ERRNO_TEXT(errno));
    free(copy);
    return ok;
}

static bool read_exact(int fd, void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        p += r;
        n -= (size_t)r;
    }
    return true;
}

static bool write_all(int fd, const void *buf, size_t n)
{
    const unsigned char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return false;
        if (w == 0) {
            errno = ENOSPC;
            return false;
        }
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* --- open / close ------------------------------------------------------------ */

static const char *nonempty_env(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] ? v : NULL;
}

/* The root, malloc'd, without trailing slashes; NULL with *oom false when none. */
static char *resolve_root(const char *root, bool *oom)
{
    char *r = NULL;
    const char *v;
    *oom = false;
    if (root && root[0])
        r = format_path("%s", root);
    else if ((v = nonempty_env("AULE_CACHE_DIR")))
        r = format_path("%s", v);
    else if ((v = nonempty_env("XDG_CACHE_HOME")) && v[0] == '/')  /* XDG: relative paths are ignored */
        r = format_path("%s/aule", v);
    else if ((v = nonempty_env("HOME")))
        r = format_path("%s/.cache/aule", v);
    else
        return NULL;
    if (!r) {
        *oom = true;
        return NULL;
    }
    size_t n = strlen(r);
    while (n > 1 && r[n - 1] == '/')
        r[--n] = '\0';
    return r;
}

int aule__disk_cache_open(const char *root, disk_cache **out)
{
    if (!out)
        return EINVAL;
    *out = NULL;
    disk_cache *c = calloc(1, sizeof *c);
    if (!c)
        return ENOMEM;
    if (pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c);
        return ENOMEM;
    }
    if (pthread_mutex_init(&c->evict_lock, NULL) != 0) {
        pthread_mutex_destroy(&c->lock);
        free(c);
        return ENOMEM;
    }
    c->limit = DISK_CACHE_DEFAULT_LIMIT;
    bool oom;
    c->root = resolve_root(root, &oom);
    if (c->root) {
        c->spirv_dir = format_path("%s/v1/spirv", c->root);
        c->pipeline_dir = format_path("%s/v1/pipeline", c->root);
        oom = !c->spirv_dir || !c->pipeline_dir;
    }
    if (oom) {
        aule__disk_cache_close(c);
        return ENOMEM;
    }
    if (!c->root)
        set_error(c, "no cache folder: none given and AULE_CACHE_DIR, XDG_CACHE_HOME and HOME are unset");
    else if (make_dirs_or_error(c, c->spirv_dir))
        make_dirs_or_error(c, c->pipeline_dir);
    *out = c;
    return 0;
}

void aule__disk_cache_close(disk_cache *c)
{
    if (!c)
        return;
    free(c->root);
    free(c->spirv_dir);
    free(c->pipeline_dir);
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->evict_lock);
    free(c);
}

const char *aule__disk_cache_root(const disk_cache *c)
{
    return c ? c->root : NULL;
}

const char *aule__disk_cache_last_error(const disk_cache *c)
{
    if (!c)
        return "";
    disk_cache *m = (disk_cache *)c;   /* the lock is not part of the value */
    pthread_mutex_lock(&m->lock);
    memcpy(thread_error, c->error, sizeof thread_error);
    pthread_mutex_unlock(&m->lock);
    return thread_error;
}

void aule__disk_cache_set_limit(disk_cache *c, uint64_t bytes)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    c->limit = bytes;
    pthread_mutex_unlock(&c->lock);
}

void aule__disk_cache_set_fsync(disk_cache *c, bool on)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    c->fsync = on;
    pthread_mutex_unlock(&c->lock);
}

/* --- reading an entry -------------------------------------------------------- */

/* Reads and checks the entry at path. On a hit, *payload is a malloc'd copy of
 * its bytes and *bytes their count. Rejections are recorded in c's error. */
static bool read_entry(disk_cache *c, const char *path, const char magic[8], const char *key_input,
                       uint64_t max_payload, bool spirv, void **payload, size_t *bytes)
{
    /* O_NONBLOCK: a FIFO planted at the entry's path must not block the open. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT && errno != ENOTDIR)
            set_error(c, "cannot open %s: %s", path, ERRNO_TEXT(errno));
        return false;
    }
    const char *why = NULL;
    unsigned char *data = NULL;
    XXH3_state_t *hash = NULL;
    struct stat st;
    const uint64_t klen = strlen(key_input);
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        why = "not a regular file";
        goto fail;
    }
    /* Every length in the file must add up to exactly the file's size. */
    const uint64_t file_size = (uint64_t)st.st_size;
    const uint64_t fixed = HEADER_BYTES + klen + 8 + 8;
    if (st.st_size < 0 || file_size <= fixed || file_size - fixed > max_payload) {
        why = "wrong size";
        goto fail;
    }
    hash = XXH3_createState();
    if (!hash || XXH3_64bits_reset(hash) != XXH_OK) {
        why = "out of memory";
        goto fail;
    }
    unsigned char head[HEADER_BYTES], chunk[4096];
    if (!read_exact(fd, head, sizeof head)) {
        why = "truncated";
        goto fail;
    }
    if (memcmp(head, magic, 8) != 0) {
        why = "bad magic";
        goto fail;
    }
    if (get_u32(head + 8) != FORMAT_VERSION) {
        why = "unknown format version";
        goto fail;
    }
    if (get_u32(head + 12) != klen) {
        why = "key input differs";
        goto fail;
    }
    XXH3_64bits_update(hash, head, sizeof head);
    for (uint64_t done = 0; done < klen;) {
        size_t n = klen - done < sizeof chunk ? (size_t)(klen - done) : sizeof chunk;
        if (!read_exact(fd, chunk, n)) {
            why = "truncated";
            goto fail;
        }
        if (memcmp(chunk, key_input + done, n) != 0) {
            why = "key input differs";
            goto fail;
        }
        XXH3_64bits_update(hash, chunk, n);
        done += n;
    }
    if (!read_exact(fd, chunk, 8)) {
        why = "truncated";
        goto fail;
    }
    XXH3_64bits_update(hash, chunk, 8);
    const uint64_t size = get_u64(chunk);
    if (size != file_size - fixed || (spirv && size % 4 != 0)) {
        why = "wrong payload size";
        goto fail;
    }
    data = malloc((size_t)size);
    if (!data) {
        why = "out of memory";
        goto fail;
    }
    if (!read_exact(fd, data, (size_t)size) || !read_exact(fd, chunk, 8)) {
        why = "truncated";
        goto fail;
    }
    XXH3_64bits_update(hash, data, (size_t)size);
    if (XXH3_64bits_digest(hash) != get_u64(chunk)) {
        why = "checksum mismatch";
        goto fail;
    }
    if (spirv && get_u32(data) != SPIRV_MAGIC) {
        why = "payload is not SPIR-V";
        goto fail;
    }
    (void)futimens(fd, NULL);   /* best effort: marks the entry recently used */
    XXH3_freeState(hash);
    close(fd);
    *payload = data;
    *bytes = (size_t)size;
    return true;
fail:
    set_error(c, "cache entry %s rejected: %s", path, why);
    XXH3_freeState(hash);
    free(data);
    close(fd);
    return false;
}

/* --- writing an entry -------------------------------------------------------- */

static int create_temp(const char *dir, char **temp_path)
{
    for (int attempt = 0; attempt < 16; attempt++) {
        uint64_t n = atomic_fetch_add(&temp_counter, 1);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t seed[5] = {(uint64_t)ts.tv_sec, (uint64_t)ts.tv_nsec, n, (uint64_t)(uintptr_t)&thread_marker,
                            (uint64_t)(uintptr_t)&ts};
        uint64_t random = XXH3_64bits(seed, sizeof seed);
        char *p = format_path("%s/" TEMP_PREFIX "%ld-%llx-%llu-%016llx", dir, (long)getpid(),
                              (unsigned long long)(uintptr_t)&thread_marker, (unsigned long long)n,
                              (unsigned long long)random);
        if (!p) {
            errno = ENOMEM;
            return -1;
        }
        int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd >= 0) {
            *temp_path = p;
            return fd;
        }
        int err = errno;
        free(p);
        if (err != EEXIST) {
            errno = err;
            return -1;
        }
    }
    errno = EEXIST;
    return -1;
}

/* Writes payload (words: host-order SPIR-V words) as an entry at final_path,
 * creating dir first. Returns the entry's size in bytes, 0 on failure (recorded). */
static uint64_t write_entry(disk_cache *c, const char *dir, const char *final_path, const char magic[8],
                            const char *key_input, const void *payload, size_t bytes, bool words)
{
    const size_t klen = strlen(key_input);
    if (!make_dirs_or_error(c, dir))
        return 0;
    char *temp = NULL;
    int fd = create_temp(dir, &temp);
    if (fd < 0) {
        set_error(c, "cannot create a temp file in %s: %s", dir, ERRNO_TEXT(errno));
        return 0;
    }
    XXH3_state_t *hash = XXH3_createState();
    uint32_t *swapped = NULL;
    const char *step = "write";
    int err = 0;
    if (!hash || XXH3_64bits_reset(hash) != XXH_OK) {
        err = ENOMEM;
        goto fail;
    }
    unsigned char head[HEADER_BYTES], size_le[8], sum_le[8];
    memcpy(head, magic, 8);
    put_u32(head + 8, FORMAT_VERSION);
    put_u32(head + 12, (uint32_t)klen);
    put_u64(size_le, bytes);
    const void *body = payload;
    if (words && !host_little_endian()) {
        if (!(swapped = malloc(bytes))) {
            err = ENOMEM;
            goto fail;
        }
        memcpy(swapped, payload, bytes);
        swap_words(swapped, bytes / 4);   /* get_u32 of host bytes = byte swap on big-endian */
        body = swapped;
    }
    const struct { const void *p; size_t n; } parts[] = {
        {head, sizeof head}, {key_input, klen}, {size_le, sizeof size_le}, {body, bytes},
    };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        XXH3_64bits_update(hash, parts[i].p, parts[i].n);
        if (!write_all(fd, parts[i].p, parts[i].n)) {
            err = errno;
            goto fail;
        }
    }
    put_u64(sum_le, XXH3_64bits_digest(hash));
    if (!write_all(fd, sum_le, sizeof sum_le)) {
        err = errno;
        goto fail;
    }
    pthread_mutex_lock(&c->lock);
    bool want_fsync = c->fsync;
    pthread_mutex_unlock(&c->lock);
    if (want_fsync && fsync(fd) != 0) {
        step = "fsync";
        err = errno;
        goto fail;
    }
    int fd_closed = fd;
    fd = -1;
    if (close(fd_closed) != 0) {
        step = "close";
        err = errno;
        goto fail;
    }
    if (rename(temp, final_path) != 0) {
        step = "rename";
        err = errno;
        goto fail;
    }
    XXH3_freeState(hash);
    free(swapped);
    free(temp);
    return HEADER_BYTES + klen + 8 + bytes + 8;
fail:
    set_error(c, "cannot store %s (%s): %s", final_path, step, ERRNO_TEXT(err));
    if (fd >= 0)
        close(fd);
    unlink(temp);
    XXH3_freeState(hash);
    free(swapped);
    free(temp);
    return 0;
}

/* --- eviction ---------------------------------------------------------------- */

typedef struct entry_info {
    int64_t sec;
    long nsec;
    uint64_t size;
    char name[DISK_CACHE_KEY_HEX + 6];   /* "ab/<30 hex>.spv", relative to spirv_dir */
} entry_info;

static int entry_older(const void *pa, const void *pb)
{
    const entry_info *a = pa, *b = pb;
    if (a->sec != b->sec)
        return a->sec < b->sec ? -1 : 1;
    if (a->nsec != b->nsec)
        return a->nsec < b->nsec ? -1 : 1;
    return strcmp(a->name, b->name);
}

/* Lists the entries of one 2-hex folder (appending to *list) and removes
 * stale temp files. Files that vanish meanwhile are skipped. */
static bool scan_folder(int top_fd, const char *folder, entry_info **list, size_t *count, size_t *cap,
                        uint64_t *total, time_t now)
{
    int fd = openat(top_fd, folder, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return true;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return true;
    }
    bool ok = true;
    struct dirent *e;
    while (ok && (e = readdir(d))) {
        bool entry = is_entry_name(e->d_name);
        bool temp = strncmp(e->d_name, TEMP_PREFIX, strlen(TEMP_PREFIX)) == 0;
        struct stat st;
        if ((!entry && !temp) || fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(st.st_mode))
            continue;
        if (temp) {
            if (now - st.st_mtime > STALE_TEMP_SECONDS)
                unlinkat(dirfd(d), e->d_name, 0);
            continue;
        }
        if (*count == *cap) {
            size_t ncap = *cap ? *cap * 2 : 256;
            entry_info *grown = realloc(*list, ncap * sizeof *grown);
            if (!grown) {
                ok = false;
                break;
            }
            *list = grown;
            *cap = ncap;
        }
        entry_info *info = &(*list)[(*count)++];
        info->sec = (int64_t)st.st_mtim.tv_sec;
        info->nsec = st.st_mtim.tv_nsec;
        info->size = (uint64_t)st.st_size;
        memcpy(info->name, folder, 2);   /* "ab" + '/' + "<30 hex>.spv" + NUL fits exactly */
        info->name[2] = '/';
        memcpy(info->name + 3, e->d_name, DISK_CACHE_KEY_HEX - 2 + 5);
        *total += info->size;
    }
    closedir(d);
    return ok;
}

/* Walks spirv/, and when it is over limit deletes least recently used entries
 * (never keep, "ab/<rest>.spv") until it is at most 90% of limit. */
static void evict(disk_cache *c, uint64_t limit, const char *keep)
{
    DIR *top = opendir(c->spirv_dir);
    if (!top)
        return;
    entry_info *list = NULL;
    size_t count = 0, cap = 0;
    uint64_t total = 0;
    time_t now = time(NULL);
    bool ok = true;
    struct dirent *e;
    while (ok && (e = readdir(top)))
        if (is_hex2(e->d_name))
            ok = scan_folder(dirfd(top), e->d_name, &list, &count, &cap, &total, now);
    if (ok && total > limit) {
        qsort(list, count, sizeof *list, entry_older);
        const uint64_t target = limit / 10 * 9 + limit % 10 * 9 / 10;
        for (size_t i = 0; i < count && total > target; i++) {
            if (strcmp(list[i].name, keep) == 0)
                continue;
            /* Gone already (another process evicted it) counts as freed too. */
            if (unlinkat(dirfd(top), list[i].name, 0) == 0 || errno == ENOENT)
                total -= list[i].size;
        }
    }
    closedir(top);
    free(list);
    if (!ok)
        return;
    pthread_mutex_lock(&c->lock);
    c->estimate = total;
    c->scanned = true;
    c->stores_since_scan = 0;
    pthread_mutex_unlock(&c->lock);
}

static void after_store(disk_cache *c, uint64_t added, const char *keep)
{
    pthread_mutex_lock(&c->lock);
    uint64_t limit = c->limit;
    c->estimate += added;
    c->stores_since_scan++;
    bool walk = limit != 0 && (!c->scanned || c->estimate > limit || c->stores_since_scan >= EVICT_RESCAN_STORES);
    pthread_mutex_unlock(&c->lock);
    /* One walker per cache at a time; another thread already walking covers this store. */
    if (!walk || pthread_mutex_trylock(&c->evict_lock) != 0)
        return;
    evict(c, limit, keep);
    pthread_mutex_unlock(&c->evict_lock);
}

/* --- SPIR-V entries ---------------------------------------------------------- */

static bool check_args(disk_cache *c, const char *key_hex, const char *key_input)
{
    if (!aule__disk_cache_key_valid(key_hex)) {
        set_error(c, "invalid cache key (want %d lowercase hex digits)", DISK_CACHE_KEY_HEX);
        return false;
    }
    if (!key_input || strlen(key_input) > DISK_CACHE_MAX_KEY_INPUT) {
        set_error(c, "invalid key input (NULL or over %u bytes)", DISK_CACHE_MAX_KEY_INPUT);
        return false;
    }
    return c->root != NULL;
}

bool aule__disk_cache_load(disk_cache *c, const char *key_hex, const char *key_input, uint32_t **words, size_t *count)
{
    if (words)
        *words = NULL;
    if (count)
        *count = 0;
    if (!c || !words || !count || !check_args(c, key_hex, key_input))
        return false;
    char *path = format_path("%s/%.2s/%s.spv", c->spirv_dir, key_hex, key_hex + 2);
    if (!path) {
        set_error(c, "out of memory");
        return false;
    }
    void *data;
    size_t bytes;
    bool hit = read_entry(c, path, spirv_magic, key_input, DISK_CACHE_MAX_SPIRV_BYTES, true, &data, &bytes);
    free(path);
    if (!hit)
        return false;
    if (!host_little_endian())
        swap_words(data, bytes / 4);
    *words = data;
    *count = bytes / 4;
    return true;
}

void aule__disk_cache_entry_path(const disk_cache *c, const char *key_hex, char *buf, size_t size)
{
    if (size == 0)
        return;
    buf[0] = '\0';
    if (c && c->root && aule__disk_cache_key_valid(key_hex))
        snprintf(buf, size, "%s/%.2s/%s.spv", c->spirv_dir, key_hex, key_hex + 2);
}

bool aule__disk_cache_remove(disk_cache *c, const char *key_hex)
{
    if (!c || !c->root || !aule__disk_cache_key_valid(key_hex))
        return false;
    char *path = format_path("%s/%.2s/%s.spv", c->spirv_dir, key_hex, key_hex + 2);
    if (!path) {
        set_error(c, "out of memory");
        return false;
    }
    bool removed = unlink(path) == 0;
    if (!removed && errno != ENOENT)
        set_error(c, "cannot remove %s: %s", path, ERRNO_TEXT(errno));
    free(path);
    return removed;
}

bool aule__disk_cache_store(disk_cache *c, const char *key_hex, const char *key_input, const uint32_t *words, size_t count)
{
    if (!c || !check_args(c, key_hex, key_input))
        return false;
    if (!words || count == 0 || count > DISK_CACHE_MAX_SPIRV_BYTES / 4 || words[0] != SPIRV_MAGIC) {
        set_error(c, "not storing: not SPIR-V, empty, or over %u bytes", DISK_CACHE_MAX_SPIRV_BYTES);
        return false;
    }
    char *dir = format_path("%s/%.2s", c->spirv_dir, key_hex);
    char *path = format_path("%s/%.2s/%s.spv", c->spirv_dir, key_hex, key_hex + 2);
    char keep[40];
    snprintf(keep, sizeof keep, "%.2s/%s.spv", key_hex, key_hex + 2);
    uint64_t written = 0;
    if (!dir || !path)
        set_error(c, "out of memory");
    else
        written = write_entry(c, dir, path, spirv_magic, key_input, words, count * 4, true);
    free(dir);
    free(path);
    if (written)
        after_store(c, written, keep);
    return written != 0;
}

/* --- blobs ------------------------------------------------------------------- */

static char *blob_path(disk_cache *c, const char *name)
{
    if (!aule__disk_cache_blob_name_valid(name)) {
        set_error(c, "invalid blob name (want 1..%d of [A-Za-z0-9._-], not starting with '.')",
                  DISK_CACHE_MAX_BLOB_NAME);
        return NULL;
    }
    if (!c->root)
        return NULL;
    char *path = format_path("%s/%s.bin", c->pipeline_dir, name);
    if (!path)
        set_error(c, "out of memory");
    return path;
}

bool aule__disk_cache_load_blob(disk_cache *c, const char *name, void **data, size_t *size)
{
    if (data)
        *data = NULL;
    if (size)
        *size = 0;
    if (!c || !data || !size)
        return false;
    char *path = blob_path(c, name);
    if (!path)
        return false;
    bool hit = read_entry(c, path, blob_magic, name, DISK_CACHE_MAX_BLOB_BYTES, false, data, size);
    free(path);
    return hit;
}

bool aule__disk_cache_store_blob(disk_cache *c, const char *name, const void *data, size_t size)
{
    if (!c)
        return false;
    char *path = blob_path(c, name);
    if (!path)
        return false;
    bool ok = false;
    if (!data || size == 0 || size > DISK_CACHE_MAX_BLOB_BYTES)
        set_error(c, "not storing blob %s: empty or over %u bytes", name, DISK_CACHE_MAX_BLOB_BYTES);
    else
        ok = write_entry(c, c->pipeline_dir, path, blob_magic, name, data, size, false) != 0;
    free(path);
    return ok;
}
