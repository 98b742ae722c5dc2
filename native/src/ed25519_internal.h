/* Internal interfaces of the Ed25519 verifier, layer by layer:
 *   field (ed25519_fe.h) -> points (ed25519_point.c) -> scalars mod L
 *   (ed25519_scalar.c) -> multi-scalar multiplication (ed25519_msm.c) ->
 *   single verification (ed25519_verify.c) and batches (ed25519_batch.c).
 * Nothing here is exported from the shared library (-fvisibility=hidden);
 * the public entry points are declared in es_ed25519.h.
 * Every routine handles public data only and may run in variable time; the
 * ones whose timing depends on their inputs carry "vartime" in their name.
 */
#ifndef ES_ED25519_INTERNAL_H
#define ES_ED25519_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "ed25519_fe.h"

/* ---- points of edwards25519: -x^2 + y^2 = 1 + d x^2 y^2 (RFC 8032 5.1) ---- */

/* Extended coordinates (Hisil, Wong, Carter, Dawson, "Twisted Edwards Curves
 * Revisited", ASIACRYPT 2008, section 3): x = X/Z, y = Y/Z, x*y = T/Z. */
typedef struct {
    es_fe X, Y, Z, T;
} es_ge_p3;

/* "Completed" point ((E:G), (H:F)) produced by add/double before the final
 * four multiplications: X = E*F, Y = G*H, Z = F*G, T = E*H. */
typedef struct {
    es_fe E, F, G, H;
} es_ge_p1p1;

/* Addition operand with the per-point products precomputed:
 * (Y + X, Y - X, 2Z, 2d*T) -- HWCD 2008 "add-2008-hwcd-3" with k = 2d. */
typedef struct {
    es_fe YplusX, YminusX, Z2, T2d;
} es_ge_cached;

/* Same for an affine point (Z = 1): (y + x, y - x, 2d*x*y); one multiply
 * cheaper per addition ("madd-2008-hwcd-3"). */
typedef struct {
    es_fe YplusX, YminusX, T2d;
} es_ge_niels;

extern const es_ge_p3 es_ge_base; /* B of RFC 8032 5.1, y = 4/5, x even */
/* [1]B, [3]B, ..., [127]B (ed25519_basetable.c, generated). */
extern const es_ge_niels es_ge_base_odd_multiples[64];

void es_ge_identity(es_ge_p3 *h);
/* RFC 8032 5.1.3 decoding. Returns 0, or -1 if s is not a canonical
 * encoding (y >= p, or x = 0 with the sign bit set) or not on the curve.
 * The result has Z = 1. */
int es_ge_frombytes_vartime(es_ge_p3 *h, const uint8_t s[32]);
void es_ge_tobytes(uint8_t s[32], const es_ge_p3 *h);

/* Decoding in two halves around the exponentiation w^((p-5)/8), for
 * batches (see es_fe_pow22523_many): begin checks the encoding is canonical
 * and computes w; end takes w^((p-5)/8) and finishes (curve membership and
 * sign rules). Both return 0 or -1 like es_ge_frombytes_vartime. */
typedef struct {
    es_fe y, u, v, v3, w;
    int sign;
} es_ge_decompress_state;
int es_ge_decompress_begin_vartime(es_ge_decompress_state *st, const uint8_t s[32]);
int es_ge_decompress_end_vartime(es_ge_p3 *h, const es_ge_decompress_state *st, const es_fe *w_pow);

void es_ge_to_cached(es_ge_cached *c, const es_ge_p3 *p);
/* Pre: p->Z == 1 (as produced by es_ge_frombytes_vartime or normalisation). */
void es_ge_affine_to_niels(es_ge_niels *n, const es_ge_p3 *p);
void es_ge_add(es_ge_p1p1 *r, const es_ge_p3 *p, const es_ge_cached *q);
void es_ge_sub(es_ge_p1p1 *r, const es_ge_p3 *p, const es_ge_cached *q);
void es_ge_madd(es_ge_p1p1 *r, const es_ge_p3 *p, const es_ge_niels *q);
void es_ge_msub(es_ge_p1p1 *r, const es_ge_p3 *p, const es_ge_niels *q);
/* Doubling reads only X, Y, Z of p. */
void es_ge_dbl(es_ge_p1p1 *r, const es_ge_p3 *p);
void es_ge_p1p1_to_p3(es_ge_p3 *r, const es_ge_p1p1 *p);
/* Skips T (one multiply) when the result only feeds a doubling. */
void es_ge_p1p1_to_p2(es_ge_p3 *r, const es_ge_p1p1 *p);
void es_ge_neg(es_ge_p3 *r, const es_ge_p3 *p);
/* r = p + q with both in extended coordinates (convenience, 9M). */
void es_ge_add_p3(es_ge_p3 *r, const es_ge_p3 *p, const es_ge_p3 *q);
void es_ge_mul8(es_ge_p3 *r, const es_ge_p3 *p);
int es_ge_is_identity_vartime(const es_ge_p3 *p);
/* 1 if [8]p is the identity (p is in the 8-torsion subgroup). */
int es_ge_is_small_order_vartime(const es_ge_p3 *p);

/* ---- scalars modulo L = 2^252 + 27742317777372353535851937790883648493 ----
 * All scalars are 32-byte little-endian strings; outputs are < L. */
/* 1 if s < L (RFC 8032 5.1.7 requires this of S). */
int es_sc_is_canonical(const uint8_t s[32]);
void es_sc_reduce64(uint8_t out[32], const uint8_t in[64]);
void es_sc_mul(uint8_t out[32], const uint8_t a[32], const uint8_t b[32]);
/* Pre: a, b < L. */
void es_sc_add(uint8_t out[32], const uint8_t a[32], const uint8_t b[32]);
/* out = -a mod L. Pre: a < L. */
void es_sc_neg(uint8_t out[32], const uint8_t a[32]);

/* Unreduced sums of products z * a (z < 2^128, a < 2^256), for batches. */
typedef struct {
    uint32_t v[16];
} es_sc_wide;
void es_sc_mul128_wide(uint32_t out[12], const uint8_t z[16], const uint8_t a[32]);
void es_sc_wide_zero(es_sc_wide *acc);
void es_sc_wide_add(es_sc_wide *acc, const uint32_t x[12]);
/* out = acc mod L. */
void es_sc_wide_reduce(uint8_t out[32], const es_sc_wide *acc);

/* ---- multi-scalar multiplication ----
 * Scratch memory handed in by the caller, so that a caller making many
 * multiplications (a batch's sub-batch equations) allocates once for all of
 * them. base: es_msm_scratch_size() bytes for the largest n that will be
 * passed, any alignment malloc gives.
 */
typedef struct {
    void *base;
    size_t size;
} es_msm_scratch;

/* Bytes of scratch a kernel below needs for the given windows and c:
 * (8 * (2^(c-1) + 1) + 8 * ceil(windows / 8)) points (es_ge_p3), see
 * es_msm_kernel_scratch_size in ed25519_msm.c. */
size_t es_msm_kernel_scratch_size(size_t windows, int c);

/* A kernel for the bucket phase of Pippenger's method on affine points (a
 * vector variant, see ed25519_dispatch.h): given the Niels forms of m points
 * and their signed radix-2^c digits (windows per point, point i's digits at
 * digits[windows * i]), out = sum_i sum_w digit_{i,w} 2^(c w) P_i. It works
 * on eight windows per pass, in scratch of es_msm_kernel_scratch_size(windows,
 * c) bytes (aligned to 64) and allocates nothing. Returns 0. */
typedef int (*es_msm_buckets_fn)(es_ge_p3 *out, const es_ge_niels *pts, const int16_t *digits,
                                 size_t m, size_t windows, int c, void *scratch);

/* Bytes of scratch es_msm_vartime needs for any call with at most max_terms
 * terms and this kernel (or NULL), whatever the scalars; SIZE_MAX if that
 * does not fit in a size_t. */
size_t es_msm_scratch_size(size_t max_terms, es_msm_buckets_fn buckets);
/* out = sum scalars[i] * points[i], scalars are 32-byte little-endian
 * integers < 2^253 (not necessarily reduced). buckets: a kernel for large
 * multiplications of affine points, or NULL for the portable code.
 * scratch: es_msm_scratch_size(n or more, buckets) bytes, or NULL to have
 * this call allocate its own.
 * Returns 0, or -1 if scratch is too small or cannot be allocated. */
int es_msm_vartime(es_ge_p3 *out, const uint8_t *scalars, const es_ge_p3 *points, size_t n,
                   es_msm_buckets_fn buckets, const es_msm_scratch *scratch);
/* Pippenger with a given window width c (4..15), for tests of every width. */
int es_msm_pippenger_c_vartime(es_ge_p3 *out, const uint8_t *scalars, const es_ge_p3 *points,
                               size_t n, int c, es_msm_buckets_fn buckets);
/* out = a*A + b*B with B the base point (a, b < 2^253). */
void es_double_scalarmult_base_vartime(es_ge_p3 *out, const uint8_t a[32], const es_ge_p3 *A,
                                       const uint8_t b[32]);

/* ---- verification helpers shared by single and batch paths ---- */
/* k = SHA-512(R || A || M) mod L (RFC 8032 5.1.7 step 2). */
void es_ed25519_challenge(uint8_t k[32], const uint8_t R[32], const uint8_t A[32],
                          const uint8_t *msg, size_t msg_len);
/* 1 if s is the canonical encoding of a point of order dividing 8. */
int es_ed25519_small_order_encoding(const uint8_t s[32]);
/* Decodes and validates a public key: canonical, on the curve, not of small
 * order. Returns 0 or -1. */
int es_ed25519_decode_key_vartime(es_ge_p3 *A, const uint8_t pk[32]);
/* Work done by one batch call, for tests of the bisection's cost (counting
 * work, not time). single_checks: single-signature equations evaluated;
 * msm_checks / msm_terms: sub-batch equations after the first (whole-batch)
 * one, and their multi-scalar multiplication terms. */
typedef struct {
    size_t single_checks, msm_checks, msm_terms;
} es_ed25519_batch_work;
/* es_ed25519_verify_batch_vartime, also adding the work done to *work if not NULL. */
int es_ed25519_verify_batch_counted_vartime(const uint8_t *keys, size_t keys_len,
                                            const uint8_t *signatures, size_t signatures_len,
                                            const uint8_t *messages, size_t messages_len,
                                            const size_t *offsets, size_t n, uint8_t *verdicts,
                                            es_ed25519_batch_work *work);
/* 0 iff [8]([S]B - [k]A - R) is the identity; inputs already decoded/checked. */
int es_ed25519_check_decoded_vartime(const es_ge_p3 *A, const es_ge_p3 *R, const uint8_t S[32],
                                     const uint8_t k[32]);

#endif
