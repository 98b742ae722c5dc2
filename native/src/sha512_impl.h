/* Private to the SHA-512 implementations: what the portable and vector code share. */
#ifndef ES_SHA512_IMPL_H
#define ES_SHA512_IMPL_H

#include <stdint.h>

/* FIPS 180-4 4.2.3 round constants, defined once in sha512_portable.c. */
extern const uint64_t es_sha512_round_constants[80];

#endif
