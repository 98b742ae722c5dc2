/* Run-time choice of the Ed25519 core's vector kernels (ed25519_dispatch.c).
 *
 * A variant is a set of kernels, one per layer that has one; NULL means that
 * layer runs its portable code. The batch entry point takes the active table
 * once per call and hands each layer its own kernel, so no layer reads CPU
 * features or the environment, and tests run any variant side by side with
 * es_ed25519_impl_of().
 */
#ifndef ES_ED25519_DISPATCH_H
#define ES_ED25519_DISPATCH_H

#include "ed25519_internal.h"
#include "es_sha512.h"

typedef enum {
    ES_ED25519_PORTABLE = 0,
    ES_ED25519_AVX512F,    /* challenge hashes eight at a time */
    ES_ED25519_AVX512IFMA, /* and decoding and Pippenger with 52-bit multiply-adds */
    ES_ED25519_VARIANT_COUNT
} es_ed25519_variant;

typedef struct {
    const char *name;
    es_fe_pow22523_x16_fn fe_pow22523_x16; /* field: decoding's exponentiations */
    es_msm_buckets_fn msm_buckets;         /* multi-scalar multiplication */
    es_sha512_x8_fn sha512_x8;             /* challenges k = SHA-512(R || A || M) */
} es_ed25519_impl;

/* The table chosen once (CPU features, then EDGESEAL_ED25519) for this process. */
const es_ed25519_impl *es_ed25519_active_impl(void);
/* The table of a given variant, or NULL if this CPU or build cannot run it
 * (the test hook: tests compare every runnable variant with the portable one). */
const es_ed25519_impl *es_ed25519_impl_of(es_ed25519_variant variant);

#endif
