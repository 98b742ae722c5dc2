/* SHA-512 (FIPS 180-4), portable C.
 *
 * Used by the Ed25519 verifier for k = SHA-512(R || A || M) (RFC 8032 5.1.7)
 * and exposed to Python as native.sha512(). Only public data is hashed here.
 */
#ifndef ES_SHA512_H
#define ES_SHA512_H

#include <stddef.h>
#include <stdint.h>

/* ES_CDEF_BEGIN */
/* One-shot digest: out receives 64 bytes. Returns 0, or -1 if a pointer is
 * NULL while its length is non-zero. */
int es_sha512(const uint8_t *data, size_t len, uint8_t *out);
/* ES_CDEF_END */

/* Incremental interface used inside the C core (not exported to Python). */
typedef struct {
    uint64_t h[8];
    uint8_t buf[128];
    size_t buf_len;     /* bytes waiting in buf, always < 128 */
    uint64_t total_len; /* bytes hashed so far; 2^64 bytes is far beyond any input here */
} es_sha512_ctx;

void es_sha512_init(es_sha512_ctx *ctx);
void es_sha512_update(es_sha512_ctx *ctx, const uint8_t *data, size_t len);
void es_sha512_final(es_sha512_ctx *ctx, uint8_t out[64]);

/* Eight digests of prefix[j] || msg[j] at once. Returns 0, or -1 if the
 * kernel cannot do the work (the AVX-512F one always can: it allocates
 * nothing). */
typedef int (*es_sha512_x8_fn)(uint8_t out[8][64], const uint8_t *const prefix[8],
                               const size_t prefix_len[8], const uint8_t *const msg[8],
                               const size_t msg_len[8]);
/* The AVX-512F kernel (x86-64 only); the Ed25519 dispatcher hands it out only
 * on a CPU that has AVX-512F. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define ES_HAVE_SHA512_X8 1
int es_sha512_x8_avx512(uint8_t out[8][64], const uint8_t *const prefix[8],
                        const size_t prefix_len[8], const uint8_t *const msg[8],
                        const size_t msg_len[8]);
#endif

#endif
