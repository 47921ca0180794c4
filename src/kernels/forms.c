/* The one host file of this layer without a cl/ file of its own: which
 * form of each kernel family runs on a context (sc_context_form), tuning
 * the tunable ones (gemm in core/gemm.c, conv_layout in conv.c, norm in
 * norm.c; the choices and their cache are core/forms.c's) when due. */
#include "core/gemm.h"
#include "kernels/kernels.h"

sc_status sc_context_form(sc_context *ctx, const char *family, sc_form_info *out)
{
    sc_form_family fam;
    SC_TRY(sc_form_family_of(family, &fam));
    switch (fam) {
    case SC_FAMILY_GEMM: (void)sc_gemm_provider_for(ctx); break;
    case SC_FAMILY_CONV_LAYOUT: (void)sc_k_conv_layout_rows(ctx); break;
    case SC_FAMILY_NORM: (void)sc_k_norm_slices_form(ctx); break;
    default: break; /* decided by a rule, per call where it depends on the shape */
    }
    SC_TRY(sc_form_describe(ctx, fam, out));
    if (!out->form && fam == SC_FAMILY_ATTENTION)
        out->form = "composed"; /* the fused kernels only when forced */
    else if (!out->form && fam == SC_FAMILY_BLAS_THREADS)
        out->form = "all"; /* OpenBLAS's own thread count */
    return SC_OK;
}
