/* The renderer (src/io/image.h): exact pixels of rectangles, lines, blits,
 * glyphs and text; the heat-map colour map; plot mapping and bars; a PNG
 * round trip. Host only: no device is opened. */
#include "suite.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/image.h"
#include "spurcl/io.h"

static const sc_rgb BLACK = {0, 0, 0}, RED = {255, 0, 0}, WHITE = {255, 255, 255};

static int same(sc_rgb a, sc_rgb b)
{
    return a.r == b.r && a.g == b.g && a.b == b.b;
}

/* Pixels of colour c in the canvas. */
static int count(const sc_canvas *cv, sc_rgb c)
{
    int n = 0;
    for (int y = 0; y < cv->h; y++)
        for (int x = 0; x < cv->w; x++)
            n += same(sc_canvas_get(cv, x, y), c);
    return n;
}

static void assert_rgb(sc_rgb got, int r, int g, int b)
{
    ck_assert_msg(got.r == r && got.g == g && got.b == b, "got (%d, %d, %d), want (%d, %d, %d)",
                  got.r, got.g, got.b, r, g, b);
}

START_TEST(rect_covers_exactly)
{
    sc_canvas cv;
    TU_OK(sc_canvas_init(&cv, 20, 10, BLACK));
    ck_assert_int_eq(count(&cv, BLACK), 200);
    sc_canvas_rect(&cv, 7, 5, 3, 2, RED); /* corners in either order, inclusive */
    for (int y = 0; y < 10; y++)
        for (int x = 0; x < 20; x++) {
            int in = x >= 3 && x <= 7 && y >= 2 && y <= 5;
            ck_assert_msg(same(sc_canvas_get(&cv, x, y), in ? RED : BLACK), "pixel (%d, %d)", x,
                          y);
        }
    ck_assert_int_eq(count(&cv, RED), 20);
    /* clipped at the corner: only [0, 2] x [0, 1] lands */
    sc_canvas_fill(&cv, BLACK);
    sc_canvas_rect(&cv, -5, -5, 2, 1, RED);
    ck_assert_int_eq(count(&cv, RED), 6);
    ck_assert(same(sc_canvas_get(&cv, 2, 1), RED));
    ck_assert(same(sc_canvas_get(&cv, 3, 1), BLACK));
    /* wholly outside: nothing */
    sc_canvas_fill(&cv, BLACK);
    sc_canvas_rect(&cv, 20, 0, 30, 9, RED);
    sc_canvas_put(&cv, -1, 3, RED);
    ck_assert_int_eq(count(&cv, RED), 0);
    sc_canvas_free(&cv);
    ck_assert_ptr_null(cv.px);
    ck_assert_int_eq(cv.w, 0);
}
END_TEST

START_TEST(line_pixels)
{
    sc_canvas cv;
    TU_OK(sc_canvas_init(&cv, 16, 16, BLACK));
    /* (0,0) -> (6,2): Bresenham's 7 pixels */
    sc_canvas_line(&cv, 0, 0, 6, 2, 1, RED);
    static const int want[7][2] = {{0, 0}, {1, 0}, {2, 1}, {3, 1}, {4, 1}, {5, 2}, {6, 2}};
    ck_assert_int_eq(count(&cv, RED), 7);
    for (int k = 0; k < 7; k++)
        ck_assert_msg(same(sc_canvas_get(&cv, want[k][0], want[k][1]), RED), "(%d, %d)",
                      want[k][0], want[k][1]);
    /* backwards, steep: endpoints set, max(|dx|, |dy|) + 1 pixels */
    sc_canvas_fill(&cv, BLACK);
    sc_canvas_line(&cv, 9, 14, 5, 3, 1, RED);
    ck_assert_int_eq(count(&cv, RED), 12);
    ck_assert(same(sc_canvas_get(&cv, 9, 14), RED));
    ck_assert(same(sc_canvas_get(&cv, 5, 3), RED));
    /* the diagonal: exactly the pixels with x == y */
    sc_canvas_fill(&cv, BLACK);
    sc_canvas_line(&cv, 0, 0, 5, 5, 1, RED);
    ck_assert_int_eq(count(&cv, RED), 6);
    for (int k = 0; k <= 5; k++)
        ck_assert(same(sc_canvas_get(&cv, k, k), RED));
    /* a single point; then a horizontal line with a 2-pixel pen: 6 x 2 */
    sc_canvas_fill(&cv, BLACK);
    sc_canvas_line(&cv, 4, 4, 4, 4, 1, RED);
    ck_assert_int_eq(count(&cv, RED), 1);
    sc_canvas_fill(&cv, BLACK);
    sc_canvas_line(&cv, 2, 7, 6, 7, 2, RED);
    ck_assert_int_eq(count(&cv, RED), 12);
    ck_assert(same(sc_canvas_get(&cv, 7, 8), RED));
    ck_assert(same(sc_canvas_get(&cv, 8, 8), BLACK));
    ck_assert(same(sc_canvas_get(&cv, 2, 6), BLACK));
    sc_canvas_free(&cv);
}
END_TEST

START_TEST(font_glyphs)
{
    ck_assert_int_eq(SC_FONT_H, 9);
    static const uint8_t A[9] = {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11, 0, 0};
    static const uint8_t one[9] = {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E, 0, 0};
    static const uint8_t pct[9] = {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03, 0, 0};
    static const uint8_t y[9] = {0x00, 0x00, 0x11, 0x11, 0x11, 0x11, 0x0F, 0x01, 0x0E};
    ck_assert_mem_eq(sc_font_glyph('A'), A, 9);
    ck_assert_mem_eq(sc_font_glyph('1'), one, 9);
    ck_assert_mem_eq(sc_font_glyph('%'), pct, 9);
    ck_assert_mem_eq(sc_font_glyph('y'), y, 9);
    static const uint8_t blank[9] = {0};
    ck_assert_mem_eq(sc_font_glyph(' '), blank, 9);
    ck_assert_ptr_null(sc_font_glyph('\n'));
    ck_assert_ptr_null(sc_font_glyph((char)0xC3));
    /* every character the callers write has ink, within the 5 columns;
     * only g j p q y , ; reach below the baseline */
    const char *need = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                       ".,-+/:=()%[]<>_#*";
    for (const char *c = need; *c; c++) {
        const uint8_t *g = sc_font_glyph(*c);
        ck_assert_ptr_nonnull(g);
        int ink = 0;
        for (int r = 0; r < SC_FONT_H; r++) {
            ck_assert_msg((g[r] & ~0x1F) == 0, "'%c' row %d wider than 5", *c, r);
            ink += g[r] != 0;
        }
        ck_assert_msg(ink > 0, "'%c' has no glyph", *c);
        int below = g[SC_FONT_CAP] | g[SC_FONT_CAP + 1];
        ck_assert_msg(!below == !strchr("gjpqy,;", *c), "'%c' descender", *c);
    }
    /* upper and lower case differ (no folding) */
    ck_assert(memcmp(sc_font_glyph('E'), sc_font_glyph('e'), 9) != 0);
}
END_TEST

START_TEST(text_stays_in_measured_box)
{
    const char *s = "Ab1.%";
    ck_assert_int_eq(sc_text_width(s, 1), 29);
    ck_assert_int_eq(sc_text_width(s, 2), 58);
    ck_assert_int_eq(sc_text_width("", 2), 0);
    ck_assert_int_eq(sc_text_height(2), 18);
    sc_canvas cv;
    TU_OK(sc_canvas_init(&cv, 100, 40, BLACK));
    int x0 = 3, y0 = 4, W = sc_text_width(s, 2), H = sc_text_height(2);
    ck_assert_int_eq(sc_canvas_text(&cv, x0, y0, s, 2, WHITE), x0 + 5 * 6 * 2);
    int xmin = 1000, xmax = -1, ymin = 1000, ymax = -1, ink = 0;
    for (int y = 0; y < cv.h; y++)
        for (int x = 0; x < cv.w; x++)
            if (same(sc_canvas_get(&cv, x, y), WHITE)) {
                ink++;
                xmin = x < xmin ? x : xmin;
                xmax = x > xmax ? x : xmax;
                ymin = y < ymin ? y : ymin;
                ymax = y > ymax ? y : ymax;
            }
    /* the ink fills the measured box (this string touches three sides of
     * it; with no descender it ends at the baseline, 2 * 2 rows above the
     * bottom) */
    ck_assert_int_eq(xmin, x0);
    ck_assert_int_eq(xmax, x0 + W - 1);
    ck_assert_int_eq(ymin, y0);
    ck_assert_int_eq(ymax, y0 + SC_FONT_CAP * 2 - 1);
    ck_assert_int_lt(ymax, y0 + H);
    /* scale 2: four pixels per set glyph bit */
    int bits = 0;
    for (const char *c = s; *c; c++)
        for (int r = 0; r < SC_FONT_H; r++)
            bits += __builtin_popcount(sc_font_glyph(*c)[r]);
    ck_assert_int_eq(ink, 4 * bits);
    /* a descender reaches the bottom row of the box, not beyond */
    sc_canvas_fill(&cv, BLACK);
    sc_canvas_text(&cv, 0, 0, "gy", 2, WHITE);
    int bottom = -1;
    for (int y = 0; y < cv.h; y++)
        for (int x = 0; x < cv.w; x++)
            if (same(sc_canvas_get(&cv, x, y), WHITE))
                bottom = y;
    ck_assert_int_eq(bottom, H - 1);
    /* at scale 1 the pixels are the glyph's bits, one for one */
    sc_canvas_fill(&cv, BLACK);
    sc_canvas_text(&cv, 10, 20, "K", 1, WHITE);
    const uint8_t *k = sc_font_glyph('K');
    for (int r = 0; r < SC_FONT_H; r++)
        for (int c = 0; c < SC_FONT_W + 1; c++) {
            int want = c < SC_FONT_W && (k[r] & (0x10 >> c));
            ck_assert_msg(same(sc_canvas_get(&cv, 10 + c, 20 + r), want ? WHITE : BLACK),
                          "K at row %d column %d", r, c);
        }
    sc_canvas_free(&cv);
}
END_TEST

START_TEST(heat_map_colours)
{
    assert_rgb(sc_heat_rgb(0), 0, 0, 0);
    assert_rgb(sc_heat_rgb(1.0 / 3), 255, 0, 0);
    assert_rgb(sc_heat_rgb(0.5), 255, 128, 0); /* g = 1.5 - 1 = 0.5 -> 127.5 -> 128 */
    assert_rgb(sc_heat_rgb(2.0 / 3), 255, 255, 0);
    assert_rgb(sc_heat_rgb(1), 255, 255, 255);
    assert_rgb(sc_heat_rgb(-3), 0, 0, 0);
    assert_rgb(sc_heat_rgb(7), 255, 255, 255);
    assert_rgb(sc_heat_rgb(NAN), 0, 0, 0);
    /* a 1x3 map scaled by 2, divided by its maximum 4 */
    sc_canvas cv;
    TU_OK(sc_canvas_init(&cv, 6, 2, WHITE));
    const float v[3] = {0, 2, 4};
    sc_canvas_heatmap(&cv, 0, 0, v, 1, 3, 4.0, 2);
    for (int y = 0; y < 2; y++) {
        assert_rgb(sc_canvas_get(&cv, 1, y), 0, 0, 0);
        assert_rgb(sc_canvas_get(&cv, 2, y), 255, 128, 0);
        assert_rgb(sc_canvas_get(&cv, 3, y), 255, 128, 0);
        assert_rgb(sc_canvas_get(&cv, 5, y), 255, 255, 255);
    }
    /* a zero maximum draws black, not NaN colours */
    sc_canvas_heatmap(&cv, 0, 0, v, 1, 3, 0.0, 2);
    ck_assert_int_eq(count(&cv, BLACK), 12);
    sc_canvas_free(&cv);
}
END_TEST

START_TEST(blit_scales_grey_and_rgb)
{
    sc_canvas cv;
    TU_OK(sc_canvas_init(&cv, 8, 6, BLACK));
    const uint8_t grey[6] = {10, 20, 30, 40, 50, 60}; /* [1, 2, 3] */
    sc_canvas_blit(&cv, 1, 1, grey, 1, 2, 3, 2);
    for (int y = 0; y < 6; y++)
        for (int x = 0; x < 8; x++) {
            sc_rgb p = sc_canvas_get(&cv, x, y);
            if (x >= 1 && x < 7 && y >= 1 && y < 5) {
                uint8_t v = grey[((y - 1) / 2) * 3 + (x - 1) / 2];
                assert_rgb(p, v, v, v);
            } else {
                assert_rgb(p, 0, 0, 0);
            }
        }
    const uint8_t rgb[12] = {1, 2, 3, 4, 11, 12, 13, 14, 21, 22, 23, 24}; /* [3, 2, 2] */
    sc_canvas_blit(&cv, 0, 0, rgb, 3, 2, 2, 1);
    assert_rgb(sc_canvas_get(&cv, 0, 0), 1, 11, 21);
    assert_rgb(sc_canvas_get(&cv, 1, 0), 2, 12, 22);
    assert_rgb(sc_canvas_get(&cv, 0, 1), 3, 13, 23);
    assert_rgb(sc_canvas_get(&cv, 1, 1), 4, 14, 24);
    sc_canvas_free(&cv);
}
END_TEST

START_TEST(png_round_trip)
{
    sc_canvas cv;
    TU_OK(sc_canvas_init(&cv, 13, 7, BLACK));
    for (int y = 0; y < 7; y++)
        for (int x = 0; x < 13; x++)
            sc_canvas_put(&cv, x, y, (sc_rgb){(uint8_t)(19 * x), (uint8_t)(37 * y),
                                              (uint8_t)(x * y + 5)});
    sc_canvas_text(&cv, 1, 0, "7", 1, WHITE);
    char *dir = tu_tmpdir("image");
    char path[512];
    snprintf(path, sizeof path, "%s/c.png", dir);
    TU_OK(sc_canvas_write_png(&cv, path));
    uint8_t *px;
    int w, h, ch;
    TU_OK(sc_png_read(path, 0, &px, &w, &h, &ch));
    ck_assert_int_eq(w, 13);
    ck_assert_int_eq(h, 7);
    ck_assert_int_eq(ch, 3);
    ck_assert_mem_eq(px, cv.px, 13 * 7 * 3);
    free(px);
    /* a failed write names the file and leaves nothing */
    snprintf(path, sizeof path, "%s/missing/c.png", dir);
    ck_assert_int_eq(sc_canvas_write_png(&cv, path), SC_ERR_IO);
    ck_assert_ptr_nonnull(strstr(sc_last_error(), "missing"));
    tu_rmtree(dir);
    sc_canvas_free(&cv);
}
END_TEST

START_TEST(plot_mapping_and_bars)
{
    sc_plot p = {.x0 = 10, .y0 = 20, .w = 40, .h = 30, .xmin = 1, .xmax = 5, .ymin = 0,
                 .ymax = 2, .scale = 1};
    ck_assert_int_eq(sc_plot_px(&p, 1), 10);
    ck_assert_int_eq(sc_plot_px(&p, 5), 49);
    ck_assert_int_eq(sc_plot_px(&p, 3), 30); /* 10 + round(0.5 * 39) */
    ck_assert_int_eq(sc_plot_py(&p, 0), 49);
    ck_assert_int_eq(sc_plot_py(&p, 2), 20);
    sc_plot flat = p;
    flat.xmax = flat.xmin;
    ck_assert_int_eq(sc_plot_px(&flat, 123), 30); /* empty range: the middle */

    sc_canvas cv;
    TU_OK(sc_canvas_init(&cv, 64, 64, BLACK));
    /* 4 bins of 10 pixels, 2 series: slots of (10 - 2) / 2 = 4 pixels */
    const double a[4] = {2, 0, 1, NAN}, b[4] = {0, 2, -1, 0};
    const sc_rgb cols[2] = {RED, WHITE};
    sc_plot_bars(&cv, &p, (const double *const[]){a, b}, cols, 2, 4);
    /* a[0] = ymax: x 11..14, rows 20..49; a[2] = 1: x 31..34 from row
     * py(1) = 49 - round(0.5 * 29) = 34 (14.5 rounds away from zero) */
    ck_assert_int_eq(sc_plot_py(&p, 1), 34);
    ck_assert_int_eq(count(&cv, RED), 4 * 30 + 4 * 16);
    ck_assert(same(sc_canvas_get(&cv, 11, 20), RED));
    ck_assert(same(sc_canvas_get(&cv, 15, 30), BLACK));
    ck_assert(same(sc_canvas_get(&cv, 31, 34), RED));
    ck_assert(same(sc_canvas_get(&cv, 31, 33), BLACK));
    /* b[1] = ymax in bin 1, slot 1: x 25..28 */
    ck_assert_int_eq(count(&cv, WHITE), 4 * 30);
    ck_assert(same(sc_canvas_get(&cv, 25, 20), WHITE));
    ck_assert(same(sc_canvas_get(&cv, 28, 49), WHITE));
    ck_assert(same(sc_canvas_get(&cv, 29, 49), BLACK));

    /* a series: a 5x5 point at each finite sample, non-finite ones skipped */
    sc_canvas_fill(&cv, BLACK);
    const double xs[3] = {1, 3, 5}, ys[3] = {2, NAN, 2};
    sc_plot_series(&cv, &p, xs, ys, 3, RED);
    ck_assert(same(sc_canvas_get(&cv, 8, 18), RED));   /* (10, 20) - 2 */
    ck_assert(same(sc_canvas_get(&cv, 51, 22), RED));  /* (49, 20) + 2 */
    ck_assert(same(sc_canvas_get(&cv, 30, 20), RED));  /* the joining line */
    ck_assert(same(sc_canvas_get(&cv, 30, 34), BLACK)); /* no point for the NaN */
    sc_canvas_free(&cv);
}
END_TEST

START_TEST(canvas_rejects_bad_sizes)
{
    sc_canvas cv = {.w = 5, .h = 5, .px = NULL};
    ck_assert_int_eq(sc_canvas_init(&cv, 0, 10, BLACK), SC_ERR_INVALID_ARG);
    ck_assert_int_eq(cv.w, 0);
    ck_assert_ptr_null(cv.px);
    ck_assert_int_eq(sc_canvas_init(&cv, 10, -1, BLACK), SC_ERR_INVALID_ARG);
    ck_assert_int_eq(sc_canvas_init(&cv, SC_CANVAS_MAX_DIM, SC_CANVAS_MAX_DIM, BLACK),
                     SC_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(sc_last_error(), "1000000x1000000"));
}
END_TEST

int main(void)
{
    const tu_case cases[] = {
        {"draw", 0, {rect_covers_exactly, line_pixels, blit_scales_grey_and_rgb,
                canvas_rejects_bad_sizes}},
        {"text", 0, {font_glyphs, text_stays_in_measured_box}},
        {"colour", 0, {heat_map_colours}},
        {"plot", 0, {plot_mapping_and_bars}},
        {"file", 0, {png_round_trip}},
    };
    return tu_run(TU_SUITE("image", cases));
}
