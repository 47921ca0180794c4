/* Self-supervised augmentation of a whole batch (include/spurcl/ssl.h):
 * random resized crop (bilinear, align_corners = false, reads clamped to the
 * crop box), horizontal flip, brightness and contrast jitter, Gaussian
 * noise. One work-item per output element; the per-view parameters are
 * drawn on the host from seeded streams and the noise comes from a
 * counter-based hash of the view's key and the element index, so the result
 * does not depend on the grid or the device's scheduling.
 *
 * Built with -DSC_AC=, -DSC_AH=, -DSC_AW= (channels, height, width).
 * params: 8 floats per view: y0, x0, ch, cw, flip, brightness, contrast,
 * mean; keys: 2 uints per view (low, high word of the 64-bit noise key).
 * Host side: src/kernels/augment.c (sc_augment_apply). */
#pragma OPENCL FP_CONTRACT OFF

#define SC_PLANE (SC_AH * SC_AW)
#define SC_IMG (SC_AC * SC_PLANE)

/* splitmix64's finaliser of key + (ctr + 1) * golden ratio */
inline ulong sc_aug_mix(ulong key, ulong ctr)
{
    ulong z = key + (ctr + 1ul) * 0x9E3779B97F4A7C15ul;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ul;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBul;
    return z ^ (z >> 31);
}

/* out[v * n + i] = augment(images[i], params[v * n + i]) for v in {0, 1} */
__kernel void sc_augment_views(__global float *out, __global const float *images,
                               __global const float *params, __global const uint *keys,
                               uint n, float noise_std)
{
    uint total = 2u * n * (uint)SC_IMG;
    SC_FOR_EACH(idx, total) {
        uint view = idx / (uint)SC_IMG;          /* v * n + i */
        uint e = idx - view * (uint)SC_IMG;      /* element inside the image */
        uint c = e / (uint)SC_PLANE;
        uint pix = e - c * (uint)SC_PLANE;
        uint oy = pix / (uint)SC_AW, ox = pix - oy * (uint)SC_AW;
        uint src = view < n ? view : view - n;
        __global const float *p = params + (size_t)view * 8u;
        float y0 = p[0], x0 = p[1], ch = p[2], cw = p[3];
        if (p[4] != 0.0f)
            ox = (uint)SC_AW - 1u - ox;
        /* source coordinate of the output pixel centre, clamped into the box */
        float sy = y0 + ((float)oy + 0.5f) * (ch / (float)SC_AH) - 0.5f;
        float sx = x0 + ((float)ox + 0.5f) * (cw / (float)SC_AW) - 0.5f;
        float ylast = y0 + ch - 1.0f, xlast = x0 + cw - 1.0f;
        sy = clamp(sy, y0, ylast);
        sx = clamp(sx, x0, xlast);
        float fy0 = floor(sy), fx0 = floor(sx);
        float wy = sy - fy0, wx = sx - fx0;
        int iy0 = (int)fy0, ix0 = (int)fx0;
        int iy1 = (int)fmin(fy0 + 1.0f, ylast), ix1 = (int)fmin(fx0 + 1.0f, xlast);
        __global const float *img = images + (size_t)src * SC_IMG + (size_t)c * SC_PLANE;
        float a = img[iy0 * SC_AW + ix0], b = img[iy0 * SC_AW + ix1];
        float cc = img[iy1 * SC_AW + ix0], d = img[iy1 * SC_AW + ix1];
        float top = a + wx * (b - a), bot = cc + wx * (d - cc);
        float val = top + wy * (bot - top);
        /* brightness, then contrast: torchvision's blend c x + (1 - c) m with
         * the (brightened) box mean m; exact for factors of 1 */
        val = clamp(val * p[5], 0.0f, 1.0f);
        float cf = p[6];
        val = clamp(cf * val + (1.0f - cf) * p[7], 0.0f, 1.0f);
        if (noise_std > 0.0f) {
            ulong key = (ulong)keys[2u * view] | ((ulong)keys[2u * view + 1u] << 32);
            ulong h = sc_aug_mix(key, (ulong)e);
            float u1 = ((float)(uint)(h >> 40) + 0.5f) * (1.0f / 16777216.0f);
            float u2 = (float)(uint)(h & 0xFFFFFFul) * (1.0f / 16777216.0f);
            float z = sqrt(-2.0f * log(u1)) * cos(6.283185307179586f * u2);
            val = clamp(val + noise_std * z, 0.0f, 1.0f);
        }
        out[idx] = val;
    }
}
