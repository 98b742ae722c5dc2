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

int es_ed25519_decode_key_vartime(es_ge_p3 *A, const uint8_t pk[32])
{
    if (es_ge_frombytes_vartime(A, pk) != 0)
        return -1;
    if (es_ge_is_small_order_vartime(A))
        return -1;
    return 0;
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

int es_ed25519_verify_vartime(const uint8_t *public_key, const uint8_t *msg, size_t msg_len,
                              const uint8_t *signature)
{
    es_ge_p3 A, R;
    uint8_t k[32];
    if (public_key == NULL || signature == NULL || (msg == NULL && msg_len != 0))
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

/* Prepared key layout: the 32-byte encoding (hashed into k) then the decoded
 * point. memcpy in and out keeps alignment out of the caller's concerns. */
size_t es_ed25519_prepared_size(void)
{
    return 32 + sizeof(es_ge_p3);
}

int es_ed25519_prepare_key_vartime(const uint8_t *public_key, uint8_t *prepared)
{
    es_ge_p3 A;
    if (public_key == NULL || prepared == NULL)
        return -1;
    if (es_ed25519_decode_key_vartime(&A, public_key) != 0)
        return -1;
    memcpy(prepared, public_key, 32);
    memcpy(prepared + 32, &A, sizeof A);
    return 0;
}

int es_ed25519_verify_prepared_vartime(const uint8_t *prepared, const uint8_t *msg,
                                       size_t msg_len, const uint8_t *signature)
{
    es_ge_p3 A, R;
    uint8_t k[32];
    if (prepared == NULL || signature == NULL || (msg == NULL && msg_len != 0))
        return -1;
    if (!es_sc_is_canonical(signature + 32))
        return -1;
    if (es_ge_frombytes_vartime(&R, signature) != 0)
        return -1;
    memcpy(&A, prepared + 32, sizeof A);
    es_ed25519_challenge(k, signature, prepared, msg, msg_len);
    return es_ed25519_check_decoded_vartime(&A, &R, signature + 32, k);
}
