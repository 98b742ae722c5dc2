/* Internal helpers shared by the Merkle files; the public API is es_merkle.h. */
#ifndef ES_MERKLE_IMPL_H
#define ES_MERKLE_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "es_merkle.h"

/* Largest power of two strictly smaller than n; n must be >= 2. */
static inline uint64_t es_merkle_split(uint64_t n)
{
    return (uint64_t)1 << (63 - __builtin_clzll(n - 1));
}

/* Scratch bytes es_merkle_subtree_root needs for count leaves, or 0 on overflow. */
size_t es_merkle_scratch_len(size_t count);

/*
 * Packed leaves: leaf i is buf[offsets[i] .. offsets[i+1]) followed by
 * suffixes[i*suffix_len .. (i+1)*suffix_len) (suffix_len 0: no suffix). The
 * suffix lets a sealed batch's records and signatures, each stored contiguously,
 * be hashed as record || signature leaves without building the leaves first.
 */
typedef struct {
    const uint8_t *buf;
    const uint64_t *offsets;
    const uint8_t *suffixes;
    size_t suffix_len;
} es_merkle_leaves;

/*
 * MTH of leaves first .. first+count-1 (offsets already validated) using the
 * caller's scratch of es_merkle_scratch_len(count) bytes, so the several subtree
 * roots of one proof allocate once.
 */
void es_merkle_subtree_root(const es_merkle_leaves *leaves, size_t first, size_t count,
                            uint8_t *scratch, uint8_t *out);

/* Checks pointers and offsets of packed leaves; 1 if usable. */
int es_merkle_leaves_ok(const uint8_t *buf, size_t buf_len, const uint64_t *offsets, size_t count,
                        const uint8_t *suffixes, size_t suffixes_len, size_t suffix_len);

/* node hash of left || right given as one 64-byte buffer. */
void es_merkle_node_hash_pair(const uint8_t pair[64], uint8_t *out);

#endif /* ES_MERKLE_IMPL_H */
