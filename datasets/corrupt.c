/* Image corruptions of the Corrupted CIFAR-10 protocol (Hendrycks and
 * Dietterich's CIFAR-10-C code, the parameters of its 32x32 version), ported
 * to plain C. Images are C x H x W planes of floats in [0, 1]; the result is
 * clipped to [0, 1] and stored back as round(x * 255). Every random draw
 * comes from the caller's sc_rng, in a fixed order.
 *
 * Border handling follows the libraries the reference used: scikit-image's
 * gaussian (mode 'nearest', truncate 4), OpenCV's filter2D and warpAffine
 * (BORDER_REFLECT_101), SciPy's map_coordinates (mode 'reflect'). */
#include "ds_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

static const char *corruption_names[SC_CORRUPT_COUNT] = {
    "gaussian_noise", "shot_noise",   "impulse_noise", "speckle_noise", "gaussian_blur",
    "defocus_blur",   "glass_blur",   "motion_blur",   "zoom_blur",     "none",
    "fog",            "brightness",   "contrast",      "elastic",       "pixelate",
    "saturate",
};

const char *sc_corruption_name(sc_corruption kind)
{
    return (unsigned)kind < SC_CORRUPT_COUNT ? corruption_names[kind] : "?";
}

sc_status sc_corruption_parse(const char *s, sc_corruption *out)
{
    for (int i = 0; i < SC_CORRUPT_COUNT; i++)
        if (!strcmp(s, corruption_names[i])) {
            *out = (sc_corruption)i;
            return SC_OK;
        }
    return sc_error_set(SC_ERR_INVALID_ARG, "unknown corruption '%s'", s);
}

static const sc_corruption type1_list[10] = {
    SC_CORRUPT_GAUSSIAN_NOISE, SC_CORRUPT_SHOT_NOISE,   SC_CORRUPT_IMPULSE_NOISE,
    SC_CORRUPT_SPECKLE_NOISE,  SC_CORRUPT_GAUSSIAN_BLUR, SC_CORRUPT_DEFOCUS_BLUR,
    SC_CORRUPT_GLASS_BLUR,     SC_CORRUPT_MOTION_BLUR,  SC_CORRUPT_ZOOM_BLUR,
    SC_CORRUPT_NONE,
};
static const sc_corruption type0_list[6] = {
    SC_CORRUPT_FOG,     SC_CORRUPT_BRIGHTNESS, SC_CORRUPT_CONTRAST,
    SC_CORRUPT_ELASTIC, SC_CORRUPT_PIXELATE,   SC_CORRUPT_SATURATE,
};

int sc_corruption_list_items(sc_corruption_list list, const sc_corruption **items)
{
    if (list == SC_CORRUPTIONS_TYPE0) {
        *items = type0_list;
        return 6;
    }
    *items = type1_list;
    return 10;
}

/* ---- helpers ------------------------------------------------------------ */

enum { B_NEAREST, B_REFLECT, B_REFLECT101 };

static int bidx(int i, int n, int mode)
{
    if (i >= 0 && i < n)
        return i;
    if (n == 1)
        return 0;
    switch (mode) {
    case B_NEAREST:
        return i < 0 ? 0 : n - 1;
    case B_REFLECT: { /* d c b a | a b c d | d c b a */
        int p = 2 * n;
        int k = i % p;
        if (k < 0)
            k += p;
        return k < n ? k : p - 1 - k;
    }
    default: { /* reflect 101: d c b | a b c d | c b a */
        int p = 2 * n - 2;
        int k = i % p;
        if (k < 0)
            k += p;
        return k < n ? k : p - k;
    }
    }
}

static float clip01(float v) { return v < 0.f ? 0.f : v > 1.f ? 1.f : v; }

/* 1-D Gaussian like scipy.ndimage: radius int(truncate * sigma + 0.5). */
static int gauss_kernel(double sigma, double truncate, double *k, int maxr)
{
    int r = (int)(truncate * sigma + 0.5);
    if (r > maxr)
        r = maxr;
    if (sigma <= 0 || r == 0) {
        k[0] = 1;
        return 0;
    }
    double sum = 0;
    for (int i = -r; i <= r; i++) {
        k[i + r] = exp(-0.5 * i * i / (sigma * sigma));
        sum += k[i + r];
    }
    for (int i = 0; i < 2 * r + 1; i++)
        k[i] /= sum;
    return r;
}

#define MAXR 64

/* Separable Gaussian blur of one H x W plane in place. */
static void blur_plane(float *p, int h, int w, double sigma, double truncate, int mode,
                       float *tmp)
{
    double k[2 * MAXR + 1];
    int r = gauss_kernel(sigma, truncate, k, MAXR);
    if (r == 0)
        return;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double acc = 0;
            for (int j = -r; j <= r; j++)
                acc += k[j + r] * p[y * w + bidx(x + j, w, mode)];
            tmp[y * w + x] = (float)acc;
        }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double acc = 0;
            for (int j = -r; j <= r; j++)
                acc += k[j + r] * tmp[bidx(y + j, h, mode) * w + x];
            p[y * w + x] = (float)acc;
        }
}

/* Bilinear sample of a plane at (y, x) with the given border mode. */
static float bilinear(const float *p, int h, int w, double y, double x, int mode)
{
    double fy = floor(y), fx = floor(x);
    int y0 = (int)fy, x0 = (int)fx;
    double ty = y - fy, tx = x - fx;
    int ya = bidx(y0, h, mode), yb = bidx(y0 + 1, h, mode);
    int xa = bidx(x0, w, mode), xb = bidx(x0 + 1, w, mode);
    double v = (1 - ty) * ((1 - tx) * p[ya * w + xa] + tx * p[ya * w + xb]) +
               ty * ((1 - tx) * p[yb * w + xa] + tx * p[yb * w + xb]);
    return (float)v;
}

static void rgb2hsv(float r, float g, float b, float *h, float *s, float *v)
{
    float mx = fmaxf(r, fmaxf(g, b)), mn = fminf(r, fminf(g, b));
    float d = mx - mn;
    *v = mx;
    *s = mx > 0 ? d / mx : 0;
    if (d <= 0) {
        *h = 0;
        return;
    }
    float hh;
    if (r == mx)
        hh = (g - b) / d;
    else if (g == mx)
        hh = 2.f + (b - r) / d;
    else
        hh = 4.f + (r - g) / d;
    hh /= 6.f;
    hh -= floorf(hh);
    *h = hh;
}

static void hsv2rgb(float h, float s, float v, float *r, float *g, float *b)
{
    float h6 = h * 6.f;
    float fi = floorf(h6);
    float f = h6 - fi;
    int i = ((int)fi % 6 + 6) % 6;
    float p = v * (1 - s), q = v * (1 - f * s), t = v * (1 - (1 - f) * s);
    switch (i) {
    case 0: *r = v; *g = t; *b = p; break;
    case 1: *r = q; *g = v; *b = p; break;
    case 2: *r = p; *g = v; *b = t; break;
    case 3: *r = p; *g = q; *b = v; break;
    case 4: *r = t; *g = p; *b = v; break;
    default: *r = v; *g = p; *b = q; break;
    }
}

/* Area-weighted resampling of one plane (PIL's BOX filter). */
static void box_resize(const float *in, int ih, int iw, float *out, int oh, int ow, float *tmp)
{
    double sy = (double)ih / oh, sx = (double)iw / ow;
    for (int oy = 0; oy < oh; oy++) {
        double y0 = oy * sy, y1 = (oy + 1) * sy;
        for (int x = 0; x < iw; x++) {
            double acc = 0;
            for (int y = (int)y0; y < ih && y < y1; y++) {
                double lo = y > y0 ? y : y0, hi = y + 1 < y1 ? y + 1 : y1;
                acc += (hi - lo) * in[y * iw + x];
            }
            tmp[oy * iw + x] = (float)(acc / sy);
        }
    }
    for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++) {
            double x0 = ox * sx, x1 = (ox + 1) * sx;
            double acc = 0;
            for (int x = (int)x0; x < iw && x < x1; x++) {
                double lo = x > x0 ? x : x0, hi = x + 1 < x1 ? x + 1 : x1;
                acc += (hi - lo) * tmp[oy * iw + x];
            }
            out[oy * ow + ox] = (float)(acc / sx);
        }
}

/* ---- parameter tables (CIFAR-10-C, 32x32) ------------------------------- */

static const double P_GAUSS_NOISE[5] = {0.04, 0.06, 0.08, 0.09, 0.10};
static const double P_SHOT[5] = {500, 250, 100, 75, 50};
static const double P_IMPULSE[5] = {0.01, 0.02, 0.03, 0.05, 0.07};
static const double P_SPECKLE[5] = {0.06, 0.10, 0.12, 0.16, 0.20};
static const double P_GAUSS_BLUR[5] = {0.4, 0.6, 0.7, 0.8, 1.0};
static const double P_DEFOCUS[5][2] = {{0.3, 0.4}, {0.4, 0.5}, {0.5, 0.6}, {1, 0.2}, {1.5, 0.1}};
static const double P_GLASS[5][3] = {{0.05, 1, 1}, {0.25, 1, 1}, {0.4, 1, 1}, {0.25, 1, 2},
                                     {0.4, 1, 2}};
static const double P_MOTION[5][2] = {{6, 1}, {6, 1.5}, {6, 2}, {8, 2}, {9, 2.5}};
static const double P_ZOOM[5] = {1.06, 1.11, 1.16, 1.21, 1.26};
static const double P_FOG[5][2] = {{0.2, 3}, {0.5, 3}, {0.75, 2.5}, {1, 2}, {1.5, 1.75}};
static const double P_BRIGHT[5] = {0.05, 0.1, 0.15, 0.2, 0.3};
static const double P_CONTRAST[5] = {0.75, 0.5, 0.4, 0.3, 0.15};
static const double P_PIXELATE[5] = {0.95, 0.9, 0.85, 0.75, 0.65};
static const double P_SATURATE[5][2] = {{0.3, 0}, {0.1, 0}, {1.5, 0}, {2, 0.1}, {2.5, 0.2}};
static const double P_ELASTIC[5][3] = {{0, 0, 0.08},       {0.05, 0.2, 0.07},
                                       {0.08, 0.06, 0.06}, {0.1, 0.04, 0.05},
                                       {0.1, 0.03, 0.03}};

/* ---- corruptions -------------------------------------------------------- */

typedef struct img_f {
    float *x;   /* c planes of h * w */
    int c, h, w;
    float *tmp; /* scratch: h * w * 4 floats */
} img_f;

#define PX(IM, CH, Y, X) ((IM)->x[((size_t)(CH) * (IM)->h + (Y)) * (IM)->w + (X)])

static void c_gaussian_noise(img_f *im, int s, sc_rng *rng)
{
    size_t n = (size_t)im->c * im->h * im->w;
    for (size_t i = 0; i < n; i++)
        im->x[i] += (float)(P_GAUSS_NOISE[s] * sc_rng_normal(rng));
}

static void c_shot_noise(img_f *im, int s, sc_rng *rng)
{
    size_t n = (size_t)im->c * im->h * im->w;
    double c = P_SHOT[s];
    for (size_t i = 0; i < n; i++)
        im->x[i] = (float)((double)sc_rng_poisson(rng, clip01(im->x[i]) * c) / c);
}

static void c_impulse_noise(img_f *im, int s, sc_rng *rng)
{
    size_t n = (size_t)im->c * im->h * im->w;
    double amount = P_IMPULSE[s];
    for (size_t i = 0; i < n; i++)
        if (sc_rng_uniform(rng) < amount)
            im->x[i] = sc_rng_uniform(rng) < 0.5 ? 1.f : 0.f;
}

static void c_speckle_noise(img_f *im, int s, sc_rng *rng)
{
    size_t n = (size_t)im->c * im->h * im->w;
    for (size_t i = 0; i < n; i++)
        im->x[i] += (float)(im->x[i] * P_SPECKLE[s] * sc_rng_normal(rng));
}

static void c_gaussian_blur(img_f *im, int s)
{
    for (int ch = 0; ch < im->c; ch++)
        blur_plane(&PX(im, ch, 0, 0), im->h, im->w, P_GAUSS_BLUR[s], 4.0, B_NEAREST, im->tmp);
}

static void c_defocus_blur(img_f *im, int s)
{
    /* disk(radius, alias_blur): a 17x17 aliased disk, normalised, then a 3x3
     * Gaussian (cv2.GaussianBlur, reflect-101 border) to anti-alias. */
    enum { L = 8, N = 2 * L + 1 };
    double radius = P_DEFOCUS[s][0], alias = P_DEFOCUS[s][1];
    double disk[N][N], k2[N][N], sum = 0;
    for (int y = 0; y < N; y++)
        for (int x = 0; x < N; x++) {
            int dy = y - L, dx = x - L;
            disk[y][x] = (dx * dx + dy * dy) <= radius * radius ? 1.0 : 0.0;
            sum += disk[y][x];
        }
    for (int y = 0; y < N; y++)
        for (int x = 0; x < N; x++)
            disk[y][x] /= sum;
    double g[3];
    {
        double t = 0;
        for (int i = 0; i < 3; i++) {
            g[i] = exp(-((i - 1) * (i - 1)) / (2 * alias * alias));
            t += g[i];
        }
        for (int i = 0; i < 3; i++)
            g[i] /= t;
    }
    double tmpk[N][N];
    for (int y = 0; y < N; y++)
        for (int x = 0; x < N; x++) {
            double a = 0;
            for (int j = -1; j <= 1; j++)
                a += g[j + 1] * disk[y][bidx(x + j, N, B_REFLECT101)];
            tmpk[y][x] = a;
        }
    for (int y = 0; y < N; y++)
        for (int x = 0; x < N; x++) {
            double a = 0;
            for (int j = -1; j <= 1; j++)
                a += g[j + 1] * tmpk[bidx(y + j, N, B_REFLECT101)][x];
            k2[y][x] = a;
        }
    /* Crop to the support (values that are not negligible). */
    int r = 0;
    for (int y = 0; y < N; y++)
        for (int x = 0; x < N; x++)
            if (k2[y][x] > 1e-12) {
                int ry = abs(y - L), rx = abs(x - L);
                if (ry > r)
                    r = ry;
                if (rx > r)
                    r = rx;
            }
    int H = im->h, W = im->w;
    for (int ch = 0; ch < im->c; ch++) {
        float *p = &PX(im, ch, 0, 0);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                double a = 0;
                for (int dy = -r; dy <= r; dy++) {
                    int yy = bidx(y + dy, H, B_REFLECT101);
                    for (int dx = -r; dx <= r; dx++)
                        a += k2[dy + L][dx + L] * p[yy * W + bidx(x + dx, W, B_REFLECT101)];
                }
                im->tmp[y * W + x] = (float)a;
            }
        memcpy(p, im->tmp, sizeof(float) * (size_t)H * W);
    }
}

static void c_glass_blur(img_f *im, int s, sc_rng *rng)
{
    /* The reference: x = uint8(gaussian(x, sigma) * 255) (truncating), a
     * local shuffle swapping pixel (y, x) with (y + dy, x + dx), dx, dy
     * uniform in [-d, d - 1] (numpy's randint), scanning y and x from n - d
     * down to d + 1, `iterations` times, then gaussian(x / 255, sigma). */
    double sigma = P_GLASS[s][0];
    int d = (int)P_GLASS[s][1], iters = (int)P_GLASS[s][2];
    int H = im->h, W = im->w, C = im->c;
    size_t n = (size_t)C * H * W, plane = (size_t)H * W;
    for (int ch = 0; ch < C; ch++)
        blur_plane(&PX(im, ch, 0, 0), H, W, sigma, 4.0, B_NEAREST, im->tmp);
    for (size_t i = 0; i < n; i++)
        im->x[i] = floorf(clip01(im->x[i]) * 255.f) / 255.f;
    for (int it = 0; it < iters; it++)
        for (int y = H - d; y > d; y--)
            for (int x = W - d; x > d; x--) {
                int ddx = (int)sc_rng_below(rng, (uint64_t)(2 * d)) - d;
                int ddy = (int)sc_rng_below(rng, (uint64_t)(2 * d)) - d;
                int y2 = y + ddy, x2 = x + ddx;
                if (y2 < 0 || y2 >= H || x2 < 0 || x2 >= W)
                    continue;
                for (int ch = 0; ch < C; ch++) {
                    float *p = im->x + ch * plane;
                    float t = p[y * W + x];
                    p[y * W + x] = p[y2 * W + x2];
                    p[y2 * W + x2] = t;
                }
            }
    for (int ch = 0; ch < C; ch++)
        blur_plane(&PX(im, ch, 0, 0), H, W, sigma, 4.0, B_NEAREST, im->tmp);
}

static void c_motion_blur(img_f *im, int s, sc_rng *rng)
{
    int radius = (int)P_MOTION[s][0];
    double sigma = P_MOTION[s][1];
    double angle = (sc_rng_uniform(rng) * 90.0 - 45.0) * M_PI / 180.0;
    int width = 2 * radius + 1;
    double k[64], sum = 0;
    for (int i = 0; i < width; i++) {
        k[i] = exp(-(double)(i * i) / (2 * sigma * sigma));
        sum += k[i];
    }
    int H = im->h, W = im->w;
    double sa = sin(angle), ca = cos(angle);
    for (int ch = 0; ch < im->c; ch++) {
        float *p = &PX(im, ch, 0, 0);
        float *acc = im->tmp;
        memset(acc, 0, sizeof(float) * (size_t)H * W);
        for (int i = 0; i < width; i++) {
            /* As the asset-free reference (imagecorruptions' _motion_blur):
             * integer shifts along the angle, edge pixels repeated. */
            int dy = -(int)ceil(i * sa - 0.5);
            int dx = -(int)ceil(i * ca - 0.5);
            if (abs(dy) >= H || abs(dx) >= W)
                break;
            float wgt = (float)(k[i] / sum);
            for (int y = 0; y < H; y++) {
                int yy = bidx(y - dy, H, B_NEAREST);
                for (int x = 0; x < W; x++)
                    acc[y * W + x] += wgt * p[yy * W + bidx(x - dx, W, B_NEAREST)];
            }
        }
        memcpy(p, acc, sizeof(float) * (size_t)H * W);
    }
}

static void c_zoom_blur(img_f *im, int s)
{
    int H = im->h, W = im->w;
    int nz = (int)lround((P_ZOOM[s] - 1.0) / 0.01) + 1; /* 1.00 .. max inclusive */
    size_t plane = (size_t)H * W;
    float *acc = im->tmp;
    for (int ch = 0; ch < im->c; ch++) {
        float *p = &PX(im, ch, 0, 0);
        for (size_t i = 0; i < plane; i++)
            acc[i] = p[i];
        for (int zi = 0; zi < nz; zi++) {
            double z = 1.0 + 0.01 * zi;
            /* clipped_zoom: central crop of ceil(n / z), zoomed (order 1,
             * scipy's corner-aligned grid) to round(crop * z), centre-trimmed. */
            int chh = (int)ceil(H / z), cww = (int)ceil(W / z);
            int top = (H - chh) / 2, left = (W - cww) / 2;
            int zh = (int)lround(chh * z), zw = (int)lround(cww * z);
            int tt = (zh - H) / 2, tl = (zw - W) / 2;
            double fy = zh > 1 ? (double)(chh - 1) / (zh - 1) : 0;
            double fx = zw > 1 ? (double)(cww - 1) / (zw - 1) : 0;
            for (int y = 0; y < H; y++) {
                double sy = top + (y + tt) * fy;
                for (int x = 0; x < W; x++) {
                    double sx = left + (x + tl) * fx;
                    acc[y * W + x] += bilinear(p, H, W, sy, sx, B_NEAREST);
                }
            }
        }
        for (size_t i = 0; i < plane; i++)
            p[i] = acc[i] / (float)(nz + 1);
    }
}

/* plasma_fractal(mapsize, wibbledecay) of the reference (diamond-square on a
 * torus), normalised to [0, 1]. */
static void plasma(double *map, int n, double decay, sc_rng *rng)
{
    memset(map, 0, sizeof(double) * (size_t)n * n);
    double wibble = 100;
    int step = n;
    double *t1 = malloc(sizeof(double) * (size_t)n * n);
    if (!t1)
        return;
#define M(y, x) map[(size_t)(y) * n + (x)]
    while (step >= 2) {
        int h = step / 2, m = n / step;
        /* fillsquares */
        for (int i = 0; i < m; i++)
            for (int j = 0; j < m; j++) {
                int i1 = (i + 1) % m, j1 = (j + 1) % m;
                double sq = M(i * step, j * step) + M(i1 * step, j * step) +
                            M(i * step, j1 * step) + M(i1 * step, j1 * step);
                t1[i * m + j] = sq;
            }
        for (int i = 0; i < m; i++)
            for (int j = 0; j < m; j++)
                M(h + i * step, h + j * step) =
                    t1[i * m + j] / 4 + wibble * (sc_rng_uniform(rng) * 2 * wibble - wibble);
        /* filldiamonds: dr = map[h::step, h::step], ul = map[0::step, 0::step] */
        for (int i = 0; i < m; i++)
            for (int j = 0; j < m; j++) {
                int im1 = (i - 1 + m) % m, j1 = (j + 1) % m;
                t1[i * m + j] = M(h + i * step, h + j * step) + M(h + im1 * step, h + j * step) +
                                M(i * step, j * step) + M(i * step, j1 * step);
            }
        for (int i = 0; i < m; i++)
            for (int j = 0; j < m; j++)
                M(i * step, h + j * step) =
                    t1[i * m + j] / 4 + wibble * (sc_rng_uniform(rng) * 2 * wibble - wibble);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < m; j++) {
                int jm1 = (j - 1 + m) % m, i1 = (i + 1) % m;
                t1[i * m + j] = M(h + i * step, h + j * step) + M(h + i * step, h + jm1 * step) +
                                M(i * step, j * step) + M(i1 * step, j * step);
            }
        for (int i = 0; i < m; i++)
            for (int j = 0; j < m; j++)
                M(h + i * step, j * step) =
                    t1[i * m + j] / 4 + wibble * (sc_rng_uniform(rng) * 2 * wibble - wibble);
        step /= 2;
        wibble /= decay;
    }
#undef M
    free(t1);
    double mn = map[0], mx;
    for (size_t i = 0; i < (size_t)n * n; i++)
        if (map[i] < mn)
            mn = map[i];
    mx = 0;
    for (size_t i = 0; i < (size_t)n * n; i++) {
        map[i] -= mn;
        if (map[i] > mx)
            mx = map[i];
    }
    if (mx > 0)
        for (size_t i = 0; i < (size_t)n * n; i++)
            map[i] /= mx;
}

static void c_fog(img_f *im, int s, sc_rng *rng)
{
    int H = im->h, W = im->w;
    int n = 2;
    while (n < H || n < W)
        n *= 2;
    double *map = malloc(sizeof(double) * (size_t)n * n);
    if (!map)
        return;
    plasma(map, n, P_FOG[s][1], rng);
    float mx = 0;
    size_t total = (size_t)im->c * H * W;
    for (size_t i = 0; i < total; i++)
        if (im->x[i] > mx)
            mx = im->x[i];
    float c0 = (float)P_FOG[s][0];
    for (int ch = 0; ch < im->c; ch++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                float v = PX(im, ch, y, x) + c0 * (float)map[(size_t)y * n + x];
                PX(im, ch, y, x) = v * mx / (mx + c0);
            }
    free(map);
}

static void c_brightness(img_f *im, int s)
{
    float c = (float)P_BRIGHT[s];
    size_t plane = (size_t)im->h * im->w;
    if (im->c != 3) {
        for (size_t i = 0; i < plane * im->c; i++)
            im->x[i] = clip01(im->x[i] + c);
        return;
    }
    for (size_t i = 0; i < plane; i++) {
        float h, sat, v;
        rgb2hsv(clip01(im->x[i]), clip01(im->x[plane + i]), clip01(im->x[2 * plane + i]), &h,
                &sat, &v);
        v = clip01(v + c);
        hsv2rgb(h, sat, v, &im->x[i], &im->x[plane + i], &im->x[2 * plane + i]);
    }
}

static void c_saturate(img_f *im, int s)
{
    if (im->c != 3)
        return; /* no saturation in a grey image */
    size_t plane = (size_t)im->h * im->w;
    for (size_t i = 0; i < plane; i++) {
        float h, sat, v;
        rgb2hsv(clip01(im->x[i]), clip01(im->x[plane + i]), clip01(im->x[2 * plane + i]), &h,
                &sat, &v);
        sat = clip01(sat * (float)P_SATURATE[s][0] + (float)P_SATURATE[s][1]);
        hsv2rgb(h, sat, v, &im->x[i], &im->x[plane + i], &im->x[2 * plane + i]);
    }
}

static void c_contrast(img_f *im, int s)
{
    float c = (float)P_CONTRAST[s];
    size_t plane = (size_t)im->h * im->w;
    for (int ch = 0; ch < im->c; ch++) {
        float *p = im->x + ch * plane;
        double m = 0;
        for (size_t i = 0; i < plane; i++)
            m += p[i];
        m /= (double)plane;
        for (size_t i = 0; i < plane; i++)
            p[i] = (float)((p[i] - m) * c + m);
    }
}

static void c_pixelate(img_f *im, int s)
{
    int H = im->h, W = im->w;
    int lh = (int)floor(H * P_PIXELATE[s]), lw = (int)floor(W * P_PIXELATE[s]);
    if (lh < 1)
        lh = 1;
    if (lw < 1)
        lw = 1;
    float *low = im->tmp + (size_t)2 * H * W; /* lh*lw <= H*W */
    float *t = im->tmp;                       /* lh * W */
    for (int ch = 0; ch < im->c; ch++) {
        float *p = &PX(im, ch, 0, 0);
        box_resize(p, H, W, low, lh, lw, t);
        /* Back up with nearest neighbour: constant blocks. */
        for (int y = 0; y < H; y++) {
            int ly = (int)((y + 0.5) * lh / H);
            for (int x = 0; x < W; x++) {
                int lx = (int)((x + 0.5) * lw / W);
                p[y * W + x] = low[ly * lw + lx];
            }
        }
    }
}

/* Solves the 2x3 affine map taking src[i] to dst[i] (cv2.getAffineTransform). */
static int affine3(double src[3][2], double dst[3][2], double m[2][3])
{
    double a = src[0][0], b = src[0][1], c = src[1][0], d = src[1][1], e = src[2][0],
           f = src[2][1];
    double det = a * (d - f) - b * (c - e) + (c * f - d * e);
    if (fabs(det) < 1e-12)
        return 0;
    for (int r = 0; r < 2; r++) {
        double u0 = dst[0][r], u1 = dst[1][r], u2 = dst[2][r];
        /* Cramer's rule on [x y 1] * [m0 m1 m2]^T = u */
        m[r][0] = (u0 * (d - f) - b * (u1 - u2) + (u1 * f - d * u2)) / det;
        m[r][1] = (a * (u1 - u2) - u0 * (c - e) + (c * u2 - u1 * e)) / det;
        m[r][2] = (a * (d * u2 - u1 * f) - b * (c * u2 - u1 * e) + u0 * (c * f - d * e)) / det;
    }
    return 1;
}

static void c_elastic(img_f *im, int s, sc_rng *rng)
{
    int H = im->h, W = im->w;
    double size = W;
    double alpha = P_ELASTIC[s][0] * size, sigma = P_ELASTIC[s][1] * size,
           aff = P_ELASTIC[s][2] * size;
    size_t plane = (size_t)H * W;
    /* Random affine: three points around the centre, each moved by
     * U(-aff, aff) per coordinate (points are (x, y) as cv2 reads them). */
    double cx = floor(H / 2.0), cy = floor(W / 2.0);
    double sq = (H < W ? H : W) / 3;
    double p1[3][2] = {{cx + sq, cy + sq}, {cx + sq, cy - sq}, {cx - sq, cy - sq}};
    double p2[3][2];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 2; j++)
            p2[i][j] = p1[i][j] + (sc_rng_uniform(rng) * 2 - 1) * aff;
    double m[2][3];
    float *warped = im->tmp, *dx = im->tmp + plane, *dy = im->tmp + 2 * plane,
          *scratch = im->tmp + 3 * plane;
    /* dst(p) = src(M^-1 p): invert M. */
    double inv[2][3] = {{1, 0, 0}, {0, 1, 0}};
    int ok = affine3(p1, p2, m);
    if (ok) {
        double det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
        if (fabs(det) < 1e-12)
            ok = 0;
        else {
            inv[0][0] = m[1][1] / det;
            inv[0][1] = -m[0][1] / det;
            inv[1][0] = -m[1][0] / det;
            inv[1][1] = m[0][0] / det;
            inv[0][2] = -(inv[0][0] * m[0][2] + inv[0][1] * m[1][2]);
            inv[1][2] = -(inv[1][0] * m[0][2] + inv[1][1] * m[1][2]);
        }
    }
    /* Displacement fields: U(-1, 1), Gaussian (mode reflect, truncate 3),
     * times alpha. Drawn even when alpha is 0, to keep the stream fixed. */
    for (size_t i = 0; i < plane; i++)
        dx[i] = (float)(sc_rng_uniform(rng) * 2 - 1);
    for (size_t i = 0; i < plane; i++)
        dy[i] = (float)(sc_rng_uniform(rng) * 2 - 1);
    blur_plane(dx, H, W, sigma, 3.0, B_REFLECT, scratch);
    blur_plane(dy, H, W, sigma, 3.0, B_REFLECT, scratch);
    for (size_t i = 0; i < plane; i++) {
        dx[i] = (float)(dx[i] * alpha);
        dy[i] = (float)(dy[i] * alpha);
    }
    for (int ch = 0; ch < im->c; ch++) {
        float *p = &PX(im, ch, 0, 0);
        if (ok) {
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) {
                    double sx = inv[0][0] * x + inv[0][1] * y + inv[0][2];
                    double sy = inv[1][0] * x + inv[1][1] * y + inv[1][2];
                    warped[y * W + x] = bilinear(p, H, W, sy, sx, B_REFLECT101);
                }
        } else {
            memcpy(warped, p, sizeof(float) * plane);
        }
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                p[y * W + x] = bilinear(warped, H, W, y + dy[y * W + x], x + dx[y * W + x],
                                        B_REFLECT);
    }
}

sc_status sc_corrupt_image(sc_corruption kind, int severity, uint8_t *img, int c, int h, int w,
                           sc_rng *rng)
{
    if ((unsigned)kind >= SC_CORRUPT_COUNT)
        return sc_error_set(SC_ERR_INVALID_ARG, "unknown corruption %d", (int)kind);
    if (severity < 1 || severity > 5)
        return sc_error_set(SC_ERR_INVALID_ARG, "severity must be in 1..5, not %d", severity);
    if (c < 1 || c > 4 || h < 1 || w < 1 || h > 4096 || w > 4096)
        return sc_error_set(SC_ERR_INVALID_ARG, "invalid image size %dx%dx%d", c, h, w);
    if (kind == SC_CORRUPT_NONE)
        return SC_OK;
    size_t n = (size_t)c * h * w;
    img_f im = {malloc(sizeof(float) * n), c, h, w, malloc(sizeof(float) * (size_t)h * w * 4)};
    if (!im.x || !im.tmp) {
        free(im.x);
        free(im.tmp);
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        im.x[i] = img[i] / 255.f;
    int s = severity - 1;
    switch (kind) {
    case SC_CORRUPT_GAUSSIAN_NOISE: c_gaussian_noise(&im, s, rng); break;
    case SC_CORRUPT_SHOT_NOISE: c_shot_noise(&im, s, rng); break;
    case SC_CORRUPT_IMPULSE_NOISE: c_impulse_noise(&im, s, rng); break;
    case SC_CORRUPT_SPECKLE_NOISE: c_speckle_noise(&im, s, rng); break;
    case SC_CORRUPT_GAUSSIAN_BLUR: c_gaussian_blur(&im, s); break;
    case SC_CORRUPT_DEFOCUS_BLUR: c_defocus_blur(&im, s); break;
    case SC_CORRUPT_GLASS_BLUR: c_glass_blur(&im, s, rng); break;
    case SC_CORRUPT_MOTION_BLUR: c_motion_blur(&im, s, rng); break;
    case SC_CORRUPT_ZOOM_BLUR: c_zoom_blur(&im, s); break;
    case SC_CORRUPT_FOG: c_fog(&im, s, rng); break;
    case SC_CORRUPT_BRIGHTNESS: c_brightness(&im, s); break;
    case SC_CORRUPT_CONTRAST: c_contrast(&im, s); break;
    case SC_CORRUPT_ELASTIC: c_elastic(&im, s, rng); break;
    case SC_CORRUPT_PIXELATE: c_pixelate(&im, s); break;
    case SC_CORRUPT_SATURATE: c_saturate(&im, s); break;
    default: break;
    }
    for (size_t i = 0; i < n; i++)
        img[i] = (uint8_t)lrintf(clip01(im.x[i]) * 255.f);
    free(im.x);
    free(im.tmp);
    return SC_OK;
}
