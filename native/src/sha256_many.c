/*
 * Padding, lanes and the public hashing entry points, shared by every variant.
 *
 * A "lane" walks one logical message M = prefix || data block by block and hands
 * each 64-byte block to the compression function: full data blocks are passed in
 * place, the others (the ones straddling the prefix, and the one or two final
 * blocks carrying the FIPS 180-4 section 5.1.1 padding) are assembled in the
 * lane's own 64-byte buffer. Two lanes run side by side so that variants with
 * hardware rounds can interleave two independent messages (blocks2); when a lane's
 * message ends its digest is written and the lane takes the next message. Lanes
 * never need to be in step, so messages of any mix of lengths share a call.
 */
#include <string.h>

#include "sha256_impl.h"

typedef struct {
    const uint8_t *prefix;
    size_t prefix_len;
    const uint8_t *data;
    uint64_t total;       /* prefix_len + data length, in bytes */
    uint64_t next_block;  /* index of the next block to produce */
    uint64_t block_count; /* blocks after padding: floor((total + 8) / 64) + 1 */
    uint8_t *out;
    uint32_t state[8];
    uint8_t buf[ES_SHA256_BLOCK_LEN];
} lane;

static void store_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void lane_start(lane *l, const uint8_t *prefix, size_t prefix_len, const uint8_t *data,
                       size_t len, uint8_t *out) {
    l->prefix = prefix;
    l->prefix_len = prefix_len;
    l->data = data;
    l->total = (uint64_t)prefix_len + (uint64_t)len;
    l->next_block = 0;
    /* Padding adds 0x80 and an 8-byte length: 9 bytes, rounded up to a block. */
    l->block_count = (l->total + 8) / ES_SHA256_BLOCK_LEN + 1;
    l->out = out;
    memcpy(l->state, es_sha256_iv, sizeof l->state);
}

/* Copies logical bytes [start, start + n) of prefix || data to dst. */
static void lane_copy(const lane *l, uint64_t start, size_t n, uint8_t *dst) {
    if (start < l->prefix_len) {
        size_t from_prefix = (size_t)(l->prefix_len - start);
        if (from_prefix > n) from_prefix = n;
        memcpy(dst, l->prefix + start, from_prefix);
        dst += from_prefix;
        n -= from_prefix;
        start += from_prefix;
    }
    if (n > 0) memcpy(dst, l->data + (start - l->prefix_len), n);
}

/* The next block of the padded message, or NULL once every block was produced. */
static const uint8_t *lane_block(lane *l) {
    if (l->next_block == l->block_count) return NULL;
    uint64_t start = l->next_block * ES_SHA256_BLOCK_LEN;
    l->next_block++;
    if (start + ES_SHA256_BLOCK_LEN <= l->total) {
        if (start >= l->prefix_len) return l->data + (start - l->prefix_len);
        lane_copy(l, start, ES_SHA256_BLOCK_LEN, l->buf);
        return l->buf;
    }
    /* A final block: the message's last bytes, 0x80, zeros, and in the very last
     * block the message length in bits as a big-endian 64-bit number. */
    size_t have = l->total > start ? (size_t)(l->total - start) : 0;
    lane_copy(l, start, have, l->buf);
    memset(l->buf + have, 0, ES_SHA256_BLOCK_LEN - have);
    if (l->total >= start) l->buf[have] = 0x80; /* else it went into the previous block */
    if (l->next_block == l->block_count) {
        uint64_t bits = l->total * 8;
        store_be32(l->buf + 56, (uint32_t)(bits >> 32));
        store_be32(l->buf + 60, (uint32_t)bits);
    }
    return l->buf;
}

static void lane_finish(const lane *l) {
    for (unsigned i = 0; i < 8; i++) store_be32(l->out + 4 * i, l->state[i]);
}

void es_sha256_drive_one(const es_sha256_impl *impl, const uint8_t *prefix, size_t prefix_len,
                        const uint8_t *data, size_t len, uint8_t *out) {
    lane l;
    lane_start(&l, prefix, prefix_len, data, len, out);
    if (prefix_len == 0 && len >= ES_SHA256_BLOCK_LEN) {
        /* Long messages: all full blocks in one call, state kept in registers. */
        size_t full = len / ES_SHA256_BLOCK_LEN;
        impl->blocks(l.state, data, full);
        l.next_block = full;
    }
    const uint8_t *block;
    while ((block = lane_block(&l)) != NULL) impl->blocks(l.state, block, 1);
    lane_finish(&l);
}

/* Where message i lives: by offsets if given, else at a fixed stride. */
static void message_at(const uint8_t *buf, const uint64_t *offsets, size_t stride, size_t i,
                       const uint8_t **data, size_t *len) {
    if (offsets != NULL) {
        *len = (size_t)(offsets[i + 1] - offsets[i]);
        *data = buf == NULL ? NULL : buf + offsets[i]; /* NULL only when all are empty */
    } else {
        *len = stride;
        *data = buf == NULL ? NULL : buf + i * stride;
    }
}

void es_sha256_drive_many(const es_sha256_impl *impl, const uint8_t *prefix, size_t prefix_len,
                         const uint8_t *buf, const uint64_t *offsets, size_t stride,
                         size_t count, uint8_t *out) {
    lane lanes[2];
    const uint8_t *block[2] = {NULL, NULL};
    size_t next = 0;
    for (unsigned k = 0; k < 2 && next < count; k++, next++) {
        const uint8_t *data;
        size_t len;
        message_at(buf, offsets, stride, next, &data, &len);
        lane_start(&lanes[k], prefix, prefix_len, data, len, out + next * ES_SHA256_DIGEST_LEN);
        block[k] = lane_block(&lanes[k]);
    }
    while (block[0] != NULL || block[1] != NULL) {
        if (block[0] != NULL && block[1] != NULL)
            impl->blocks2(lanes[0].state, block[0], lanes[1].state, block[1]);
        else if (block[0] != NULL)
            impl->blocks(lanes[0].state, block[0], 1);
        else
            impl->blocks(lanes[1].state, block[1], 1);
        for (unsigned k = 0; k < 2; k++) {
            if (block[k] == NULL) continue;
            block[k] = lane_block(&lanes[k]);
            if (block[k] != NULL) continue;
            lane_finish(&lanes[k]);
            if (next < count) {
                const uint8_t *data;
                size_t len;
                message_at(buf, offsets, stride, next, &data, &len);
                lane_start(&lanes[k], prefix, prefix_len, data, len,
                           out + next * ES_SHA256_DIGEST_LEN);
                next++;
                block[k] = lane_block(&lanes[k]);
            }
        }
    }
}

int es_offsets_check(const uint64_t *offsets, size_t count, size_t buf_len, size_t *bad_index) {
    size_t bad = 0;
    if (offsets == NULL) goto fail;
    for (size_t i = 0; i < count; i++) {
        if (offsets[i + 1] < offsets[i]) {
            bad = i + 1;
            goto fail;
        }
    }
    if (offsets[count] > (uint64_t)buf_len) {
        bad = count;
        goto fail;
    }
    return 0;
fail:
    if (bad_index != NULL) *bad_index = bad;
    return -1;
}

static int many_args_ok(const uint8_t *buf, size_t buf_len, const uint64_t *offsets,
                        size_t count, const uint8_t *out) {
    if (offsets == NULL || (out == NULL && count > 0)) return 0;
    if (buf == NULL && buf_len > 0) return 0;
    if (es_offsets_check(offsets, count, buf_len, NULL) != 0) return 0;
    /* A NULL buffer is fine only if every message is empty. */
    return buf != NULL || offsets[count] == offsets[0];
}

int es_sha256(const uint8_t *data, size_t len, uint8_t *out) {
    return es_sha256_with_variant(es_sha256_active_variant(), data, len, out);
}

int es_sha256_with_variant(es_sha256_variant variant, const uint8_t *data, size_t len,
                      uint8_t *out) {
    const es_sha256_impl *impl = es_sha256_impl_of(variant);
    if (impl == NULL || out == NULL || (data == NULL && len > 0)) return -1;
    es_sha256_drive_one(impl, NULL, 0, data, len, out);
    return 0;
}

int es_sha256_many(const uint8_t *buf, size_t buf_len, const uint64_t *offsets, size_t count,
                   uint8_t *out) {
    return es_sha256_many_with_variant(es_sha256_active_variant(), buf, buf_len, offsets, count, out);
}

int es_sha256_many_with_variant(es_sha256_variant variant, const uint8_t *buf, size_t buf_len,
                           const uint64_t *offsets, size_t count, uint8_t *out) {
    const es_sha256_impl *impl = es_sha256_impl_of(variant);
    if (impl == NULL || !many_args_ok(buf, buf_len, offsets, count, out)) return -1;
    es_sha256_drive_many(impl, NULL, 0, buf, offsets, 0, count, out);
    return 0;
}

int es_sha256_many_fixed(const uint8_t *prefix, size_t prefix_len, const uint8_t *buf,
                         size_t msg_len, size_t count, uint8_t *out) {
    if (prefix_len > ES_SHA256_BLOCK_LEN || (prefix == NULL && prefix_len > 0)) return -1;
    if ((buf == NULL && msg_len > 0 && count > 0) || (out == NULL && count > 0)) return -1;
    if (msg_len > 0 && count > SIZE_MAX / msg_len) return -1;
    es_sha256_drive_many(es_sha256_active_impl(), prefix, prefix_len, buf, NULL, msg_len, count,
                        out);
    return 0;
}
