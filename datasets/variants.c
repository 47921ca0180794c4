/* Rendering of one sample for each variant: the source image in, the image
 * that carries the attribute out. Every random draw comes from the sample's
 * own stream, so samples can be rendered in any order or in parallel. */
#include "ds_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

static const double color_sigma_by_severity[5] = {0.05, 0.02, 0.01, 0.005, 0.002};

static uint8_t to_u8(double v)
{
    v = v * 255.0 + 0.5;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

void sc_attr_color(int a, int n, float rgb[3])
{
    /* Evenly spaced hues at full saturation and value. */
    double h = n > 0 ? (double)a / n : 0;
    double h6 = h * 6.0;
    int i = (int)floor(h6) % 6;
    double f = h6 - floor(h6);
    double q = 1 - f, t = f;
    double r, g, b;
    switch (i) {
    case 0: r = 1; g = t; b = 0; break;
    case 1: r = q; g = 1; b = 0; break;
    case 2: r = 0; g = 1; b = t; break;
    case 3: r = 0; g = q; b = 1; break;
    case 4: r = t; g = 0; b = 1; break;
    default: r = 1; g = 0; b = q; break;
    }
    rgb[0] = (float)r;
    rgb[1] = (float)g;
    rgb[2] = (float)b;
}

/* Grey value (0..255) of pixel p of a C x H x W image. */
static unsigned grey_at(const uint8_t *in, int c, size_t plane, size_t p)
{
    if (c < 3)
        return in[p];
    return (19595u * in[p] + 38470u * in[plane + p] + 7471u * in[2 * plane + p] + 32768u) >> 16;
}

static uint64_t mix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Distinct non-zero bit patterns of `bits` bits for attributes 0..a. */
static uint64_t pattern_code(int a, int bits)
{
    uint64_t mask = bits >= 64 ? ~0ull : ((1ull << bits) - 1);
    uint64_t codes[256];
    int have = 0;
    uint64_t k = 0;
    while (have <= a && have < 256) {
        uint64_t c = mix64(k++ + 0x5eed) & mask;
        int dup = c == 0;
        for (int j = 0; j < have && !dup; j++)
            dup = codes[j] == c;
        if (!dup)
            codes[have++] = c;
        if (k > 100000)
            break; /* fewer distinct codes than attributes: reuse */
    }
    return have ? codes[a < have ? a : a % have] : 1;
}

void sc_patch_position(sc_patch_layout layout, int s, int H, int W, int num_attrs, int attr,
                       int *y0_out, int *x0_out)
{
    int y0 = 0, x0 = 0;
    if (layout == SC_PATCH_BORDER && s > 0 && num_attrs > 0) {
        int gw = W / s, gh = H / s;
        int P = gw >= 2 && gh >= 2 ? 2 * gw + 2 * gh - 4 : (gw > gh ? gw : gh);
        int k = (int)((int64_t)attr * P / num_attrs);
        int cy, cx;
        if (gw < 2 || gh < 2) {
            cy = gh < 2 ? 0 : k;
            cx = gh < 2 ? k : 0;
        } else if (k < gw) {
            cy = 0;
            cx = k;
        } else if (k < gw + gh - 1) {
            cy = k - gw + 1;
            cx = gw - 1;
        } else if (k < 2 * gw + gh - 2) {
            cy = gh - 1;
            cx = gw - 1 - (k - (gw + gh - 1)) - 1;
        } else {
            cy = gh - 1 - (k - (2 * gw + gh - 2)) - 1;
            cx = 0;
        }
        y0 = cy == gh - 1 ? H - s : cy * s;
        x0 = cx == gw - 1 ? W - s : cx * s;
    }
    *y0_out = y0;
    *x0_out = x0;
}

static void render_patch(const sc_render_ctx *rc, uint8_t *out, int attr, int draw)
{
    const sc_build_opts *o = rc->o;
    int C = rc->out_c, H = rc->out_h, W = rc->out_w, s = o->patch_size;
    if (!draw)
        return;
    uint8_t v = to_u8(o->patch_intensity);
    int y0, x0;
    sc_patch_position(o->patch_layout, s, H, W, rc->num_attrs, attr, &y0, &x0);
    uint64_t code = ~0ull;
    if (o->patch_layout != SC_PATCH_BORDER) {
        int bits = s * s < 64 ? s * s : 64;
        code = pattern_code(attr, bits);
    }
    for (int y = 0; y < s; y++)
        for (int x = 0; x < s; x++) {
            if (!((code >> ((y * s + x) % 64)) & 1))
                continue;
            for (int ch = 0; ch < C; ch++)
                out[((size_t)ch * H + y0 + y) * W + x0 + x] = v;
        }
}

static void render_color(const sc_render_ctx *rc, const uint8_t *in, uint8_t *out, int attr,
                         int draw, sc_rng *rng)
{
    const sc_build_opts *o = rc->o;
    int H = rc->out_h, W = rc->out_w;
    size_t plane = (size_t)H * W;
    double sigma = o->color_sigma >= 0 ? o->color_sigma : color_sigma_by_severity[o->severity - 1];
    float mean[3];
    sc_attr_color(attr, rc->num_attrs, mean);
    double col[3];
    for (int k = 0; k < 3; k++) {
        double v = mean[k] + sigma * sc_rng_normal(rng); /* one draw per image and channel */
        col[k] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
    for (size_t p = 0; p < plane; p++) {
        unsigned g = grey_at(in, rc->in_c, plane, p);
        for (int k = 0; k < 3; k++) {
            double v;
            if (!draw)
                v = g / 255.0;
            else if (o->color_mode == SC_COLOR_FOREGROUND)
                v = g / 255.0 * col[k];
            else if (o->color_patch == 0)
                v = (g + (255.0 - g) * col[k]) / 255.0; /* background painted, object kept */
            else
                v = g / 255.0;
            out[k * plane + p] = to_u8(v);
        }
    }
    if (draw && o->color_mode == SC_COLOR_BACKGROUND && o->color_patch > 0) {
        int n = o->color_patch;
        for (int y = 0; y < n && y < H; y++)
            for (int x = 0; x < n && x < W; x++)
                for (int k = 0; k < 3; k++)
                    out[k * plane + (size_t)y * W + x] = to_u8(col[k]);
    }
}

/* Procedural backgrounds for the Waterbirds-like variant: family 0 is smooth
 * low-frequency value noise in greens and browns ("land"), family 1 wavy
 * stripes in blues ("water"); each image draws its own parameters. */
static void render_background(const sc_render_ctx *rc, const uint8_t *in, uint8_t *out,
                              int attr, sc_rng *rng)
{
    int S = rc->out_h, h = rc->in_h, w = rc->in_w;
    size_t plane = (size_t)S * S;
    double lo[3], hi[3];
    if (attr == 0) {
        double base[2][3] = {{0.16, 0.32, 0.10}, {0.58, 0.47, 0.22}};
        for (int k = 0; k < 3; k++) {
            lo[k] = base[0][k] + 0.06 * (sc_rng_uniform(rng) - 0.5);
            hi[k] = base[1][k] + 0.06 * (sc_rng_uniform(rng) - 0.5);
        }
        enum { G = 5 };
        double lat[G][G];
        for (int i = 0; i < G; i++)
            for (int j = 0; j < G; j++)
                lat[i][j] = sc_rng_uniform(rng);
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                double fy = (double)y / (S - 1 > 0 ? S - 1 : 1) * (G - 1);
                double fx = (double)x / (S - 1 > 0 ? S - 1 : 1) * (G - 1);
                int iy = (int)fy, ix = (int)fx;
                if (iy >= G - 1)
                    iy = G - 2;
                if (ix >= G - 1)
                    ix = G - 2;
                double ty = fy - iy, tx = fx - ix;
                ty = ty * ty * (3 - 2 * ty);
                tx = tx * tx * (3 - 2 * tx);
                double v = (1 - ty) * ((1 - tx) * lat[iy][ix] + tx * lat[iy][ix + 1]) +
                           ty * ((1 - tx) * lat[iy + 1][ix] + tx * lat[iy + 1][ix + 1]);
                for (int k = 0; k < 3; k++)
                    out[k * plane + (size_t)y * S + x] = to_u8(lo[k] + (hi[k] - lo[k]) * v);
            }
    } else {
        double base[2][3] = {{0.05, 0.15, 0.42}, {0.35, 0.62, 0.92}};
        for (int k = 0; k < 3; k++) {
            lo[k] = base[0][k] + 0.06 * (sc_rng_uniform(rng) - 0.5);
            hi[k] = base[1][k] + 0.06 * (sc_rng_uniform(rng) - 0.5);
        }
        double theta = sc_rng_uniform(rng) * M_PI;
        double freq = 2.0 + 3.0 * sc_rng_uniform(rng); /* cycles across the canvas */
        double phase = sc_rng_uniform(rng) * 2 * M_PI;
        double wob = 0.15 * sc_rng_uniform(rng);
        double ct = cos(theta), st = sin(theta);
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                double u = (x * ct + y * st) / S, q = (-x * st + y * ct) / S;
                double v = 0.5 + 0.5 * sin(2 * M_PI * freq * u + phase +
                                           wob * 2 * M_PI * sin(2 * M_PI * q));
                for (int k = 0; k < 3; k++)
                    out[k * plane + (size_t)y * S + x] = to_u8(lo[k] + (hi[k] - lo[k]) * v);
            }
    }
    int oy = (int)sc_rng_below(rng, (uint64_t)(S - h + 1));
    int ox = (int)sc_rng_below(rng, (uint64_t)(S - w + 1));
    size_t iplane = (size_t)h * w;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t p = (size_t)y * w + x;
            int fg = 0;
            for (int k = 0; k < rc->in_c; k++)
                fg |= in[k * iplane + p] != 0;
            if (!fg)
                continue;
            size_t q = (size_t)(oy + y) * S + ox + x;
            for (int k = 0; k < 3; k++)
                out[k * plane + q] = in[(rc->in_c >= 3 ? k : 0) * iplane + p];
        }
}

/* Side of a square that is `n` pixels on a 28-pixel image, scaled to `h`. */
static int scaled_side(int n, int h)
{
    int s = (int)lround((double)n * h / 28.0);
    return s < 1 ? 1 : s > h ? h : s;
}

/* SpuCo's background colour: attribute a's colour where every channel of
 * the source pixel is exactly 0, inside the difficulty's mask. */
static void render_spuco(const sc_render_ctx *rc, const uint8_t *in, uint8_t *out, int attr,
                         sc_rng *rng)
{
    int H = rc->out_h, W = rc->out_w;
    size_t plane = (size_t)H * W;
    for (size_t p = 0; p < plane; p++)
        for (int k = 0; k < 3; k++)
            out[k * plane + p] = in[(rc->in_c >= 3 ? k : 0) * plane + p];
    float rgb[3];
    sc_attr_color(attr, rc->num_attrs, rgb);
    uint8_t col[3] = {to_u8(rgb[0]), to_u8(rgb[1]), to_u8(rgb[2])};
    /* the mask: all of a top-left region, or pixels drawn from it */
    int side = H < W ? H : W, rh = H, rw = W, draw = 0;
    switch (rc->o->spuco_difficulty) {
    case SC_SPUCO_MAGNITUDE_LARGE: break;
    case SC_SPUCO_MAGNITUDE_MEDIUM: rh = rw = scaled_side(4, side); break;
    case SC_SPUCO_MAGNITUDE_SMALL: rh = rw = scaled_side(2, side); break;
    case SC_SPUCO_VARIANCE_LOW: rh = rw = scaled_side(7, side); break;
    case SC_SPUCO_VARIANCE_MEDIUM: rh = rw = scaled_side(14, side); draw = 1; break;
    case SC_SPUCO_VARIANCE_HIGH: draw = 1; break;
    }
    /* variance levels: as many pixels as a 7x7 square, drawn without
     * repetition (a partial Fisher-Yates over the region) */
    int region = rh * rw, take = region;
    int32_t *pick = NULL;
    if (draw) {
        int n7 = scaled_side(7, side);
        take = n7 * n7 < region ? n7 * n7 : region;
        pick = malloc(sizeof *pick * (size_t)region);
        if (!pick)
            take = 0; /* out of memory: paint nothing rather than fail a build thread */
        for (int i = 0; pick && i < region; i++)
            pick[i] = i;
        for (int i = 0; pick && i < take; i++) {
            int k = i + (int)sc_rng_below(rng, (uint64_t)(region - i));
            int32_t t = pick[i];
            pick[i] = pick[k];
            pick[k] = t;
        }
    }
    for (int i = 0; i < take; i++) {
        int q = pick ? pick[i] : i;
        size_t p = (size_t)(q / rw) * W + (size_t)(q % rw);
        if (out[p] || out[plane + p] || out[2 * plane + p])
            continue;
        for (int k = 0; k < 3; k++)
            out[k * plane + p] = col[k];
    }
    free(pick);
}

sc_status sc_render_sample(const sc_render_ctx *rc, const uint8_t *in, uint8_t *out, int label,
                           int attr, int split, sc_rng *rng)
{
    (void)label;
    const sc_build_opts *o = rc->o;
    int clean_test = o->test_clean && split == SC_SPLIT_TEST;
    size_t in_bytes = (size_t)rc->in_c * rc->in_h * rc->in_w;
    switch (o->variant) {
    case SC_VARIANT_NONE:
        memcpy(out, in, in_bytes);
        return SC_OK;
    case SC_VARIANT_PATCH:
        memcpy(out, in, in_bytes);
        render_patch(rc, out, attr, !clean_test);
        return SC_OK;
    case SC_VARIANT_COLOR:
        render_color(rc, in, out, attr, !clean_test, rng);
        return SC_OK;
    case SC_VARIANT_CORRUPT: {
        memcpy(out, in, in_bytes);
        const sc_corruption *items;
        int len = sc_corruption_list_items(o->corruptions, &items);
        return sc_corrupt_image(items[attr % len], o->severity, out, rc->out_c, rc->out_h,
                                rc->out_w, rng);
    }
    case SC_VARIANT_BACKGROUND:
        render_background(rc, in, out, attr, rng);
        return SC_OK;
    case SC_VARIANT_SPUCO:
        render_spuco(rc, in, out, attr, rng);
        return SC_OK;
    }
    return sc_error_set(SC_ERR_INVALID_ARG, "unknown variant %d", (int)o->variant);
}

uint64_t sc_render_scratch_bytes(const sc_render_ctx *rc)
{
    const sc_build_opts *o = rc->o;
    uint64_t hw = (uint64_t)rc->out_h * rc->out_w;
    switch (o->variant) {
    case SC_VARIANT_CORRUPT: {
        /* sc_corrupt_image: the image as floats and four planes of scratch;
         * fog adds two power-of-two plasma maps of doubles */
        uint64_t bytes = sizeof(float) * ((uint64_t)rc->out_c * hw + 4 * hw);
        const sc_corruption *items;
        int len = sc_corruption_list_items(o->corruptions, &items);
        for (int i = 0; i < len; i++)
            if (items[i] == SC_CORRUPT_FOG) {
                uint64_t n = 2;
                while (n < (uint64_t)rc->out_h || n < (uint64_t)rc->out_w)
                    n *= 2;
                bytes += 2 * sizeof(double) * n * n;
            }
        return bytes;
    }
    case SC_VARIANT_SPUCO:
        return sizeof(int32_t) * hw; /* the pixels drawn from */
    default:
        return 0;
    }
}
