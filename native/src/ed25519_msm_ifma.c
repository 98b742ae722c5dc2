/* Pippenger's bucket method with AVX-512 IFMA, eight windows at a time.
 *
 * The scalar code (ed25519_msm.c) adds every point into one bucket per
 * window. Here lane l of every vector works on window 8g + l: a point is
 * broadcast to all lanes (negated in the lanes whose digit is negative) and
 * added, in one vector mixed addition, to the bucket its digit selects in
 * each of the eight windows. Different lanes always touch different windows,
 * so their buckets never collide; buckets are fetched and written back with
 * gather/scatter. The running-sum combination of the buckets (the other
 * half of the method) is done the same way, lane = window. Formulas are the
 * ones of ed25519_point.c (HWCD 2008, "madd-2008-hwcd-3" and
 * "add-2008-hwcd-3"); field elements are five 51-bit limbs per lane.
 *
 * Bound kept throughout: every limb fed to a multiplication is < 2^52,
 * because vpmadd52luq/huq read only 52 bits. Sums and differences are
 * therefore carried before use (vec_add, vec_sub), unlike the scalar field.
 */
#include <string.h>

#include "ed25519_simd.h"

#ifdef ES_HAVE_ED25519_IFMA

#include <immintrin.h>

#define IFMA __attribute__((target("avx512f,avx512ifma")))
#define LIMBS_PER_POINT 20 /* X, Y, Z, T, five limbs each */

typedef struct {
    __m512i l[5];
} vfe;

typedef struct {
    vfe X, Y, Z, T;
} vpoint;

/* Carry pass. Pre: limbs < 2^62. Post: limb 0 < 2^51, limb 1 < 2^51 + 2^12,
 * others < 2^51 -- all below 2^52. */
IFMA static inline void vec_carry(vfe *h)
{
    const __m512i mask = _mm512_set1_epi64((long long)ES_FE51_MASK);
    for (int k = 0; k < 4; k++) {
        h->l[k + 1] = _mm512_add_epi64(h->l[k + 1], _mm512_srli_epi64(h->l[k], 51));
        h->l[k] = _mm512_and_si512(h->l[k], mask);
    }
    __m512i top = _mm512_srli_epi64(h->l[4], 51);
    h->l[4] = _mm512_and_si512(h->l[4], mask);
    top = _mm512_add_epi64(_mm512_add_epi64(_mm512_slli_epi64(top, 4), _mm512_slli_epi64(top, 1)),
                           top); /* 19 * top */
    h->l[0] = _mm512_add_epi64(h->l[0], top);
    h->l[1] = _mm512_add_epi64(h->l[1], _mm512_srli_epi64(h->l[0], 51));
    h->l[0] = _mm512_and_si512(h->l[0], mask);
}

IFMA static inline void vec_add(vfe *h, const vfe *f, const vfe *g)
{
    for (int k = 0; k < 5; k++)
        h->l[k] = _mm512_add_epi64(f->l[k], g->l[k]);
    vec_carry(h);
}

/* h = f + 16p - g. Pre: g limbs < 2^54. */
IFMA static inline void vec_sub(vfe *h, const vfe *f, const vfe *g)
{
    const __m512i p16_0 = _mm512_set1_epi64(0x7ffffffffffed0LL);
    const __m512i p16_k = _mm512_set1_epi64(0x7ffffffffffff0LL);
    h->l[0] = _mm512_sub_epi64(_mm512_add_epi64(f->l[0], p16_0), g->l[0]);
    for (int k = 1; k < 5; k++)
        h->l[k] = _mm512_sub_epi64(_mm512_add_epi64(f->l[k], p16_k), g->l[k]);
    vec_carry(h);
}

/* h = f * g; see ed25519_fe51_ifma.c for the column bounds. */
IFMA static inline void vec_mul(vfe *h, const vfe *f, const vfe *g)
{
    const __m512i zero = _mm512_setzero_si512();
    __m512i lo[10], hi[10];
    for (int k = 0; k < 10; k++)
        lo[k] = hi[k] = zero;
    for (int i = 0; i < 5; i++) {
        for (int j = 0; j < 5; j++) {
            lo[i + j] = _mm512_madd52lo_epu64(lo[i + j], f->l[i], g->l[j]);
            hi[i + j + 1] = _mm512_madd52hi_epu64(hi[i + j + 1], f->l[i], g->l[j]);
        }
    }
    vfe c;
    __m512i col[10];
    for (int k = 0; k < 10; k++)
        col[k] = _mm512_add_epi64(lo[k], _mm512_slli_epi64(hi[k], 1));
    for (int k = 0; k < 5; k++) {
        const __m512i x = col[k + 5];
        c.l[k] = _mm512_add_epi64(
            col[k], _mm512_add_epi64(
                        _mm512_add_epi64(_mm512_slli_epi64(x, 4), _mm512_slli_epi64(x, 1)), x));
    }
    vec_carry(&c);
    *h = c;
}

/* Completed point -> extended, as es_ge_p1p1_to_p3. */
IFMA static inline void vec_finish(vpoint *r, const vfe *E, const vfe *F, const vfe *G,
                                   const vfe *H)
{
    vec_mul(&r->X, E, F);
    vec_mul(&r->Y, G, H);
    vec_mul(&r->Z, F, G);
    vec_mul(&r->T, E, H);
}

/* r = p + q with q affine in Niels form (ypx, ymx, t2d): madd-2008-hwcd-3. */
IFMA static inline void vec_madd(vpoint *r, const vpoint *p, const vfe *ypx, const vfe *ymx,
                                 const vfe *t2d)
{
    vfe a, b, c, d, t, E, F, G, H;
    vec_sub(&t, &p->Y, &p->X);
    vec_mul(&a, &t, ymx);
    vec_add(&t, &p->Y, &p->X);
    vec_mul(&b, &t, ypx);
    vec_mul(&c, &p->T, t2d);
    vec_add(&d, &p->Z, &p->Z);
    vec_sub(&E, &b, &a);
    vec_sub(&F, &d, &c);
    vec_add(&G, &d, &c);
    vec_add(&H, &b, &a);
    vec_finish(r, &E, &F, &G, &H);
}

/* r = p + q, both extended: add-2008-hwcd-3 with k = 2d. */
IFMA static inline void vec_add_points(vpoint *r, const vpoint *p, const vpoint *q, const vfe *d2)
{
    vfe ypx, ymx, z2, t2d, a, b, c, d, t, E, F, G, H;
    vec_add(&ypx, &q->Y, &q->X);
    vec_sub(&ymx, &q->Y, &q->X);
    vec_add(&z2, &q->Z, &q->Z);
    vec_mul(&t2d, &q->T, d2);
    vec_sub(&t, &p->Y, &p->X);
    vec_mul(&a, &t, &ymx);
    vec_add(&t, &p->Y, &p->X);
    vec_mul(&b, &t, &ypx);
    vec_mul(&c, &p->T, &t2d);
    vec_mul(&d, &p->Z, &z2);
    vec_sub(&E, &b, &a);
    vec_sub(&F, &d, &c);
    vec_add(&G, &d, &c);
    vec_add(&H, &b, &a);
    vec_finish(r, &E, &F, &G, &H);
}

/* Without optimisation GCC's headers define the gather/scatter intrinsics
 * as macros that pass the all-lanes mask 0xFF to a builtin taking a char:
 * a sign conversion inside the system header's text, not in this code. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-conversion"
IFMA static inline void vec_gather(vpoint *p, const uint64_t *base, __m512i idx)
{
    vfe *coords[4] = {&p->X, &p->Y, &p->Z, &p->T};
    for (int c = 0; c < 4; c++)
        for (int k = 0; k < 5; k++)
            coords[c]->l[k] = _mm512_i64gather_epi64(
                _mm512_add_epi64(idx, _mm512_set1_epi64(5 * c + k)), (const void *)base, 8);
}

IFMA static inline void vec_scatter(uint64_t *base, __m512i idx, const vpoint *p)
{
    const vfe *coords[4] = {&p->X, &p->Y, &p->Z, &p->T};
    for (int c = 0; c < 4; c++)
        for (int k = 0; k < 5; k++)
            _mm512_i64scatter_epi64((void *)base,
                                    _mm512_add_epi64(idx, _mm512_set1_epi64(5 * c + k)),
                                    coords[c]->l[k], 8);
}
#pragma GCC diagnostic pop

IFMA static inline void vec_broadcast(vfe *v, const es_fe *f)
{
    es_fe t = *f;
    es_fe_carry(&t); /* < 2^52 */
    for (int k = 0; k < 5; k++)
        v->l[k] = _mm512_set1_epi64((long long)t.v[k]);
}

IFMA static inline void vec_blend(vfe *r, __mmask8 m, const vfe *a, const vfe *b)
{
    for (int k = 0; k < 5; k++)
        r->l[k] = _mm512_mask_blend_epi64(m, a->l[k], b->l[k]);
}

IFMA static void vec_identity(vpoint *p)
{
    const __m512i zero = _mm512_setzero_si512(), one = _mm512_set1_epi64(1);
    for (int k = 0; k < 5; k++) {
        p->X.l[k] = p->T.l[k] = zero;
        p->Y.l[k] = p->Z.l[k] = k == 0 ? one : zero;
    }
}

/* Lane l of v into a scalar point. */
IFMA static void vec_extract(es_ge_p3 *out, const vpoint *v, int lane)
{
    const vfe *coords[4] = {&v->X, &v->Y, &v->Z, &v->T};
    es_fe *dst[4] = {&out->X, &out->Y, &out->Z, &out->T};
    for (int c = 0; c < 4; c++)
        for (int k = 0; k < 5; k++) {
            uint64_t lanes[8];
            _mm512_storeu_si512((void *)lanes, coords[c]->l[k]);
            dst[c]->v[k] = lanes[lane];
        }
}

/* Bucket phase for one group of up to 8 windows; window_sums[l] receives
 * sum_b (b + 1) * bucket_l[b] for window w0 + l. buckets: scratch of
 * 8 * (nb + 1) points, bucket nb of each window absorbs zero digits. */
IFMA static void group_vartime(es_ge_p3 window_sums[8], uint64_t *buckets, const es_ge_niels *pts,
                               const int16_t *digits, size_t m, size_t windows, size_t w0,
                               size_t nb)
{
    const size_t stride = (nb + 1) * LIMBS_PER_POINT; /* per window */
    /* All buckets start at the identity (0 : 1 : 1 : 0). */
    for (size_t l = 0; l < 8; l++)
        for (size_t b = 0; b <= nb; b++) {
            uint64_t *pt = buckets + l * stride + b * LIMBS_PER_POINT;
            memset(pt, 0, LIMBS_PER_POINT * sizeof *pt);
            pt[5] = pt[10] = 1;
        }
    const long long st = (long long)stride;
    const __m512i lane_base =
        _mm512_set_epi64(7 * st, 6 * st, 5 * st, 4 * st, 3 * st, 2 * st, st, 0);
    for (size_t i = 0; i < m; i++) {
        int64_t slot[8];
        __mmask8 neg = 0;
        int any = 0;
        for (int l = 0; l < 8; l++) {
            const int d = (w0 + (size_t)l < windows) ? digits[windows * i + w0 + (size_t)l] : 0;
            any |= d;
            if (d < 0)
                neg |= (__mmask8)(1u << l);
            slot[l] = (int64_t)((d == 0 ? nb : (size_t)(d > 0 ? d : -d) - 1) * LIMBS_PER_POINT);
        }
        if (!any)
            continue;
        /* -(x, y) = (-x, y): Niels (y+x, y-x, 2dxy) becomes (y-x, y+x, -2dxy). */
        vfe ypx, ymx, t2d, nt2d, qa, qb, qt;
        es_fe neg_t2d;
        vec_broadcast(&ypx, &pts[i].YplusX);
        vec_broadcast(&ymx, &pts[i].YminusX);
        vec_broadcast(&t2d, &pts[i].T2d);
        es_fe_neg(&neg_t2d, &pts[i].T2d);
        vec_broadcast(&nt2d, &neg_t2d);
        vec_blend(&qa, neg, &ypx, &ymx);
        vec_blend(&qb, neg, &ymx, &ypx);
        vec_blend(&qt, neg, &t2d, &nt2d);
        const __m512i idx = _mm512_add_epi64(lane_base, _mm512_loadu_si512((const void *)slot));
        vpoint bucket;
        vec_gather(&bucket, buckets, idx);
        vec_madd(&bucket, &bucket, &qa, &qb, &qt);
        vec_scatter(buckets, idx, &bucket);
    }
    /* Running sums, all eight windows side by side. */
    vfe d2;
    vec_broadcast(&d2, &es_fe_d2);
    vpoint running, sum, bucket;
    vec_identity(&running);
    vec_identity(&sum);
    for (size_t b = nb; b-- > 0;) {
        const __m512i idx =
            _mm512_add_epi64(lane_base, _mm512_set1_epi64((long long)(b * LIMBS_PER_POINT)));
        vec_gather(&bucket, buckets, idx);
        vec_add_points(&running, &running, &bucket, &d2);
        vec_add_points(&sum, &sum, &running, &d2);
    }
    for (int l = 0; l < 8; l++)
        vec_extract(&window_sums[l], &sum, l);
}

IFMA int es_msm_buckets_ifma(es_ge_p3 *out, const es_ge_niels *pts, const int16_t *digits, size_t m,
                             size_t windows, int c, void *scratch)
{
    /* The caller's scratch (es_msm_kernel_scratch_size) counts in points:
     * 8 * (nb + 1) bucket slots of one point each, then 8 window sums per
     * group. */
    _Static_assert(LIMBS_PER_POINT * sizeof(uint64_t) <= sizeof(es_ge_p3),
                   "a bucket slot must fit in the room of one point");
    const size_t nb = (size_t)1 << (c - 1);
    const size_t groups = (windows + 7) / 8;
    uint64_t *buckets = scratch;
    es_ge_p3 *sums = (es_ge_p3 *)scratch + 8 * (nb + 1);
    for (size_t g = 0; g < groups; g++)
        group_vartime(sums + 8 * g, buckets, pts, digits, m, windows, 8 * g, nb);
    /* Horner over the windows: out = sum_w 2^(c w) window_sum[w]. */
    es_ge_p1p1 t;
    es_ge_identity(out);
    for (size_t w = windows; w-- > 0;) {
        if (w != windows - 1) {
            for (int s = 0; s < c; s++) {
                es_ge_dbl(&t, out);
                if (s == c - 1)
                    es_ge_p1p1_to_p3(out, &t);
                else
                    es_ge_p1p1_to_p2(out, &t);
            }
        }
        es_ge_add_p3(out, out, &sums[w]);
    }
    return 0;
}

#endif
