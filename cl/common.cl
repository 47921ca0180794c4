/* Prepended to every spurcl kernel family. OpenCL C 1.2.
 * SC_WG (the host's work-group size for 1-D kernels, a power of two) is
 * passed by the host with -D. */
#ifndef SC_WG
#define SC_WG 256
#endif

/* Grid-stride loop over [0, n). */
#define SC_FOR_EACH(i, n) \
    for (uint i = (uint)get_global_id(0); i < (n); i += (uint)get_global_size(0))

/* Deterministic tree reduction of one value per work-item in local memory
 * `buf` (SC_WG floats), combining with OP(a, b). Result in buf[0]. */
#define SC_LOCAL_REDUCE(buf, lid, OP)                                  \
    do {                                                               \
        barrier(CLK_LOCAL_MEM_FENCE);                                  \
        for (uint s_ = SC_WG / 2; s_ > 0; s_ >>= 1) {                  \
            if ((lid) < s_)                                            \
                (buf)[lid] = OP((buf)[lid], (buf)[(lid) + s_]);        \
            barrier(CLK_LOCAL_MEM_FENCE);                              \
        }                                                              \
    } while (0)

#define SC_OP_SUM(a, b) ((a) + (b))
#define SC_OP_MAX(a, b) fmax((a), (b))
