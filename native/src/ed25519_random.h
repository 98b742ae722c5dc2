/* Operating-system randomness for the batch verifier's coefficients
 * (ed25519_random.c). Kept apart from the arithmetic so that the one place
 * that talks to the kernel is small enough to read at a glance, and so that a
 * port to another OS changes one file. */
#ifndef ES_ED25519_RANDOM_H
#define ES_ED25519_RANDOM_H

#include <stddef.h>
#include <stdint.h>

/* Fills buf with len bytes from the OS CSPRNG. Returns 0, or -1 if no source
 * of randomness answered (then buf must not be used). */
int es_os_random_bytes(uint8_t *buf, size_t len);

#endif
