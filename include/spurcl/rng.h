/* spurcl: a small, portable, seeded random generator (xoshiro256**,
 * seeded through splitmix64). The same seed gives the same stream on every
 * machine, which makes data set builds and training runs reproducible.
 * The state is a plain struct so it can be saved in checkpoints. */
#ifndef SPURCL_RNG_H
#define SPURCL_RNG_H

#include "spurcl/api.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sc_rng {
    uint64_t s[4];
} sc_rng;

SC_API void sc_rng_seed(sc_rng *rng, uint64_t seed);
/* An independent stream derived from (seed, stream), e.g. per sample. */
SC_API void sc_rng_seed_stream(sc_rng *rng, uint64_t seed, uint64_t stream);
SC_API uint64_t sc_rng_u64(sc_rng *rng);
/* Uniform in [0, 1) with 53 random bits. */
SC_API double sc_rng_uniform(sc_rng *rng);
/* Uniform integer in [0, n) without modulo bias; n > 0. */
SC_API uint64_t sc_rng_below(sc_rng *rng, uint64_t n);
/* Standard normal (Marsaglia polar method; no cached spare, so the stream
 * position depends only on the number of calls). */
SC_API double sc_rng_normal(sc_rng *rng);
/* Poisson-distributed count with mean `lambda` >= 0. */
SC_API uint64_t sc_rng_poisson(sc_rng *rng, double lambda);
/* Fisher-Yates shuffle of n indices. */
SC_API void sc_rng_shuffle_u32(sc_rng *rng, uint32_t *idx, uint64_t n);

#ifdef __cplusplus
}
#endif
#endif
