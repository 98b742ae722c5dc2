/*
 * RFC 9162 hashing: leaf and node hashes and the tree head MTH, bottom up.
 *
 * MTH is computed level by level rather than by the RFC's recursion: the leaf
 * hashes in one multi-message call, then all pairs of each level in one call, and
 * an odd last node is carried up unchanged (in chunks, see below). This gives the RFC's tree
 * because the RFC's split point k (largest power of two < n) always falls on a pair boundary of
 * every level below the subtree of size k: the left part D[0:k] is a perfect tree, so pairing level
 * by level builds exactly its nodes, and the right part D[k:n] is again split by the same rule; by
 * induction on n the last node of a level has no partner exactly when the RFC's recursion would
 * keep it alone until a higher level. tests/native/test_merkle.py checks this against the recursive
 * definition for every size up to 300 and random sizes up to 100k.
 */
#include <stdlib.h>
#include <string.h>

#include "sha256_impl.h"
#include "merkle_impl.h"

static const uint8_t leaf_prefix[1] = {0x00};
static const uint8_t node_prefix[1] = {0x01};

int es_merkle_leaf_hash(const uint8_t *leaf, size_t len, uint8_t *out)
{
    if (out == NULL || (leaf == NULL && len > 0))
        return -1;
    es_sha256_drive_one(es_sha256_active_impl(), leaf_prefix, 1, leaf, len, out);
    return 0;
}

void es_merkle_node_hash_pair(const uint8_t pair[64], uint8_t *out)
{
    es_sha256_drive_one(es_sha256_active_impl(), node_prefix, 1, pair, 64, out);
}

int es_merkle_node_hash(const uint8_t *left, const uint8_t *right, uint8_t *out)
{
    if (left == NULL || right == NULL || out == NULL)
        return -1;
    uint8_t pair[64];
    memcpy(pair, left, 32);
    memcpy(pair + 32, right, 32);
    es_merkle_node_hash_pair(pair, out);
    return 0;
}

/*
 * Leaves are hashed and reduced in chunks of CHUNK_LEAVES (a power of two), each
 * to its own subtree root, and then the chunk roots are reduced. A chunk starts at
 * a multiple of CHUNK_LEAVES, so at every level below the chunk roots its pairs
 * are exactly the pairs of the whole level, and a short last chunk's root is what
 * the whole level's odd-node promotion would carry up: the result is the same
 * tree. The working set stays in cache (about 100 KiB instead of 48 bytes per
 * leaf) and large trees need little memory.
 */
enum { CHUNK_LEAVES = 2048 };

static size_t level_pair_hashes(size_t width)
{
    return width + width / 2 + 1;
}

size_t es_merkle_scratch_len(size_t count)
{
    size_t chunk = count < CHUNK_LEAVES ? count : CHUNK_LEAVES;
    size_t chunks = count / CHUNK_LEAVES + 1;
    size_t hashes = level_pair_hashes(chunk) + level_pair_hashes(chunks);
    if (hashes > SIZE_MAX / ES_MERKLE_HASH_LEN)
        return 0;
    return hashes * ES_MERKLE_HASH_LEN;
}

/*
 * Reduces width >= 1 hashes at level to their root: the pairs of each level in
 * one multi-message call, an odd last node carried up unchanged. next has room
 * for ceil(width / 2) hashes; level is overwritten.
 */
static void reduce_levels(const es_sha256_impl *impl, uint8_t *level, size_t width, uint8_t *next,
                          uint8_t *out)
{
    while (width > 1) {
        size_t pairs = width / 2;
        /* Pair i is the adjacent hashes 2i, 2i+1: one 64-byte message each. */
        const es_sha256_msgs nodes = {node_prefix, 1, level, NULL, 2 * ES_MERKLE_HASH_LEN, NULL, 0};
        es_sha256_drive_many(impl, &nodes, pairs, next);
        if (width % 2 == 1)
            memcpy(next + pairs * ES_MERKLE_HASH_LEN, level + (width - 1) * ES_MERKLE_HASH_LEN,
                   ES_MERKLE_HASH_LEN);
        width = pairs + width % 2;
        uint8_t *t = level;
        level = next;
        next = t;
    }
    memcpy(out, level, ES_MERKLE_HASH_LEN);
}

void es_merkle_subtree_root(const es_merkle_leaves *leaves, size_t first, size_t count,
                            uint8_t *scratch, uint8_t *out)
{
    const es_sha256_impl *impl = es_sha256_active_impl();
    if (count == 0) {
        es_sha256_drive_one(impl, NULL, 0, NULL, 0, out);
        return;
    }
    const es_sha256_msgs all = {
        leaf_prefix, 1, leaves->buf, leaves->offsets, 0, leaves->suffixes, leaves->suffix_len};
    size_t chunk = count < CHUNK_LEAVES ? count : CHUNK_LEAVES;
    size_t chunks = (count + CHUNK_LEAVES - 1) / CHUNK_LEAVES;
    uint8_t *level = scratch;
    uint8_t *next = level + chunk * ES_MERKLE_HASH_LEN;
    uint8_t *roots = scratch + level_pair_hashes(chunk) * ES_MERKLE_HASH_LEN;
    uint8_t *roots_next = roots + chunks * ES_MERKLE_HASH_LEN;
    for (size_t c = 0; c < chunks; c++) {
        size_t start = c * CHUNK_LEAVES;
        size_t n = count - start < CHUNK_LEAVES ? count - start : CHUNK_LEAVES;
        const es_sha256_msgs part = es_sha256_msgs_skip(&all, first + start);
        es_sha256_drive_many(impl, &part, n, level);
        reduce_levels(impl, level, n, next, roots + c * ES_MERKLE_HASH_LEN);
    }
    reduce_levels(impl, roots, chunks, roots_next, out);
}

int es_merkle_leaves_ok(const uint8_t *buf, size_t buf_len, const uint64_t *offsets, size_t count,
                        const uint8_t *suffixes, size_t suffixes_len, size_t suffix_len)
{
    if (offsets == NULL || (buf == NULL && buf_len > 0))
        return 0;
    if (es_offsets_check(offsets, count, buf_len, NULL) != 0)
        return 0;
    if (buf == NULL && offsets[count] != offsets[0])
        return 0;
    if (suffix_len > 0 && count > SIZE_MAX / suffix_len)
        return 0;
    if (suffixes_len != count * suffix_len)
        return 0;
    return suffixes != NULL || suffixes_len == 0;
}

int es_merkle_root_suffixed(const uint8_t *buf, size_t buf_len, const uint64_t *offsets,
                            size_t count, const uint8_t *suffixes, size_t suffixes_len,
                            size_t suffix_len, uint8_t *out)
{
    if (out == NULL ||
        !es_merkle_leaves_ok(buf, buf_len, offsets, count, suffixes, suffixes_len, suffix_len))
        return -1;
    const es_merkle_leaves leaves = {buf, offsets, suffixes, suffix_len};
    if (count == 0) {
        es_merkle_subtree_root(&leaves, 0, 0, NULL, out);
        return 0;
    }
    size_t need = es_merkle_scratch_len(count);
    uint8_t *scratch = need == 0 ? NULL : malloc(need);
    if (scratch == NULL)
        return -1;
    es_merkle_subtree_root(&leaves, 0, count, scratch, out);
    free(scratch);
    return 0;
}

int es_merkle_root(const uint8_t *buf, size_t buf_len, const uint64_t *offsets, size_t count,
                   uint8_t *out)
{
    return es_merkle_root_suffixed(buf, buf_len, offsets, count, NULL, 0, 0, out);
}
