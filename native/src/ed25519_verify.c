/* Single-signature verification (RFC 8032 5.1.7 with the cofactored
 * equation, see docs/verification-policy.md). */
#include <string.h>

#include "es_ed25519.h"
#include "es_sha512.h"
#include "ed25519_internal.h"

void es_ed25519_challenge(uint8_t k[32], const uint8_t R[32], const uint8_t A[32],
                          const uint8_t *msg, size_t msg_len)
{
    es_sha512_ctx ctx;
    uint8_t h[64];
    es_sha512_init(&ctx);
    es_sha512_update(&ctx, R, 32);
    es_sha512_update(&ctx, A, 32);
    if (msg_len)
        es_sha512_update(&ctx, msg, msg_len);
    es_sha512_final(&ctx, h);
    es_sc_reduce64(k, h);
}

/* The canonical encodings of the eight points of order dividing 8: the
 * identity (0, 1), (0, -1), (+-sqrt(-1), 0) and the four points of order 8.
 * Computed from the curve definition as the multiples of a point of order 8
 * (tests/native/c/test_ed25519.c checks [8]P = O for each, and that a decoded
 * point has small order exactly when its encoding is listed). Non-canonical
 * encodings of these points never get this far: decoding rejects them. */
/* clang-format off: one encoding, 32 bytes, per two lines */
static const uint8_t SMALL_ORDER_ENCODINGS[8][32] = {
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
     0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
     0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
     0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
     0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80},
    {0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
     0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
     0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
    {0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4,
     0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6,
     0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05},
    {0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4,
     0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6,
     0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x85},
    {0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b,
     0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39,
     0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a},
    {0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b,
     0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39,
     0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0xfa},
    {0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
};
/* clang-format on */

int es_ed25519_small_order_encoding(const uint8_t s[32])
{
    for (int i = 0; i < 8; i++)
        if (memcmp(s, SMALL_ORDER_ENCODINGS[i], 32) == 0)
            return 1;
    return 0;
}

/* Rule 4 as a table lookup (a few comparisons instead of three doublings),
 * then rule 3 by decoding. */
int es_ed25519_decode_key_vartime(es_ge_p3 *A, const uint8_t pk[32])
{
    if (es_ed25519_small_order_encoding(pk))
        return -1;
    return es_ge_frombytes_vartime(A, pk) == 0 ? 0 : -1;
}

/* [8]([S]B - [k]A - R) == O with every input already decoded and checked. */
int es_ed25519_check_decoded_vartime(const es_ge_p3 *A, const es_ge_p3 *R, const uint8_t S[32],
                                     const uint8_t k[32])
{
    es_ge_p3 negA, P, Q;
    es_ge_neg(&negA, A);
    es_double_scalarmult_base_vartime(&P, k, &negA, S); /* [S]B - [k]A */
    es_ge_neg(&Q, R);
    es_ge_add_p3(&P, &P, &Q);
    es_ge_mul8(&P, &P);
    return es_ge_is_identity_vartime(&P) ? 0 : -1;
}

int es_ed25519_verify_vartime(const uint8_t *public_key, size_t public_key_len, const uint8_t *msg,
                              size_t msg_len, const uint8_t *signature, size_t signature_len)
{
    es_ge_p3 A, R;
    uint8_t k[32];
    if (public_key == NULL || public_key_len != 32 || signature == NULL || signature_len != 64 ||
        (msg == NULL && msg_len != 0))
        return -1;
    if (!es_sc_is_canonical(signature + 32))
        return -1;
    if (es_ed25519_decode_key_vartime(&A, public_key) != 0)
        return -1;
    if (es_ge_frombytes_vartime(&R, signature) != 0)
        return -1;
    es_ed25519_challenge(k, signature, public_key, msg, msg_len);
    return es_ed25519_check_decoded_vartime(&A, &R, signature + 32, k);
}

/* Prepared key layout: the key's encoding (hashed into k), then the
 * canonical encoding of the x coordinate of its point. */
#define PREPARED_SIZE 64

size_t es_ed25519_prepared_size(void)
{
    return PREPARED_SIZE;
}

int es_ed25519_prepare_key_vartime(const uint8_t *public_key, size_t public_key_len,
                                   uint8_t *prepared, size_t prepared_len)
{
    es_ge_p3 A;
    if (public_key == NULL || public_key_len != 32 || prepared == NULL ||
        prepared_len != PREPARED_SIZE)
        return -1;
    if (es_ed25519_decode_key_vartime(&A, public_key) != 0)
        return -1;
    memcpy(prepared, public_key, 32);
    es_fe_tobytes(prepared + 32, &A.X); /* Z = 1 after decoding */
    return 0;
}

/* The point of a prepared key, accepted only if it is exactly what decoding
 * the key would give (RFC 8032 5.1.3): y from the key (canonical), x
 * canonical with the key's sign bit, the curve equation
 * -x^2 + y^2 = 1 + d x^2 y^2 (RFC 8032 5.1) holding, and the key not of
 * small order. Given y, the equation leaves x and -x, and the sign bit picks
 * one, so no square root is needed to check what one would have found. */
static int load_prepared_vartime(es_ge_p3 *A, const uint8_t prepared[PREPARED_SIZE])
{
    const uint8_t *enc = prepared, *x_enc = prepared + 32;
    if (!es_fe_bytes_canonical(enc) || !es_fe_bytes_canonical(x_enc) || (x_enc[31] & 0x80) ||
        es_ed25519_small_order_encoding(enc))
        return -1;
    es_fe x, y, x2, y2, lhs, rhs, one;
    es_fe_frombytes(&y, enc); /* ignores the sign bit */
    es_fe_frombytes(&x, x_enc);
    if (es_fe_is_negative(&x) != (enc[31] >> 7))
        return -1;
    es_fe_sq(&x2, &x);
    es_fe_sq(&y2, &y);
    es_fe_sub(&lhs, &y2, &x2);
    es_fe_mul(&rhs, &x2, &y2);
    es_fe_mul(&rhs, &rhs, &es_fe_d);
    es_fe_1(&one);
    es_fe_add(&rhs, &rhs, &one);
    if (!es_fe_equal_vartime(&lhs, &rhs))
        return -1;
    A->X = x;
    A->Y = y;
    es_fe_1(&A->Z);
    es_fe_mul(&A->T, &x, &y);
    return 0;
}

int es_ed25519_verify_prepared_vartime(const uint8_t *prepared, size_t prepared_len,
                                       const uint8_t *msg, size_t msg_len, const uint8_t *signature,
                                       size_t signature_len)
{
    es_ge_p3 A, R;
    uint8_t k[32];
    if (prepared == NULL || prepared_len != PREPARED_SIZE)
        return -2;
    if (load_prepared_vartime(&A, prepared) != 0)
        return -2;
    if (signature == NULL || signature_len != 64 || (msg == NULL && msg_len != 0))
        return -1;
    if (!es_sc_is_canonical(signature + 32))
        return -1;
    if (es_ge_frombytes_vartime(&R, signature) != 0)
        return -1;
    es_ed25519_challenge(k, signature, prepared, msg, msg_len);
    return es_ed25519_check_decoded_vartime(&A, &R, signature + 32, k);
}
