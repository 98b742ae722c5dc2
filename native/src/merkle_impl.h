/* Internal helpers shared by the Merkle files; the public API is es_merkle.h. */
#ifndef ES_MERKLE_IMPL_H
#define ES_MERKLE_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "es_merkle.h"

/* Largest power of two strictly smaller than n; n must be >= 2. */
static inline uint64_t es_merkle_split(uint64_t n) {
    return (uint64_t)1 << (63 - __builtin_clzll(n - 1));
}

/* Scratch bytes es_merkle_subtree_root needs for count leaves, or 0 on overflow. */
size_t es_merkle_scratch_len(size_t count);

/*
 * MTH of count packed leaves (offsets already validated) using the caller's scratch
 * of es_merkle_scratch_len(count) bytes, so repeated subtree roots of one tree
 * (proofs) allocate once.
 */
void es_merkle_subtree_root(const uint8_t *buf, const uint64_t *offsets, size_t count,
                            uint8_t *scratch, uint8_t *out);

/* node hash of left || right given as one 64-byte buffer. */
void es_merkle_node_hash_pair(const uint8_t pair[64], uint8_t *out);

#endif /* ES_MERKLE_IMPL_H */
