/* SPDX-License-Identifier: MIT */
/*
 * cpu_pool.c - the native CPU backend's thread pool: threads - 1 workers that
 * sleep on a condition variable, and a parallel loop whose tasks are handed
 * out one at a time from an atomic counter (the caller works too). One loop
 * runs at a time; callers on other threads wait their turn. Each thread keeps
 * its scratch memory between loops.
 */
#include "aule/cpu/cpu_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct pool_thread {
    aule__cpu_pool *pool;
    int id;
    pthread_t handle;
    void *scratch;
    size_t scratch_bytes;
} pool_thread;

struct aule__cpu_pool {
    int threads;
    pool_thread *t;
    pthread_mutex_t run_lock;      /* one loop at a time */
    pthread_mutex_t lock;          /* the fields below */
    pthread_cond_t wake, done;
    uint64_t generation;           /* bumped for each loop */
    int busy;                      /* workers still in the current loop */
    bool quit;
    aule__cpu_task_fn fn;
    void *arg;
    int64_t tasks;
    atomic_llong next;
};

static void run_tasks(aule__cpu_pool *p, aule__cpu_task_fn fn, void *arg, int64_t tasks, int id)
{
    for (;;) {
        int64_t t = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        if (t >= tasks)
            break;
        fn(arg, t, id);
    }
}

static void *worker(void *self)
{
    pool_thread *me = self;
    aule__cpu_pool *p = me->pool;
    uint64_t seen = 0;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (p->generation == seen && !p->quit)
            pthread_cond_wait(&p->wake, &p->lock);
        if (p->quit)
            break;
        seen = p->generation;
        aule__cpu_task_fn fn = p->fn;
        void *arg = p->arg;
        int64_t tasks = p->tasks;
        pthread_mutex_unlock(&p->lock);
        run_tasks(p, fn, arg, tasks, me->id);
        pthread_mutex_lock(&p->lock);
        if (--p->busy == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

int aule__cpu_pool_create(int threads, aule__cpu_pool **out)
{
    *out = NULL;
    if (threads < 1)
        threads = 1;
    aule__cpu_pool *p = calloc(1, sizeof *p);
    if (!p)
        return -1;
    p->t = calloc((size_t)threads, sizeof *p->t);
    if (!p->t) {
        free(p);
        return -1;
    }
    pthread_mutex_init(&p->run_lock, NULL);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->next, 0);
    p->threads = 1;                /* the caller, thread 0 */
    p->t[0].pool = p;
    for (int i = 1; i < threads; i++) {
        p->t[i].pool = p;
        p->t[i].id = i;
        if (pthread_create(&p->t[i].handle, NULL, worker, &p->t[i]) != 0)
            break;                 /* fewer workers: slower, still correct */
        p->threads = i + 1;
    }
    *out = p;
    return 0;
}

void aule__cpu_pool_destroy(aule__cpu_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->quit = true;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (int i = 1; i < p->threads; i++)
        pthread_join(p->t[i].handle, NULL);
    for (int i = 0; i < p->threads; i++)
        free(p->t[i].scratch);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->lock);
    pthread_mutex_destroy(&p->run_lock);
    free(p->t);
    free(p);
}

int aule__cpu_pool_threads(const aule__cpu_pool *p) { return p->threads; }

void aule__cpu_pool_run(aule__cpu_pool *p, int64_t tasks, aule__cpu_task_fn fn, void *arg)
{
    if (tasks <= 0)
        return;
    pthread_mutex_lock(&p->run_lock);
    if (p->threads == 1 || tasks == 1) {
        for (int64_t t = 0; t < tasks; t++)
            fn(arg, t, 0);
        pthread_mutex_unlock(&p->run_lock);
        return;
    }
    pthread_mutex_lock(&p->lock);
    p->fn = fn;
    p->arg = arg;
    p->tasks = tasks;
    atomic_store(&p->next, 0);
    p->busy = p->threads - 1;
    p->generation++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    run_tasks(p, fn, arg, tasks, 0);
    pthread_mutex_lock(&p->lock);
    while (p->busy > 0)
        pthread_cond_wait(&p->done, &p->lock);
    pthread_mutex_unlock(&p->lock);
    pthread_mutex_unlock(&p->run_lock);
}

void *aule__cpu_pool_scratch(aule__cpu_pool *p, int thread, size_t bytes)
{
    pool_thread *t = &p->t[thread];
    if (t->scratch_bytes < bytes) {
        free(t->scratch);
        size_t size = (bytes + 63) / 64 * 64;
        t->scratch = aligned_alloc(64, size);
        t->scratch_bytes = t->scratch ? size : 0;
    }
    return t->scratch;
}
