/* The renderer (src/io/image.h): exact pixels of rectangles, lines, blits,
 * glyphs and text; the colour map, heat overlay and colour bar; the
 * labelled grid; plot mapping and bars; a PNG round trip; and the two grid
 * pictures drawn with it, read back with the project's PNG reader: the
 * saliency picture (sc_render_saliency_png) and the data preview
 * (sc_dataset_preview). Host only: no device is opened. */
#include "suite.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/image.h"
#include "spurcl/data.h"
#include "spurcl/io.h"
#include "spurcl/render.h"

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
    /* inferno's ends and knots (t = k/16) */
    assert_rgb(sc_heat_rgb(0), 0, 0, 4);
    assert_rgb(sc_heat_rgb(0.5), 187, 55, 85);
    assert_rgb(sc_heat_rgb(0.75), 249, 141, 10);
    assert_rgb(sc_heat_rgb(1), 252, 255, 164);
    assert_rgb(sc_heat_rgb(-3), 0, 0, 4);
    assert_rgb(sc_heat_rgb(7), 252, 255, 164);
    assert_rgb(sc_heat_rgb(NAN), 0, 0, 4);
    /* between knots: linear (t = 9/64 is a quarter of the way from knot 2,
     * (33, 12, 74), to knot 3, (60, 9, 101)) */
    assert_rgb(sc_heat_rgb(9.0 / 64), 40, 11, 81);
    /* perceptual: the lightness (luma) never falls as t rises, and covers
     * nearly the whole range */
    double prev = -1;
    for (int i = 0; i <= 256; i++) {
        sc_rgb c = sc_heat_rgb(i / 256.0);
        double luma = 0.299 * c.r + 0.587 * c.g + 0.114 * c.b;
        ck_assert_msg(luma >= prev - 0.75, "luma falls at t = %d/256: %g after %g", i, luma, prev);
        prev = luma > prev ? luma : prev;
    }
    ck_assert(prev > 240);
}
END_TEST

/* The overlay's pixel: round((1 - a) * base + a * heat(t)) with
 * base = round(0.6 * grey) and a = 0.85 t (src/io/image.h). */
static sc_rgb overlay(uint8_t grey, double t)
{
    double base = lrint(SC_HEAT_BASE * grey), a = SC_HEAT_ALPHA * t;
    sc_rgb h = sc_heat_rgb(t);
    return (sc_rgb){(uint8_t)lrint((1 - a) * base + a * h.r), (uint8_t)lrint((1 - a) * base + a * h.g),
                    (uint8_t)lrint((1 - a) * base + a * h.b)};
}

START_TEST(heat_overlay_blends_over_grey)
{
    ck_assert(SC_HEAT_ALPHA == 0.85 && SC_HEAT_BASE == 0.6);
    sc_canvas cv;
    TU_OK(sc_canvas_init(&cv, 6, 2, WHITE));
    /* a 1x3 grey image 200 under the map {0, 2, 4}, vmax 4, scale 2 */
    const uint8_t img[3] = {200, 200, 200};
    const float v[3] = {0, 2, 4};
    sc_canvas_heat_overlay(&cv, 0, 0, img, 1, v, 1, 3, 4.0, 2);
    for (int y = 0; y < 2; y++) {
        assert_rgb(sc_canvas_get(&cv, 1, y), 120, 120, 120); /* zero: the grey, dimmed */
        /* half: a = 0.425 over heat(0.5) = (187, 55, 85) */
        assert_rgb(sc_canvas_get(&cv, 2, y), 148, 92, 105);
        /* full: a = 0.85 over (252, 255, 164) */
        assert_rgb(sc_canvas_get(&cv, 5, y), 232, 235, 157);
    }
    /* RGB images go to Rec. 601 luma first: (100, 200, 50) -> 153 */
    const uint8_t rgb[3] = {100, 200, 50};
    ck_assert_int_eq(sc_image_grey(rgb, 3, 1, 0), 153);
    const float one[1] = {1};
    sc_canvas_heat_overlay(&cv, 0, 0, rgb, 3, one, 1, 1, 1.0, 1);
    sc_rgb want = overlay(153, 1);
    assert_rgb(sc_canvas_get(&cv, 0, 0), want.r, want.g, want.b);
    /* a zero, negative or NaN maximum, and NaN values, draw the grey */
    const float nan3[3] = {NAN, NAN, NAN};
    sc_canvas_heat_overlay(&cv, 0, 0, img, 1, v, 1, 3, 0.0, 2);
    ck_assert_int_eq(count(&cv, (sc_rgb){120, 120, 120}), 12);
    sc_canvas_heat_overlay(&cv, 0, 0, img, 1, nan3, 1, 3, 4.0, 2);
    ck_assert_int_eq(count(&cv, (sc_rgb){120, 120, 120}), 12);
    sc_canvas_free(&cv);
}
END_TEST

START_TEST(colour_bar_and_fitted_text)
{
    sc_canvas cv;
    TU_OK(sc_canvas_init(&cv, 120, 40, WHITE));
    const char *ticks[3] = {"0", "0.5", "1"};
    sc_canvas_colorbar(&cv, 10, 5, 101, 8, ticks, 3, 1, BLACK);
    assert_rgb(sc_canvas_get(&cv, 10, 5), 0, 0, 4);       /* t = 0 at the left */
    assert_rgb(sc_canvas_get(&cv, 60, 12), 187, 55, 85);  /* t = 0.5 */
    assert_rgb(sc_canvas_get(&cv, 110, 9), 252, 255, 164); /* t = 1 at the right */
    assert_rgb(sc_canvas_get(&cv, 9, 4), 0, 0, 0);        /* the frame */
    assert_rgb(sc_canvas_get(&cv, 111, 13), 0, 0, 0);
    assert_rgb(sc_canvas_get(&cv, 60, 15), 0, 0, 0);      /* the middle tick */
    /* the labels: "0" from the left end, "1" ending at the right end */
    int ink_left = 0, ink_right = 0;
    for (int y = 18; y < 18 + 9; y++) {
        ink_left += same(sc_canvas_get(&cv, 11, y), BLACK);
        ink_right += same(sc_canvas_get(&cv, 108, y), BLACK);
    }
    ck_assert_int_gt(ink_left, 0);
    ck_assert_int_gt(ink_right, 0);
    sc_canvas_free(&cv);

    /* text cut to a width ends in "..", and stays inside it */
    TU_OK(sc_canvas_init(&cv, 200, 12, BLACK));
    ck_assert_int_eq(sc_canvas_text_fit(&cv, 0, 0, "abc", 1, 100, WHITE), 17);
    sc_canvas_fill(&cv, BLACK);
    int w = sc_canvas_text_fit(&cv, 0, 0, "T-shirt/top+Trouser", 1, 50, WHITE);
    ck_assert_int_eq(w, sc_text_width("T-shir..", 1)); /* 6 * 8 - 1 = 47 */
    ck_assert_int_le(w, 50);
    for (int y = 0; y < 12; y++)
        for (int x = 50; x < 200; x++)
            ck_assert(same(sc_canvas_get(&cv, x, y), BLACK));
    sc_canvas t2;
    TU_OK(sc_canvas_init(&t2, 200, 12, BLACK));
    sc_canvas_text(&t2, 0, 0, "T-shir..", 1, WHITE);
    ck_assert_mem_eq(cv.px, t2.px, (size_t)200 * 12 * 3);
    ck_assert_int_eq(sc_canvas_text_fit(&cv, 0, 0, "abc", 1, 5, WHITE), 0);
    sc_canvas_free(&t2);
    sc_canvas_free(&cv);
}
END_TEST

START_TEST(grid_geometry)
{
    sc_grid g = {.rows = 5, .cols = 4, .cell_w = 40, .cell_h = 30, .col_w = 50, .captions = 2,
                 .label_w = 60, .label_lines = 2, .title_lines = 1, .footer_h = 20,
                 .title_scale = 2, .label_scale = 1, .caption_scale = 1};
    TU_OK(sc_grid_layout(&g, "test grid"));
    ck_assert_int_eq(g.margin, 16);
    ck_assert_int_eq(g.gap, 4);                          /* 2 + 40 / 20 */
    ck_assert_int_eq(g.pitch_x, 54);                     /* col_w + gap */
    ck_assert_int_eq(g.pitch_y, 30 + 2 + 2 * 12 + 4);    /* 60 */
    ck_assert_int_eq(g.label_gap, 12);
    ck_assert_int_eq(g.x0, 16 + 60 + 12);
    ck_assert_int_eq(g.y0, 16 + 24 + 8);
    ck_assert_int_eq(g.width, 2 * 16 + 60 + 12 + 4 * 54 - 4);
    ck_assert_int_eq(g.height, 48 + 5 * 60 - 4 + 20 + 16);
    ck_assert_int_eq(g.foot_y, g.height - 16 - 20);
    int x, y;
    sc_grid_cell(&g, 2, 3, &x, &y); /* the image centred in its column */
    ck_assert_int_eq(x, 88 + 3 * 54 + 5);
    ck_assert_int_eq(y, 48 + 2 * 60);
    /* wrapped into blocks of 2 rows: 3 blocks side by side */
    g.block_rows = 2;
    TU_OK(sc_grid_layout(&g, "test grid"));
    ck_assert_int_eq(g.blocks, 3);
    ck_assert_int_eq(g.height, 48 + 2 * 60 - 4 + 20 + 16);
    ck_assert_int_eq(g.width, 2 * 16 + 3 * g.block_w + 2 * g.block_gap);
    sc_grid_cell(&g, 4, 0, &x, &y); /* row 4: block 2, its row 0 */
    ck_assert_int_eq(x, 88 + 2 * (g.block_w + g.block_gap) + 5);
    ck_assert_int_eq(y, 48);
    /* a row is at least as high as its label */
    g = (sc_grid){.rows = 1, .cols = 1, .cell_w = 8, .cell_h = 8, .label_w = 10,
                  .label_lines = 3, .title_scale = 1, .label_scale = 2, .caption_scale = 1};
    TU_OK(sc_grid_layout(&g, "test grid"));
    ck_assert_int_eq(g.pitch_y, 3 * 24 + 2);
    g.cols = 2000000;
    ck_assert_int_eq(sc_grid_layout(&g, "test grid"), SC_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(sc_last_error(), "test grid"));
}
END_TEST

/* ---- the grid pictures, read back from their PNGs ---------------------- */

typedef struct png {
    uint8_t *px;
    int w, h, ch;
} png;

static png read_png(const char *path)
{
    png p;
    TU_OK(sc_png_read(path, 0, &p.px, &p.w, &p.h, &p.ch));
    ck_assert_int_eq(p.ch, 3);
    return p;
}

static sc_rgb px(const png *p, int x, int y)
{
    ck_assert_msg(x >= 0 && y >= 0 && x < p->w && y < p->h, "(%d, %d) outside %dx%d", x, y, p->w,
                  p->h);
    const uint8_t *q = p->px + 3 * ((size_t)y * p->w + x);
    return (sc_rgb){q[0], q[1], q[2]};
}

/* Pixels in [x0, x1) x [y0, y1) that are not the paper (white). */
static int ink_in(const png *p, int x0, int y0, int x1, int y1)
{
    int n = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
            n += !same(px(p, x, y), WHITE);
    return n;
}

/* The region [x0, x0 + w) x [y0, y0 + h) of the PNG is exactly the n
 * lines s[k] drawn at (tx, ty + k * sc_line_height(scale)) in colour c[k]
 * on white. */
static void assert_lines_at(const png *p, int x0, int y0, int w, int h, int tx, int ty,
                            const char *const *s, const sc_rgb *c, int n, int scale)
{
    sc_canvas cv;
    TU_OK(sc_canvas_init(&cv, p->w, p->h, WHITE));
    for (int k = 0; k < n; k++)
        sc_canvas_text(&cv, tx, ty + k * sc_line_height(scale), s[k], scale, c[k]);
    for (int y = y0; y < y0 + h; y++)
        for (int x = x0; x < x0 + w; x++) {
            sc_rgb a = px(p, x, y), b = sc_canvas_get(&cv, x, y);
            ck_assert_msg(same(a, b), "\"%s\": pixel (%d, %d) is (%d, %d, %d), want (%d, %d, %d)",
                          s[0], x, y, a.r, a.g, a.b, b.r, b.g, b.b);
        }
    sc_canvas_free(&cv);
}

static void assert_text_at(const png *p, int x0, int y0, int w, int h, int tx, int ty,
                           const char *s, sc_rgb c)
{
    assert_lines_at(p, x0, y0, w, h, tx, ty, &s, &c, 1, 1);
}

START_TEST(saliency_picture_rows_per_method)
{
    enum { N = 20, H = 10, W = 10, S = 4 };
    static uint8_t img[N][H * W];
    static float m0[N][H * W], m1[N][H * W];
    int32_t labels[N], attrs[N], p0[N], p1[N];
    for (int i = 0; i < N; i++) {
        labels[i] = i % 3;
        attrs[i] = i % 2;
        p0[i] = labels[i];                           /* the student: all right */
        p1[i] = i == 1 ? (labels[i] + 1) % 3 : labels[i]; /* the teacher: sample 1 wrong */
        for (int p = 0; p < H * W; p++) {
            img[i][p] = (uint8_t)(40 + 2 * p);
            /* sample 0 of the student: one extreme dot at (0, 0) and a
             * moderate right half; scaled to its maximum the half would be
             * 1/1000 (black), to its 99th percentile (the 99th of 100
             * values: 1) it is at full colour */
            m0[i][p] = i == 0 ? (p == 0 ? 1000.0f : p % W >= 5 ? 1.0f : 0.0f) : (float)(p % 7);
            m1[i][p] = 0; /* the teacher's maps are all zero */
        }
    }
    static const char *const classes[3] = {"cat", "dog", "cow"}, *const attr_names[2] = {"sun", "rain"};
    const char *methods[2] = {"student", "teacher"};
    const float *maps[2] = {&m0[0][0], &m1[0][0]};
    const int32_t *preds[2] = {p0, p1};
    sc_saliency_figure f = {
        .title = "test picture", .n = N, .c = 1, .h = H, .w = W, .images = &img[0][0],
        .labels = labels, .attrs = attrs, .class_names = classes, .num_classes = 3,
        .attr_names = attr_names, .num_attrs = 2, .nmethods = 2, .methods = methods,
        .maps = maps, .preds = preds, .scale = S,
    };
    char *dir = tu_tmpdir("image");
    char path[512];
    snprintf(path, sizeof path, "%s/sal.png", dir);
    TU_OK(sc_render_saliency_png(path, &f));
    png p = read_png(path);
    /* The layout (render.h, image.h): text scale 2 for title and labels,
     * 1 for captions. margin 16; images 40 px, gap 2 + 40/20 = 4, columns
     * 40 (the captions "y=cat" .. are narrower), pitch_x 44; the label
     * column as wide as "20/20 right" at scale 2 (130) plus 2*8 + 4; rows:
     * 40 + 2 + 2 lines of 12 + 4 = 70, three of them (the images and one per
     * method); the title 24 + 8; the footer 46. */
    int margin = 16, label_w = sc_text_width("20/20 right", 2), x0 = margin + label_w + 20;
    int y0 = margin + 24 + 8, pitch_x = 44, pitch_y = 70;
    ck_assert_int_eq(label_w, 130);
    ck_assert_int_eq(p.w, 2 * margin + label_w + 20 + N * pitch_x - 4);
    ck_assert_int_eq(p.h, y0 + 3 * pitch_y - 4 + 46 + margin);
    /* the first row: the plain images, exactly */
    for (int i = 0; i < N; i += 7)
        for (int q = 0; q < H * W; q += 13) {
            uint8_t v = img[i][q];
            assert_rgb(px(&p, x0 + i * pitch_x + (q % W) * S + 1, y0 + (q / W) * S + 2), v, v, v);
        }
    /* the student's sample 0: the right half at full heat over the grey,
     * the left half (zero) the dimmed grey, the dot saturated */
    int sx = x0, sy = y0 + pitch_y;
    for (int r = 0; r < H; r++)
        for (int c = 0; c < W; c++) {
            uint8_t g = img[0][r * W + c];
            sc_rgb want = c >= 5 || (r == 0 && c == 0) ? overlay(g, 1) : overlay(g, 0);
            sc_rgb got = px(&p, sx + c * S + 2, sy + r * S + 1);
            ck_assert_msg(same(got, want), "student sample 0 (%d, %d): (%d, %d, %d), want "
                          "(%d, %d, %d)", r, c, got.r, got.g, got.b, want.r, want.g, want.b);
        }
    sc_rgb hot = px(&p, sx + 7 * S, sy + 3 * S);
    ck_assert_msg(hot.r > 200 && hot.g > 180 && hot.b > 100, "hot pixel (%d, %d, %d)", hot.r,
                  hot.g, hot.b);
    /* the teacher's maps are zero: every panel is the dimmed grey image */
    for (int i = 0; i < N; i += 5)
        for (int q = 0; q < H * W; q += 11) {
            uint8_t v = (uint8_t)lrint(0.6 * img[i][q]);
            assert_rgb(px(&p, x0 + i * pitch_x + (q % W) * S + 3, y0 + 2 * pitch_y + (q / W) * S),
                       v, v, v);
        }
    /* a red frame round the teacher's wrong panel (sample 1) only */
    assert_rgb(px(&p, x0 + pitch_x - 1, y0 + 2 * pitch_y - 1), 200, 30, 30);
    assert_rgb(px(&p, x0 - 1, y0 + 2 * pitch_y - 1), 255, 255, 255);
    assert_rgb(px(&p, x0 + pitch_x - 1, y0 + pitch_y - 1), 255, 255, 255);
    /* the captions are the class and attribute names, centred on the
     * column: "y=dog" / "a=rain" under sample 1, "p=cow" (wrong: red)
     * under the teacher's, "p=dog" (right: green) under the student's */
    int cx = x0 + pitch_x, cy = y0 + 40 + 2;
    assert_text_at(&p, cx, cy, 40, 12, cx + (40 - 29) / 2, cy, "y=dog", SC_FIG_INK);
    assert_text_at(&p, cx, cy + 12, 40, 12, cx + (40 - 35) / 2, cy + 12, "a=rain", SC_FIG_MUTED);
    assert_text_at(&p, cx, cy + pitch_y, 40, 12, cx + 5, cy + pitch_y, "p=dog",
                   (sc_rgb){20, 125, 50});
    assert_text_at(&p, cx, cy + 2 * pitch_y, 40, 12, cx + 5, cy + 2 * pitch_y, "p=cow",
                   (sc_rgb){200, 30, 30});
    /* the row labels: text in the label column of each row; the method
     * rows say how many predictions are right */
    for (int r = 0; r < 3; r++)
        ck_assert_int_gt(ink_in(&p, margin, y0 + r * pitch_y, margin + label_w,
                                y0 + r * pitch_y + 18), 20);
    const char *lines[2] = {"student", "20/20 right"}, *lines2[2] = {"teacher", "19/20 right"};
    const sc_rgb cols[2] = {SC_FIG_INK, SC_FIG_MUTED};
    assert_lines_at(&p, margin, y0 + pitch_y, label_w, 48, margin, y0 + pitch_y, lines, cols, 2, 2);
    assert_lines_at(&p, margin, y0 + 2 * pitch_y, label_w, 48, margin, y0 + 2 * pitch_y, lines2,
                    cols, 2, 2);
    /* the title, and the colour bar at (margin + 1, height - margin - 35):
     * 160 x 12, inferno from t = 0 to 1, framed */
    ck_assert_int_gt(ink_in(&p, margin, margin, p.w - margin, margin + 18), 50);
    int bx = margin + 1, by = p.h - margin - 35;
    assert_rgb(px(&p, bx, by), 0, 0, 4);
    assert_rgb(px(&p, bx + 159, by + 11), 252, 255, 164);
    sc_rgb mid = sc_heat_rgb(80.0 / 159);
    assert_rgb(px(&p, bx + 80, by + 6), mid.r, mid.g, mid.b);
    assert_rgb(px(&p, bx - 1, by - 1), SC_FIG_INK.r, SC_FIG_INK.g, SC_FIG_INK.b);
    ck_assert_int_gt(ink_in(&p, bx + 160 + 24, by - 1, p.w - margin, by + 36), 200); /* legend */
    free(p.px);
    /* one method fewer: one row fewer */
    f.nmethods = 1;
    TU_OK(sc_render_saliency_png(path, &f));
    p = read_png(path);
    ck_assert_int_eq(p.h, y0 + 2 * pitch_y - 4 + 46 + margin);
    free(p.px);
    /* bad sizes are refused, nothing written */
    f.scale = 0;
    snprintf(path, sizeof path, "%s/bad.png", dir);
    ck_assert_int_eq(sc_render_saliency_png(path, &f), SC_ERR_INVALID_ARG);
    ck_assert_int_ne(access(path, F_OK), 0);
    tu_rmtree(dir);
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

/* A data set of 2 classes x 2 attributes, 8x8 grey images, each image one
 * value (its index + 10); the test split holds 3, 1, 0 and 2 images of
 * groups 0-3, and 4 train images of group 2 are not shown. */
static sc_dataset *tiny_set(void)
{
    sc_dataset *d;
    TU_OK(sc_dataset_create(10, 1, 8, 8, 2, 2, &d));
    static const int32_t group[10] = {0, 2, 0, 3, 1, 2, 0, 2, 3, 2};
    static const int32_t split[10] = {2, 0, 2, 2, 2, 0, 2, 0, 2, 0};
    for (int i = 0; i < 10; i++) {
        d->labels[i] = group[i] / 2;
        d->attrs[i] = group[i] % 2;
        d->split[i] = split[i];
        memset(d->images + (size_t)i * 64, 10 + i, 64);
    }
    TU_OK(sc_dataset_update_groups(d));
    static const char *cn[2] = {"cat", "dog"}, *an[2] = {"sun", "rain"};
    for (int k = 0; k < 2; k++) {
        d->class_names[k] = strdup(cn[k]);
        d->attr_names[k] = strdup(an[k]);
    }
    return d;
}

START_TEST(preview_is_a_labelled_grid)
{
    sc_dataset *d = tiny_set();
    char *dir = tu_tmpdir("image");
    char path[512];
    snprintf(path, sizeof path, "%s/prev.png", dir);
    enum { PER = 24, S = 4 };
    TU_OK(sc_dataset_preview(d, SC_SPLIT_TEST, PER, S, path));
    png p = read_png(path);
    /* data.h / image.h: labels at text scale 1 (32 px images are lower
     * than two scale-2 lines); the label column as wide as the widest label
     * line, "a=rain, n=1"; margin 16, gap 2 + 32/20 = 3, pitch 35 both
     * ways (a row: max(32, two label lines of 12) + 3); label gap 8 + 3;
     * the title 24 + 8; the footer 6 + 9; four rows (groups) of PER
     * columns in one block */
    int margin = 16, label_w = sc_text_width("a=rain, n=1", 1), gap = 3, pitch = 35;
    int x0 = margin + label_w + 8 + gap, y0 = margin + 24 + 8;
    ck_assert_int_eq(label_w, 65);
    ck_assert_int_eq(p.w, 2 * margin + label_w + 8 + gap + PER * pitch - gap);
    ck_assert_int_eq(p.h, y0 + 4 * pitch - gap + 15 + margin);
    /* row g, column k: the group's k-th test image, else an empty cell */
    static const int first[4][3] = {{0, 2, 6}, {4, -1, -1}, {-1, -1, -1}, {3, 8, -1}};
    for (int g = 0; g < 4; g++)
        for (int k = 0; k < PER; k++) {
            int idx = k < 3 ? first[g][k] : -1;
            sc_rgb want = idx >= 0 ? (sc_rgb){(uint8_t)(10 + idx), (uint8_t)(10 + idx),
                                              (uint8_t)(10 + idx)}
                                   : SC_FIG_EMPTY;
            for (int q = 0; q < 32; q += 31) {
                sc_rgb got = px(&p, x0 + k * pitch + q, y0 + g * pitch + 31 - q);
                ck_assert_msg(same(got, want), "group %d column %d: (%d, %d, %d)", g, k, got.r,
                              got.g, got.b);
            }
            /* the gap after the cell is paper */
            ck_assert(same(px(&p, x0 + k * pitch + 32, y0 + g * pitch + 5), WHITE));
        }
    /* the row labels: class and attribute names and the count */
    static const char *labels[4][2] = {{"y=cat", "a=sun, n=3"}, {"y=cat", "a=rain, n=1"},
                                       {"y=dog", "a=sun, n=0"}, {"y=dog", "a=rain, n=2"}};
    const sc_rgb ink[2] = {SC_FIG_INK, SC_FIG_INK};
    for (int g = 0; g < 4; g++)
        assert_lines_at(&p, margin, y0 + g * pitch, label_w, pitch - gap, margin,
                        y0 + g * pitch, labels[g], ink, 2, 1);
    /* a title */
    ck_assert_int_gt(ink_in(&p, margin, margin, p.w - margin, margin + 18), 100);
    free(p.px);

    /* a set too tall for one column of rows wraps into blocks of whole
     * classes, no taller than 2000 pixels: 10 classes x 10 attributes at
     * 64-pixel images (gap 2 + 64/20 = 5: rows of 69) */
    sc_dataset *big;
    TU_OK(sc_dataset_create(100, 1, 8, 8, 10, 10, &big));
    for (int i = 0; i < 100; i++) {
        big->labels[i] = i / 10;
        big->attrs[i] = i % 10;
        big->split[i] = SC_SPLIT_TRAIN;
        memset(big->images + (size_t)i * 64, 100 + i, 64);
    }
    TU_OK(sc_dataset_update_groups(big));
    TU_OK(sc_dataset_preview(big, SC_SPLIT_TRAIN, 2, 8, path));
    p = read_png(path);
    int rows_h = p.h - y0 - 15 - margin + 5; /* rows x 69, the last gap (5) included */
    ck_assert_int_le(p.h, 2000);
    ck_assert_int_eq(rows_h % 69, 0);
    int rows = rows_h / 69, blocks = (100 + rows - 1) / rows;
    ck_assert_int_eq(rows % 10, 0);
    ck_assert_int_ge(blocks, 2);
    /* the first image of group g sits in block g / rows, row g % rows,
     * column 0 */
    int bw = (p.w - 2 * margin + 3 * margin) / blocks; /* block_w + block_gap */
    for (int g = 0; g < 100; g += 9) {
        int bx = margin + (g / rows) * bw, by = y0 + (g % rows) * 69;
        ck_assert_int_gt(ink_in(&p, bx, by, bx + 30, by + 20), 5); /* the label */
        /* the image is the block's first non-paper, non-ink cell pixel */
        int found = 0;
        for (int x = bx; x < bx + bw && !found; x++)
            found = same(px(&p, x, by + 40), (sc_rgb){(uint8_t)(100 + g), (uint8_t)(100 + g),
                                                      (uint8_t)(100 + g)});
        ck_assert_msg(found, "group %d's image not in block %d row %d", g, g / rows, g % rows);
    }
    free(p.px);
    sc_dataset_free(big);
    sc_dataset_free(d);
    tu_rmtree(dir);
}
END_TEST

int main(void)
{
    const tu_case cases[] = {
        {"draw", 0, {rect_covers_exactly, line_pixels, blit_scales_grey_and_rgb,
                canvas_rejects_bad_sizes}},
        {"text", 0, {font_glyphs, text_stays_in_measured_box}},
        {"colour", 0, {heat_map_colours, heat_overlay_blends_over_grey, colour_bar_and_fitted_text}},
        {"grid", 0, {grid_geometry, saliency_picture_rows_per_method, preview_is_a_labelled_grid}},
        {"plot", 0, {plot_mapping_and_bars}},
        {"file", 0, {png_round_trip}},
    };
    return tu_run(TU_SUITE("image", cases));
}
