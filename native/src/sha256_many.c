/*
 * Padding, lanes and the public hashing entry points, shared by every variant.
 *
 * A "lane" walks one logical message M = prefix || body || suffix and hands its
 * 64-byte blocks to the compression function in runs of consecutive blocks: blocks
 * lying wholly in the body are passed in place; blocks straddling a segment
 * boundary and the one or two final blocks carrying the FIPS 180-4 section 5.1.1
 * padding are assembled in the lane's own buffer. A short message (padded to at most SHORT_BLOCKS
 * blocks, as every Merkle leaf of a reading and every node is) is padded whole at once, so it is a
 * single run.
 *
 * ES_SHA256_MAX_LANES lanes run side by side and the variant's blocks_lanes
 * compresses the shortest current run's worth of blocks of every busy lane at
 * once: hardware SHA rounds have a latency of several cycles and one stream alone
 * leaves the unit idle. When a lane's message ends, its digest is written and the
 * lane takes the next message, so messages of any mix of lengths share a call;
 * four equal short messages cost one call.
 */
#include <stdint.h>
#include <string.h>

#include "sha256_impl.h"

enum { SHORT_BLOCKS = 4 };

typedef struct {
    const uint8_t *seg[3]; /* prefix, body, suffix */
    uint64_t seg_len[3];
    uint64_t total;       /* sum of the segment lengths, in bytes */
    uint64_t next_block;  /* index of the next block to hand out */
    uint64_t block_count; /* blocks after padding: floor((total + 8) / 64) + 1 */
    int whole;            /* the entire padded message is in buf */
    uint8_t *out;
    uint32_t state[8];
    uint8_t buf[SHORT_BLOCKS * ES_SHA256_BLOCK_LEN];
} lane;

static void store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Copies logical bytes [start, start + n) of prefix || body || suffix to dst. */
static void lane_copy(const lane *l, uint64_t start, size_t n, uint8_t *dst)
{
    uint64_t seg_start = 0;
    for (unsigned s = 0; s < 3 && n > 0; s++) {
        uint64_t seg_end = seg_start + l->seg_len[s];
        if (start < seg_end) {
            size_t take = (size_t)(seg_end - start);
            if (take > n)
                take = n;
            memcpy(dst, l->seg[s] + (start - seg_start), take);
            dst += take;
            n -= take;
            start += take;
        }
        seg_start = seg_end;
    }
}

/*
 * Writes the blocks from logical offset start to the end of the padded message
 * into dst: the message's remaining bytes, 0x80, zeros, and the message length in
 * bits as a big-endian 64-bit number in the last 8 bytes. Returns the block count.
 */
static size_t lane_pad_tail(const lane *l, uint64_t start, uint8_t *dst)
{
    size_t blocks = (size_t)(l->block_count - start / ES_SHA256_BLOCK_LEN);
    size_t bytes = blocks * ES_SHA256_BLOCK_LEN;
    size_t have = l->total > start ? (size_t)(l->total - start) : 0;
    lane_copy(l, start, have, dst);
    memset(dst + have, 0, bytes - have);
    if (l->total >= start)
        dst[have] = 0x80; /* else it went into the previous block */
    uint64_t bits = l->total * 8;
    store_be32(dst + bytes - 8, (uint32_t)(bits >> 32));
    store_be32(dst + bytes - 4, (uint32_t)bits);
    return blocks;
}

static void lane_start(lane *l, const uint8_t *prefix, size_t prefix_len, const uint8_t *body,
                       size_t body_len, const uint8_t *suffix, size_t suffix_len, uint8_t *out)
{
    l->seg[0] = prefix;
    l->seg[1] = body;
    l->seg[2] = suffix;
    l->seg_len[0] = prefix_len;
    l->seg_len[1] = body_len;
    l->seg_len[2] = suffix_len;
    l->total = (uint64_t)prefix_len + (uint64_t)body_len + (uint64_t)suffix_len;
    l->next_block = 0;
    /* Padding adds 0x80 and an 8-byte length: 9 bytes, rounded up to a block. */
    l->block_count = (l->total + 8) / ES_SHA256_BLOCK_LEN + 1;
    l->whole = l->block_count <= SHORT_BLOCKS;
    if (l->whole)
        lane_pad_tail(l, 0, l->buf);
    l->out = out;
    memcpy(l->state, es_sha256_iv, sizeof l->state);
}

/*
 * The next run of consecutive blocks: *blocks is set to its start and the block
 * count is returned (0 once the message is done). The run stays valid until the
 * lane is asked for the next one.
 */
static size_t lane_run(lane *l, const uint8_t **blocks)
{
    if (l->next_block == l->block_count)
        return 0;
    uint64_t start = l->next_block * ES_SHA256_BLOCK_LEN;
    size_t n;
    if (l->whole) {
        *blocks = l->buf + start;
        n = (size_t)(l->block_count - l->next_block);
    } else if (start + ES_SHA256_BLOCK_LEN > l->total) {
        *blocks = l->buf;
        n = lane_pad_tail(l, start, l->buf);
    } else {
        uint64_t body_start = l->seg_len[0], body_end = body_start + l->seg_len[1];
        if (start >= body_start && start + ES_SHA256_BLOCK_LEN <= body_end) {
            *blocks = l->seg[1] + (start - body_start); /* whole body blocks, in place */
            n = (size_t)((body_end - start) / ES_SHA256_BLOCK_LEN);
        } else {
            lane_copy(l, start, ES_SHA256_BLOCK_LEN, l->buf); /* straddles a boundary */
            *blocks = l->buf;
            n = 1;
        }
    }
    l->next_block += n;
    return n;
}

static void lane_finish(const lane *l)
{
    for (unsigned i = 0; i < 8; i++)
        store_be32(l->out + 4 * i, l->state[i]);
}

void es_sha256_drive_one(const es_sha256_impl *impl, const uint8_t *prefix, size_t prefix_len,
                         const uint8_t *data, size_t len, uint8_t *out)
{
    lane l;
    lane_start(&l, prefix, prefix_len, data, len, NULL, 0, out);
    const uint8_t *blocks;
    size_t n;
    while ((n = lane_run(&l, &blocks)) > 0)
        impl->blocks(l.state, blocks, n);
    lane_finish(&l);
}

es_sha256_msgs es_sha256_msgs_skip(const es_sha256_msgs *msgs, size_t skip)
{
    es_sha256_msgs rest = *msgs;
    if (skip == 0)
        return rest;
    if (rest.offsets != NULL)
        rest.offsets += skip;
    else if (rest.buf != NULL)
        rest.buf += skip * rest.stride;
    if (rest.suffixes != NULL)
        rest.suffixes += skip * rest.suffix_len;
    return rest;
}

/* Starts a lane on message *next if any is left; returns its first run's length. */
static size_t lane_take(lane *l, const es_sha256_msgs *m, size_t *next, size_t count, uint8_t *out,
                        const uint8_t **blocks)
{
    if (*next == count)
        return 0;
    size_t i = (*next)++;
    const uint8_t *body;
    size_t len;
    if (m->offsets != NULL) {
        len = (size_t)(m->offsets[i + 1] - m->offsets[i]);
        body = m->buf == NULL ? NULL : m->buf + m->offsets[i]; /* NULL only if all empty */
    } else {
        len = m->stride;
        body = m->buf == NULL ? NULL : m->buf + i * m->stride;
    }
    const uint8_t *suffix = m->suffixes == NULL ? NULL : m->suffixes + i * m->suffix_len;
    lane_start(l, m->prefix, m->prefix_len, body, len, suffix, m->suffix_len,
               out + i * ES_SHA256_DIGEST_LEN);
    return lane_run(l, blocks);
}

/*
 * 1 if every message is prefix(1 byte) || 64-byte body, the case hash65_lanes
 * takes without any copying (Merkle nodes always; leaves of 64-byte data).
 */
static int all_hash65(const es_sha256_msgs *m, size_t count)
{
    if (m->prefix_len != 1 || m->suffix_len != 0 || m->buf == NULL)
        return 0;
    if (m->offsets == NULL)
        return m->stride == 64;
    for (size_t i = 0; i < count; i++)
        if (m->offsets[i + 1] - m->offsets[i] != 64)
            return 0;
    return 1;
}

static void drive_hash65(const es_sha256_impl *impl, const es_sha256_msgs *m, size_t count,
                         uint8_t *out)
{
    for (size_t i = 0; i < count; i += ES_SHA256_MAX_LANES) {
        unsigned lanes =
            count - i < ES_SHA256_MAX_LANES ? (unsigned)(count - i) : ES_SHA256_MAX_LANES;
        const uint8_t *data[ES_SHA256_MAX_LANES];
        uint8_t *outs[ES_SHA256_MAX_LANES];
        for (unsigned k = 0; k < lanes; k++) {
            size_t j = i + k;
            data[k] = m->buf + (m->offsets != NULL ? m->offsets[j] : j * 64);
            outs[k] = out + j * ES_SHA256_DIGEST_LEN;
        }
        impl->hash65_lanes(m->prefix[0], data, outs, lanes);
    }
}

void es_sha256_drive_many(const es_sha256_impl *impl, const es_sha256_msgs *msgs, size_t count,
                          uint8_t *out)
{
    if (impl->hash65_lanes != NULL && count > 0 && all_hash65(msgs, count)) {
        drive_hash65(impl, msgs, count, out);
        return;
    }
    lane lanes[ES_SHA256_MAX_LANES];
    const uint8_t *run[ES_SHA256_MAX_LANES];
    size_t left[ES_SHA256_MAX_LANES], next = 0;
    for (unsigned k = 0; k < ES_SHA256_MAX_LANES; k++)
        left[k] = lane_take(&lanes[k], msgs, &next, count, out, &run[k]);
    for (;;) {
        /* The busy lanes, and the longest run all of them can take at once. */
        uint32_t *state[ES_SHA256_MAX_LANES];
        const uint8_t *data[ES_SHA256_MAX_LANES];
        unsigned busy = 0;
        size_t n = SIZE_MAX;
        for (unsigned k = 0; k < ES_SHA256_MAX_LANES; k++) {
            if (left[k] == 0)
                continue;
            state[busy] = lanes[k].state;
            data[busy] = run[k];
            busy++;
            if (left[k] < n)
                n = left[k];
        }
        if (busy == 0)
            break;
        impl->blocks_lanes(state, data, busy, n);
        for (unsigned k = 0; k < ES_SHA256_MAX_LANES; k++) {
            if (left[k] == 0)
                continue;
            left[k] -= n;
            run[k] += n * ES_SHA256_BLOCK_LEN;
            if (left[k] > 0)
                continue;
            left[k] = lane_run(&lanes[k], &run[k]);
            if (left[k] > 0)
                continue;
            lane_finish(&lanes[k]);
            left[k] = lane_take(&lanes[k], msgs, &next, count, out, &run[k]);
        }
    }
}

int es_offsets_check(const uint64_t *offsets, size_t count, size_t buf_len, size_t *bad_index)
{
    size_t bad = 0;
    if (offsets == NULL)
        goto fail;
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
    if (bad_index != NULL)
        *bad_index = bad;
    return -1;
}

static int many_args_ok(const uint8_t *buf, size_t buf_len, const uint64_t *offsets, size_t count,
                        const uint8_t *out)
{
    if (offsets == NULL || (out == NULL && count > 0))
        return 0;
    if (buf == NULL && buf_len > 0)
        return 0;
    if (es_offsets_check(offsets, count, buf_len, NULL) != 0)
        return 0;
    /* A NULL buffer is fine only if every message is empty. */
    return buf != NULL || offsets[count] == offsets[0];
}

int es_sha256(const uint8_t *data, size_t len, uint8_t *out)
{
    return es_sha256_with_variant(es_sha256_active_variant(), data, len, out);
}

int es_sha256_with_variant(es_sha256_variant variant, const uint8_t *data, size_t len, uint8_t *out)
{
    const es_sha256_impl *impl = es_sha256_impl_of(variant);
    if (impl == NULL || out == NULL || (data == NULL && len > 0))
        return -1;
    es_sha256_drive_one(impl, NULL, 0, data, len, out);
    return 0;
}

int es_sha256_many(const uint8_t *buf, size_t buf_len, const uint64_t *offsets, size_t count,
                   uint8_t *out)
{
    return es_sha256_many_with_variant(es_sha256_active_variant(), buf, buf_len, offsets, count,
                                       out);
}

int es_sha256_many_with_variant(es_sha256_variant variant, const uint8_t *buf, size_t buf_len,
                                const uint64_t *offsets, size_t count, uint8_t *out)
{
    const es_sha256_impl *impl = es_sha256_impl_of(variant);
    if (impl == NULL || !many_args_ok(buf, buf_len, offsets, count, out))
        return -1;
    const es_sha256_msgs msgs = {NULL, 0, buf, offsets, 0, NULL, 0};
    es_sha256_drive_many(impl, &msgs, count, out);
    return 0;
}

int es_sha256_many_fixed(const uint8_t *prefix, size_t prefix_len, const uint8_t *buf,
                         size_t msg_len, size_t count, uint8_t *out)
{
    if (prefix_len > ES_SHA256_BLOCK_LEN || (prefix == NULL && prefix_len > 0))
        return -1;
    if ((buf == NULL && msg_len > 0 && count > 0) || (out == NULL && count > 0))
        return -1;
    if (msg_len > 0 && count > SIZE_MAX / msg_len)
        return -1;
    const es_sha256_msgs msgs = {prefix, prefix_len, buf, NULL, msg_len, NULL, 0};
    es_sha256_drive_many(es_sha256_active_impl(), &msgs, count, out);
    return 0;
}
