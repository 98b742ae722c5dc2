/* Vector kernels of the Ed25519 core (x86-64 with AVX-512 IFMA), declared once.
 *
 * Each kernel does one layer's work (field exponentiations, Pippenger's bucket
 * phase) and is reached only through the dispatch table (ed25519_dispatch.c);
 * the layers themselves take a kernel pointer or NULL and never ask which CPU
 * they run on. The SHA-512 kernel is declared in es_sha512.h.
 */
#ifndef ES_ED25519_SIMD_H
#define ES_ED25519_SIMD_H

#include <stddef.h>
#include <stdint.h>

#include "ed25519_internal.h"

#if !defined(ES_FE25) && defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define ES_HAVE_ED25519_IFMA 1
/* ed25519_fe51_ifma.c: out[i] = in[i]^(2^252 - 3) for sixteen elements. */
void es_fe51_pow22523_x16_ifma(es_fe out[16], const es_fe in[16]);
/* ed25519_msm_ifma.c: the bucket phase and window sums of Pippenger, eight
 * windows per pass (es_msm_buckets_fn). */
int es_msm_buckets_ifma(es_ge_p3 *out, const es_ge_niels *pts, const int16_t *digits, size_t m,
                        size_t windows, int c, void *scratch);
#endif

#endif
