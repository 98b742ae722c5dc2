/*
 * Internal contract between the SHA-256 variants and the dispatcher; not part of
 * the public API (see native/include/es_sha256.h for that).
 *
 * A variant supplies only the compression function (FIPS 180-4 section 6.2.2) in
 * two shapes; padding, message scheduling across lanes and output encoding are
 * shared (sha256_many.c) so that every variant is tested through the same code.
 */
#ifndef ES_SHA256_IMPL_H
#define ES_SHA256_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "es_sha256.h"

/* How many messages the multi-message driver hashes side by side. */
#define ES_SHA256_MAX_LANES 4

typedef struct {
    /* Absorb nblocks consecutive 64-byte blocks into one state. */
    void (*blocks)(uint32_t state[8], const uint8_t *data, size_t nblocks);
    /*
     * Absorb nblocks consecutive blocks into each of `lanes` independent states
     * (1 <= lanes <= ES_SHA256_MAX_LANES); state[i] takes data[i .. i + 64*nblocks).
     * Variants with hardware rounds interleave the lanes so one stream's latency
     * hides behind the others'; the portable variant runs them one after another.
     */
    void (*blocks_lanes)(uint32_t *const state[], const uint8_t *const data[], unsigned lanes,
                         size_t nblocks);
    /*
     * Optional (NULL when a variant has none): out[i] = SHA-256(prefix || data[i][0 .. 64))
     * for i < lanes (1 <= lanes <= ES_SHA256_MAX_LANES), the shape of every Merkle
     * node and of leaves of 64-byte data, with the padding built in registers.
     */
    void (*hash65_lanes)(uint8_t prefix, const uint8_t *const data[], uint8_t *const out[],
                         unsigned lanes);
} es_sha256_impl;

/* FIPS 180-4 section 5.3.3: initial hash value H(0). */
extern const uint32_t es_sha256_iv[8];
/* FIPS 180-4 section 4.2.2: round constants K0..K63. */
extern const uint32_t es_sha256_k[64];

extern const es_sha256_impl es_sha256_impl_portable;
#if defined(__x86_64__)
extern const es_sha256_impl es_sha256_impl_x86_shani;
#endif
#if defined(__aarch64__)
extern const es_sha256_impl es_sha256_impl_arm_ce;
#endif

/* The table the dispatcher filled (once) for the active variant. */
const es_sha256_impl *es_sha256_active_impl(void);
/* The table of a given variant, or NULL if this CPU or build cannot run it. */
const es_sha256_impl *es_sha256_impl_of(es_sha256_variant variant);

/*
 * A set of messages for the multi-message driver. Message i is
 *   prefix || body_i || suffix_i
 * where body_i = buf[offsets[i] .. offsets[i+1]) if offsets is not NULL, else
 * buf[i*stride .. (i+1)*stride), and suffix_i = suffixes[i*suffix_len ..
 * (i+1)*suffix_len) (suffix_len may be 0). The prefix is at most 64 bytes. Merkle
 * leaves use prefix 0x00 (and a suffix for record || signature leaves), nodes use
 * prefix 0x01 with stride 64 over a level of hashes.
 */
typedef struct {
    const uint8_t *prefix;
    size_t prefix_len;
    const uint8_t *buf;
    const uint64_t *offsets;
    size_t stride;
    const uint8_t *suffixes;
    size_t suffix_len;
} es_sha256_msgs;

/* The same set without its first `skip` messages. */
es_sha256_msgs es_sha256_msgs_skip(const es_sha256_msgs *msgs, size_t skip);

/* Shared drivers (sha256_many.c), parameterised by the variant's table. */
void es_sha256_drive_one(const es_sha256_impl *impl, const uint8_t *prefix, size_t prefix_len,
                         const uint8_t *data, size_t len, uint8_t *out);
/* The first count messages of msgs (offsets already checked); digest i to out + 32*i. */
void es_sha256_drive_many(const es_sha256_impl *impl, const es_sha256_msgs *msgs, size_t count,
                          uint8_t *out);

#endif /* ES_SHA256_IMPL_H */
