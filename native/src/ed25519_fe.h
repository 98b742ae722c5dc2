/* Field arithmetic mod p = 2^255 - 19: the representation is chosen here.
 *
 * Two representations share one interface (es_fe, es_fe_*):
 *   ed25519_fe51.h  five 51-bit limbs, 64x64->128-bit products (needs
 *                   unsigned __int128: x86-64, aarch64, riscv64 with GCC/Clang)
 *   ed25519_fe25.h  ten limbs alternating 26 and 25 bits ("radix 2^25.5"),
 *                   32x32->64-bit products, for targets without __int128.
 * Define ES_FE25 to force the 10-limb field on a 64-bit host (the test suite
 * does so, so that both representations are exercised everywhere).
 *
 * The small hot operations are static inline so the point formulas compile
 * into straight-line code; the long exponentiation chains live in
 * ed25519_field.c. Everything here is variable-time-safe to use only on
 * public data (verification); no secret ever reaches this code.
 */
#ifndef ES_ED25519_FE_H
#define ES_ED25519_FE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if !defined(ES_FE25) && !defined(__SIZEOF_INT128__)
#define ES_FE25 1
#endif

#ifdef ES_FE25
#include "ed25519_fe25.h"
#else
#include "ed25519_fe51.h"
#endif

/* Constants of edwards25519 (RFC 8032 5.1), in the active representation. */
extern const es_fe es_fe_d;      /* d = -121665/121666 */
extern const es_fe es_fe_d2;     /* 2d */
extern const es_fe es_fe_sqrtm1; /* sqrt(-1) = 2^((p-1)/4) */

/* Canonical 32-byte little-endian encoding (fully reduced, bit 255 clear).
 * Pre: limbs within the "loose" bound of the representation. */
void es_fe_tobytes(uint8_t out[32], const es_fe *f);
/* Decodes 255 bits; bit 255 is ignored (it is the sign of x in points).
 * Values in [p, 2^255) are accepted here; callers that must reject
 * non-canonical encodings check es_fe_bytes_canonical first. */
void es_fe_frombytes(es_fe *h, const uint8_t in[32]);

/* 1 if the low 255 bits of s encode an integer < p, 0 otherwise. */
int es_fe_bytes_canonical(const uint8_t s[32]);
/* out = z^(2^252 - 3) = z^((p-5)/8), used by the square root. */
void es_fe_pow22523(es_fe *out, const es_fe *z);
/* A kernel computing out[i] = in[i]^(2^252 - 3) for sixteen elements at once
 * (a vector variant; see ed25519_dispatch.h). */
typedef void (*es_fe_pow22523_x16_fn)(es_fe out[16], const es_fe in[16]);
/* out[i] = in[i]^(2^252 - 3) for i < n: sixteen at a time with x16 when it is
 * not NULL, the portable code for the rest. */
void es_fe_pow22523_many(es_fe *out, const es_fe *in, size_t n, es_fe_pow22523_x16_fn x16);
/* out = 1/z = z^(p-2); out = 0 if z = 0. */
void es_fe_invert(es_fe *out, const es_fe *z);
/* 1 if f == 0 mod p (vartime). */
int es_fe_is_zero_vartime(const es_fe *f);
/* 1 if f == g mod p (vartime). */
int es_fe_equal_vartime(const es_fe *f, const es_fe *g);
/* Low bit of the canonical encoding ("negative" in RFC 8032 terms). */
int es_fe_is_negative(const es_fe *f);

#endif
