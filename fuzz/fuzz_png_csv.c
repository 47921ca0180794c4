/* libFuzzer target: PNG decoding (all conversions) and the metadata CSV.
 * The first byte picks the reader: odd -> CSV, even -> PNG with channels
 * 0, 1 or 3 (byte / 2 % 3). */
#include <stdint.h>
#include <stdlib.h>

#include "spurcl/data.h"
#include "spurcl/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    data++;
    size--;
    if (sel & 1) {
        sc_csv_rows rows;
        if (sc_csv_parse((const char *)data, size, "fuzz.csv", &rows) == SC_OK) {
            volatile size_t s = 0;
            for (int64_t i = 0; i < rows.n; i++)
                s += (size_t)rows.labels[i] + (size_t)rows.attrs[i] + (size_t)rows.splits[i] +
                     (size_t)rows.paths[i][0];
            (void)s;
            sc_csv_rows_free(&rows);
        }
        return 0;
    }
    static const int want[3] = {0, 1, 3};
    uint8_t *px = NULL;
    int w, h, c;
    if (sc_png_read_memory(data, size, "fuzz.png", want[(sel >> 1) % 3], &px, &w, &h, &c) ==
        SC_OK) {
        volatile uint8_t s = 0;
        size_t n = (size_t)w * (size_t)h * (size_t)c;
        for (size_t i = 0; i < n; i += 64)
            s ^= px[i];
        s ^= px[n - 1];
        (void)s;
    }
    free(px);
    return 0;
}
