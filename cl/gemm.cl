/* The project's own GEMM: 16x16 tiles in local memory, one C element per
 * work-item, batch along dimension 2. Row-major; ta/tb transpose A/B.
 * Host side: src/core/gemm.c (the GEMM provider interface). */
#define TS 16

__kernel __attribute__((reqd_work_group_size(TS, TS, 1)))
void sc_gemm_tiled(uint ta, uint tb, uint m, uint n, uint k, float alpha,
                   __global const float *A, uint ao, uint lda, uint as,
                   __global const float *B, uint bo, uint ldb, uint bs, float beta,
                   __global float *C, uint co, uint ldc, uint cs)
{
    __local float At[TS][TS + 1];
    __local float Bt[TS][TS + 1];
    uint col = (uint)get_global_id(0), row = (uint)get_global_id(1), b = (uint)get_global_id(2);
    uint lx = (uint)get_local_id(0), ly = (uint)get_local_id(1);
    A += ao + b * as;
    B += bo + b * bs;
    C += co + b * cs;
    float acc = 0.0f;
    for (uint t = 0; t < k; t += TS) {
        /* A tile: rows of this group x k-slice; B tile: k-slice x columns. */
        uint ar = (uint)get_group_id(1) * TS + ly, ak = t + lx;
        At[ly][lx] = (ar < m && ak < k) ? (ta ? A[ak * lda + ar] : A[ar * lda + ak]) : 0.0f;
        uint bk = t + ly, bc = (uint)get_group_id(0) * TS + lx;
        Bt[ly][lx] = (bk < k && bc < n) ? (tb ? B[bc * ldb + bk] : B[bk * ldb + bc]) : 0.0f;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (uint q = 0; q < TS; q++)
            acc = fma(At[ly][q], Bt[q][lx], acc);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (row < m && col < n) {
        float prev = beta != 0.0f ? beta * C[row * ldc + col] : 0.0f;
        C[row * ldc + col] = alpha * acc + prev;
    }
}
