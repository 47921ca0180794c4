/* libFuzzer target: IDX parsing (plain and gzip) and CIFAR-10 records. */
#include <stdint.h>
#include <stdlib.h>

#include "ds_internal.h"
#include "spurcl/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sc_ds_gunzip_limit = (size_t)64 << 20; /* stay far below the fuzzer's RSS limit */
    int nd;
    int64_t dims[4];
    uint8_t *out = NULL;
    if (sc_idx_parse(data, size, "fuzz.idx", &nd, dims, &out) == SC_OK) {
        uint64_t total = 1;
        for (int i = 0; i < nd; i++)
            total *= (uint64_t)dims[i];
        volatile uint8_t sink = 0;
        for (uint64_t i = 0; i < total; i += 4096)
            sink ^= out[i];
        (void)sink;
    }
    free(out);
    int64_t n;
    uint8_t *images = NULL;
    int32_t *labels = NULL;
    if (sc_cifar_parse(data, size, "fuzz.bin", &n, &images, &labels) == SC_OK) {
        volatile int32_t s = 0;
        for (int64_t i = 0; i < n; i++)
            s += labels[i] + images[i * 3072 + 3071];
        (void)s;
    }
    free(images);
    free(labels);
    return 0;
}
