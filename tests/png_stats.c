/* For tests/test_report.sh: what a screenshot holds, read with spurcl's own
 * PNG reader. Prints one line:
 *   WIDTH HEIGHT COLOURS OTHER OTHER_TOP OTHER_BOTTOM
 * COLOURS the distinct RGB colours; OTHER the share of pixels unlike the
 * most common colour (the page's background), OTHER_TOP and OTHER_BOTTOM
 * the same in the top and bottom halves. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "spurcl/io.h"

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: png_stats FILE.png\n");
        return 2;
    }
    uint8_t *px;
    int w, h, c;
    if (sc_png_read(argv[1], 3, &px, &w, &h, &c) != SC_OK) {
        fprintf(stderr, "png_stats: %s\n", sc_last_error());
        return 1;
    }
    size_t n = (size_t)w * (size_t)h;
    uint32_t *v = malloc(n * sizeof *v), *s = malloc(n * sizeof *s);
    if (!v || !s || n == 0) {
        fprintf(stderr, "png_stats: out of memory or empty image\n");
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = s[i] = (uint32_t)px[3 * i] << 16 | (uint32_t)px[3 * i + 1] << 8 | px[3 * i + 2];
    qsort(s, n, sizeof *s, cmp_u32);
    size_t colours = 0, best = 0, run = 0;
    uint32_t common = s[0];
    for (size_t i = 0; i < n; i++) {
        run = i > 0 && s[i] == s[i - 1] ? run + 1 : 1;
        colours += run == 1;
        if (run > best) {
            best = run;
            common = s[i];
        }
    }
    size_t other[2] = {0, 0}, half = (size_t)(h / 2) * (size_t)w;
    for (size_t i = 0; i < n; i++)
        other[i >= half] += v[i] != common;
    printf("%d %d %zu %.4f %.4f %.4f\n", w, h, colours, (double)(other[0] + other[1]) / (double)n,
           (double)other[0] / (double)half, (double)other[1] / (double)(n - half));
    free(v);
    free(s);
    free(px);
    return 0;
}
