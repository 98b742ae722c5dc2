/*
 * Frame packing, unpacking and the streaming decoder.
 *
 * Unstuffed frame (all integers little-endian, written byte by byte so the
 * code is independent of the host's endianness and alignment):
 *
 *   0 version u8 | 1 type u8 | 2 flags u8 | 3 device_id u32 | 7 boot_id u32 |
 *   11 seq u32 | 15 payload (0..FB_MAX_PAYLOAD) |
 *   [auth_counter u64 | auth_tag 8 bytes]  (only with FB_FLAG_AUTH) |
 *   CRC-32C u32 over everything before it
 *
 * The payload length is implied by the frame length, which COBS delimiting gives us.
 */
#include "fb_link.h"

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)((v >> 8) & 0xFFu);
    p[2] = (uint8_t)((v >> 16) & 0xFFu);
    p[3] = (uint8_t)(v >> 24);
}

static void put_u64(uint8_t *p, uint64_t v)
{
    put_u32(p, (uint32_t)(v & 0xFFFFFFFFu));
    put_u32(p + 4, (uint32_t)(v >> 32));
}

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] | ((uint16_t)p[1] << 8));
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint64_t get_u64(const uint8_t *p)
{
    return (uint64_t)get_u32(p) | ((uint64_t)get_u32(p + 4) << 32);
}

int fb_frame_pack(const fb_frame *f, uint8_t *out, size_t cap, size_t *out_len)
{
    size_t n;
    size_t i;
    uint32_t crc;

    if (f == NULL || out == NULL || out_len == NULL) {
        return -1;
    }
    if (f->payload_len > FB_MAX_PAYLOAD || (f->flags & ~(uint8_t)FB_FLAG_AUTH) != 0) {
        return -1;
    }
    n = FB_HEADER_LEN + f->payload_len + ((f->flags & FB_FLAG_AUTH) ? FB_AUTH_LEN : 0) + FB_CRC_LEN;
    if (n > cap) {
        return -1;
    }
    out[0] = f->version;
    out[1] = f->type;
    out[2] = f->flags;
    put_u32(out + 3, f->device_id);
    put_u32(out + 7, f->boot_id);
    put_u32(out + 11, f->seq);
    for (i = 0; i < f->payload_len; i++) {
        out[FB_HEADER_LEN + i] = f->payload[i];
    }
    i = FB_HEADER_LEN + f->payload_len;
    if (f->flags & FB_FLAG_AUTH) {
        put_u64(out + i, f->auth_counter);
        for (n = 0; n < 8; n++) {
            out[i + 8 + n] = f->auth_tag[n];
        }
        i += FB_AUTH_LEN;
    }
    crc = fb_crc32c(0, out, i);
    put_u32(out + i, crc);
    *out_len = i + FB_CRC_LEN;
    return 0;
}

/* Classifies a raw (unstuffed) frame; returns -1 - FB_DROP_* on rejection so
 * the decoder can count why, 0 when *f was filled. */
static int frame_check(const uint8_t *raw, size_t len, fb_frame *f)
{
    size_t body;
    size_t extra;
    size_t i;
    uint8_t flags;

    if (len < FB_HEADER_LEN + FB_CRC_LEN) {
        return -1 - FB_DROP_SHORT;
    }
    if (len > FB_MAX_FRAME) {
        return -1 - FB_DROP_TOO_LONG;
    }
    body = len - FB_CRC_LEN;
    /* CRC first: on a noisy line most rejections are here, and no other field
     * of a corrupted frame is meaningful. */
    if (fb_crc32c(0, raw, body) != get_u32(raw + body)) {
        return -1 - FB_DROP_CRC;
    }
    if (raw[0] != FB_PROTOCOL_VERSION) {
        return -1 - FB_DROP_VERSION;
    }
    flags = raw[2];
    if ((flags & ~(uint8_t)FB_FLAG_AUTH) != 0) {
        return -1 - FB_DROP_FLAGS;
    }
    extra = (flags & FB_FLAG_AUTH) ? FB_AUTH_LEN : 0;
    if (body < FB_HEADER_LEN + extra) {
        return -1 - FB_DROP_SHORT;
    }
    f->version = raw[0];
    f->type = raw[1];
    f->flags = flags;
    f->device_id = get_u32(raw + 3);
    f->boot_id = get_u32(raw + 7);
    f->seq = get_u32(raw + 11);
    f->payload_len = body - FB_HEADER_LEN - extra;
    for (i = 0; i < f->payload_len; i++) {
        f->payload[i] = raw[FB_HEADER_LEN + i];
    }
    f->auth_counter = 0;
    for (i = 0; i < 8; i++) {
        f->auth_tag[i] = 0;
    }
    if (extra) {
        const uint8_t *a = raw + FB_HEADER_LEN + f->payload_len;
        f->auth_counter = get_u64(a);
        for (i = 0; i < 8; i++) {
            f->auth_tag[i] = a[8 + i];
        }
    }
    return 0;
}

int fb_frame_unpack(const uint8_t *raw, size_t len, fb_frame *f)
{
    if (raw == NULL || f == NULL) {
        return -1;
    }
    return frame_check(raw, len, f) == 0 ? 0 : -1;
}

int fb_frame_encode(const fb_frame *f, uint8_t *out, size_t cap, size_t *out_len)
{
    uint8_t raw[FB_MAX_FRAME];
    size_t raw_len;
    size_t enc_len;

    if (out == NULL || out_len == NULL || cap < 2) {
        return -1;
    }
    if (fb_frame_pack(f, raw, sizeof raw, &raw_len) != 0) {
        return -1;
    }
    /* Leave room for the delimiter. */
    if (fb_cobs_encode(raw, raw_len, out, cap - 1, &enc_len) != 0) {
        return -1;
    }
    out[enc_len] = 0;
    *out_len = enc_len + 1;
    return 0;
}

int fb_reading_pack(const fb_reading *r, uint8_t *out, size_t cap, size_t *out_len)
{
    if (r == NULL || out == NULL || out_len == NULL || cap < FB_READING_LEN) {
        return -1;
    }
    put_u16(out, r->channel);
    put_u16(out + 2, r->unit);
    /* Two's complement via the unsigned type: well defined in C99 (6.3.1.3). */
    put_u32(out + 4, (uint32_t)r->mantissa);
    out[8] = (uint8_t)r->exponent;
    out[9] = r->time_kind;
    put_u64(out + 10, r->device_time_ms);
    *out_len = FB_READING_LEN;
    return 0;
}

static int32_t as_i32(uint32_t u)
{
    /* Avoid the implementation-defined unsigned -> signed conversion. */
    if (u <= 0x7FFFFFFFu) {
        return (int32_t)u;
    }
    return (int32_t)(u - 0x80000000u) - (int32_t)0x7FFFFFFF - 1;
}

int fb_reading_unpack(const uint8_t *in, size_t len, fb_reading *r)
{
    if (in == NULL || r == NULL || len != FB_READING_LEN) {
        return -1;
    }
    if (in[9] > 1) {
        return -1; /* unknown time_kind */
    }
    r->channel = get_u16(in);
    r->unit = get_u16(in + 2);
    r->mantissa = as_i32(get_u32(in + 4));
    r->exponent = (int8_t)(in[8] <= 0x7Fu ? (int)in[8] : (int)in[8] - 256);
    r->time_kind = in[9];
    r->device_time_ms = get_u64(in + 10);
    return 0;
}

void fb_decoder_init(fb_decoder *d)
{
    size_t i;
    if (d == NULL) {
        return;
    }
    d->len = 0;
    d->overflow = 0;
    d->frames = 0;
    for (i = 0; i < FB_DROP_KINDS; i++) {
        d->dropped[i] = 0;
    }
}

int fb_decoder_feed(fb_decoder *d, const uint8_t *in, size_t len, size_t *consumed, fb_frame *f)
{
    size_t i;

    if (d == NULL || consumed == NULL || f == NULL || (in == NULL && len > 0)) {
        return -1;
    }
    for (i = 0; i < len; i++) {
        uint8_t b = in[i];
        uint8_t raw[FB_MAX_FRAME];
        size_t raw_len;
        int rc;

        if (b != 0) {
            if (d->len < FB_MAX_ENCODED - 1u) {
                d->buf[d->len++] = b;
            } else {
                d->overflow = 1; /* keep discarding until the next delimiter */
            }
            continue;
        }
        /* Delimiter: judge what was collected. Empty pieces (back-to-back
         * delimiters, used as line idle filler) are not errors. */
        if (d->overflow) {
            d->dropped[FB_DROP_TOO_LONG]++;
            d->overflow = 0;
            d->len = 0;
            continue;
        }
        if (d->len == 0) {
            continue;
        }
        rc = fb_cobs_decode(d->buf, d->len, raw, sizeof raw, &raw_len);
        d->len = 0;
        if (rc != 0) {
            d->dropped[FB_DROP_COBS]++;
            continue;
        }
        rc = frame_check(raw, raw_len, f);
        if (rc != 0) {
            d->dropped[-1 - rc]++;
            continue;
        }
        d->frames++;
        *consumed = i + 1;
        return 1;
    }
    *consumed = len;
    return 0;
}

int fb_frame_sign(fb_frame *f, const uint8_t *key, size_t key_len, uint64_t counter)
{
    uint8_t msg[FB_HEADER_LEN + FB_MAX_PAYLOAD + 8];
    uint8_t mac[32];
    size_t n;
    size_t i;

    if (f == NULL || key == NULL || key_len == 0 || f->payload_len > FB_MAX_PAYLOAD) {
        return -1;
    }
    f->flags = (uint8_t)(f->flags | FB_FLAG_AUTH);
    f->auth_counter = counter;
    /* The signed bytes are the wire bytes: header (with the AUTH flag already
     * set), payload, counter; so the gateway checks exactly what it received. */
    msg[0] = f->version;
    msg[1] = f->type;
    msg[2] = f->flags;
    put_u32(msg + 3, f->device_id);
    put_u32(msg + 7, f->boot_id);
    put_u32(msg + 11, f->seq);
    for (i = 0; i < f->payload_len; i++) {
        msg[FB_HEADER_LEN + i] = f->payload[i];
    }
    n = FB_HEADER_LEN + f->payload_len;
    put_u64(msg + n, counter);
    n += 8;
    if (fb_hmac_sha256(key, key_len, msg, n, mac) != 0) {
        return -1;
    }
    for (i = 0; i < 8; i++) {
        f->auth_tag[i] = mac[i];
    }
    return 0;
}
