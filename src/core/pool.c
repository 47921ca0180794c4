/* Per-context buffer pool.
 *
 * Requests are rounded up to a size class (four classes per power of two,
 * at most 25 % waste), and freed buffers wait on the free list of their
 * class. A training step that creates and frees the same shapes every
 * iteration therefore allocates nothing new after its first iteration. */
#include "core/core.h"

#include <stdlib.h>
#include <string.h>

typedef struct size_class {
    size_t bytes;
    sc_buffer *free_list;
} size_class;

struct sc_pool {
    sc_context *ctx;
    size_class *classes;
    size_t nclasses, cap;
    sc_pool_stats stats;
};

static size_t class_size(size_t bytes)
{
    if (bytes <= 256)
        return 256;
    size_t p = 256;
    while (p * 2 < bytes)
        p *= 2;
    /* bytes in (p, 2p]: steps of p/4 */
    size_t step = p / 4;
    return (bytes + step - 1) / step * step;
}

sc_status sc_pool_create(sc_context *ctx, sc_pool **out)
{
    sc_pool *p = calloc(1, sizeof *p);
    if (!p)
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (buffer pool)");
    p->ctx = ctx;
    *out = p;
    return SC_OK;
}

static void release_free_lists(sc_pool *p)
{
    for (size_t i = 0; i < p->nclasses; i++) {
        sc_buffer *b = p->classes[i].free_list;
        while (b) {
            sc_buffer *next = b->next_free;
            clReleaseMemObject(b->mem);
            p->stats.buffers_live--;
            p->stats.bytes_live -= b->bytes;
            free(b);
            b = next;
        }
        p->classes[i].free_list = NULL;
    }
}

void sc_pool_free(sc_pool *p)
{
    if (!p)
        return;
    release_free_lists(p);
    free(p->classes);
    free(p);
}

static size_class *find_class(sc_pool *p, size_t bytes, bool create)
{
    for (size_t i = 0; i < p->nclasses; i++)
        if (p->classes[i].bytes == bytes)
            return &p->classes[i];
    if (!create)
        return NULL;
    if (p->nclasses == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 32;
        size_class *g = realloc(p->classes, cap * sizeof *g);
        if (!g)
            return NULL;
        p->classes = g;
        p->cap = cap;
    }
    p->classes[p->nclasses] = (size_class){bytes, NULL};
    return &p->classes[p->nclasses++];
}

sc_status sc_pool_acquire(sc_pool *p, size_t bytes, sc_buffer **out)
{
    size_t cb = class_size(bytes ? bytes : 1);
    size_class *c = find_class(p, cb, true);
    if (!c)
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (buffer pool)");
    sc_buffer *b = c->free_list;
    if (b) {
        c->free_list = b->next_free;
        p->stats.reuses++;
    } else {
        b = calloc(1, sizeof *b);
        if (!b)
            return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (buffer pool)");
        cl_int err;
        b->mem = clCreateBuffer(p->ctx->cl, CL_MEM_READ_WRITE, cb, NULL, &err);
        if (err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_RESOURCES) {
            /* Give idle buffers back to the driver and try once more. */
            release_free_lists(p);
            b->mem = clCreateBuffer(p->ctx->cl, CL_MEM_READ_WRITE, cb, NULL, &err);
        }
        if (err != CL_SUCCESS) {
            free(b);
            return sc_error_wrap(sc_cl_error(err, "clCreateBuffer", __FILE__, __LINE__),
                                 "allocating %zu bytes on %s (%llu bytes in use)", cb,
                                 p->ctx->dev.name, (unsigned long long)p->stats.bytes_in_use);
        }
        b->bytes = cb;
        p->stats.buffers_allocated++;
        p->stats.buffers_live++;
        p->stats.bytes_live += cb;
    }
    b->refs = 1;
    b->next_free = NULL;
    p->stats.bytes_in_use += b->bytes;
    if (p->stats.bytes_in_use > p->stats.bytes_peak)
        p->stats.bytes_peak = p->stats.bytes_in_use;
    *out = b;
    return SC_OK;
}

void sc_pool_release(sc_pool *p, sc_buffer *b)
{
    if (!b || --b->refs > 0)
        return;
    p->stats.bytes_in_use -= b->bytes;
    size_class *c = find_class(p, b->bytes, false);
    if (!c) { /* cannot happen: the class was created on acquire */
        clReleaseMemObject(b->mem);
        p->stats.buffers_live--;
        p->stats.bytes_live -= b->bytes;
        free(b);
        return;
    }
    b->next_free = c->free_list;
    c->free_list = b;
}

void sc_pool_get_stats(const sc_context *ctx, sc_pool_stats *stats) { *stats = ctx->pool->stats; }

void sc_pool_reset_peak(sc_context *ctx) { ctx->pool->stats.bytes_peak = ctx->pool->stats.bytes_in_use; }

void sc_pool_trim(sc_context *ctx) { release_free_lists(ctx->pool); }
