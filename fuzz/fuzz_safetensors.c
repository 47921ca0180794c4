/* libFuzzer target: the safetensors reader (header validation, offsets,
 * metadata) and every accessor on what it accepts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spurcl/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sc_safetensors *st = NULL;
    if (sc_safetensors_open_memory(data, size, "fuzz.safetensors", &st) != SC_OK)
        return 0;
    volatile uint64_t s = 0;
    for (size_t i = 0; i < sc_safetensors_count(st); i++) {
        const sc_st_tensor *t = sc_safetensors_at(st, i);
        uint64_t numel, nbytes;
        if (sc_st_tensor_nbytes(t, &numel, &nbytes) != SC_OK)
            abort(); /* the reader accepted a tensor it cannot size */
        const uint8_t *p = t->data;
        if (nbytes) {
            s += p[0] + p[nbytes - 1];
            if ((uintptr_t)p % sc_st_dtype_size(t->dtype))
                abort(); /* promised alignment */
        }
        if (sc_safetensors_find(st, t->name) != t)
            abort();
        const sc_st_tensor *g;
        (void)sc_safetensors_get(st, t->name, SC_ST_F32, -1, &g);
    }
    for (size_t i = 0; i < sc_safetensors_meta_count(st); i++) {
        sc_st_meta m = sc_safetensors_meta_at(st, i);
        s += strlen(m.key) + strlen(m.value);
        if (sc_safetensors_meta(st, m.key) == NULL)
            abort();
    }
    (void)s;
    sc_safetensors_close(st);
    return 0;
}
