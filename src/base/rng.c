/* xoshiro256** (Blackman and Vigna), seeded with splitmix64. */
#include "spurcl/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void sc_rng_seed(sc_rng *rng, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&x);
}

void sc_rng_seed_stream(sc_rng *rng, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed;
    uint64_t mixed = splitmix64(&x) ^ (stream * 0xD1B54A32D192ED03ull);
    sc_rng_seed(rng, mixed);
}

uint64_t sc_rng_u64(sc_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double sc_rng_uniform(sc_rng *rng)
{
    return (double)(sc_rng_u64(rng) >> 11) * 0x1.0p-53;
}

uint64_t sc_rng_below(sc_rng *rng, uint64_t n)
{
    /* Rejection on the top of the range: unbiased and portable. */
    uint64_t limit = UINT64_MAX - (UINT64_MAX % n);
    uint64_t x;
    do {
        x = sc_rng_u64(rng);
    } while (x >= limit);
    return x % n;
}

double sc_rng_normal(sc_rng *rng)
{
    double u, v, s;
    do {
        u = 2.0 * sc_rng_uniform(rng) - 1.0;
        v = 2.0 * sc_rng_uniform(rng) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    return u * sqrt(-2.0 * log(s) / s);
}

uint64_t sc_rng_poisson(sc_rng *rng, double lambda)
{
    if (!(lambda > 0.0))
        return 0;
    if (lambda < 30.0) {
        /* Knuth: multiply uniforms until below exp(-lambda). */
        double limit = exp(-lambda), p = 1.0;
        uint64_t k = 0;
        do {
            k++;
            p *= sc_rng_uniform(rng);
        } while (p > limit);
        return k - 1;
    }
    /* PTRS (Hormann 1993): transformed rejection, exact for large lambda. */
    double slam = sqrt(lambda), loglam = log(lambda);
    double b = 0.931 + 2.53 * slam;
    double a = -0.059 + 0.02483 * b;
    double invalpha = 1.1239 + 1.1328 / (b - 3.4);
    double vr = 0.9277 - 3.6224 / (b - 2.0);
    for (;;) {
        double u = sc_rng_uniform(rng) - 0.5;
        double v = sc_rng_uniform(rng);
        double us = 0.5 - fabs(u);
        double k = floor((2.0 * a / us + b) * u + lambda + 0.43);
        if (us >= 0.07 && v <= vr)
            return (uint64_t)k;
        if (k < 0.0 || (us < 0.013 && v > us))
            continue;
        if (log(v) + log(invalpha) - log(a / (us * us) + b) <=
            -lambda + k * loglam - lgamma(k + 1.0))
            return (uint64_t)k;
    }
}

void sc_rng_shuffle_u32(sc_rng *rng, uint32_t *idx, uint64_t n)
{
    for (uint64_t i = n; i > 1; i--) {
        uint64_t j = sc_rng_below(rng, i);
        uint32_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}
