/*
 * firmware_bridge C reference: the microcontroller side of the serial link.
 *
 * C99, no malloc, no stdio, fixed buffers, byte-wise (endian-independent)
 * integer packing. The wire format is specified in docs/serial-protocol.md;
 * this header is also the cffi declaration (text between FB_CDEF_BEGIN and
 * FB_CDEF_END), so it must stay plain C that cffi's parser accepts.
 *
 * Conventions: functions return 0 on success and -1 on error unless stated;
 * lengths are size_t; inputs are const.
 */
#ifndef FB_LINK_H
#define FB_LINK_H

#include <stddef.h>
#include <stdint.h>

/* FB_CDEF_BEGIN */
#define FB_PROTOCOL_VERSION 1

/* Frame layout sizes (decoded, i.e. before COBS stuffing). */
#define FB_HEADER_LEN 15
#define FB_CRC_LEN 4
#define FB_AUTH_LEN 16
#define FB_MAX_PAYLOAD 200
#define FB_MAX_FRAME 235
/* COBS adds one code byte per started run of 254 bytes (235 -> 236), plus the
 * 0x00 delimiter. */
#define FB_MAX_ENCODED 237
#define FB_READING_LEN 18

/* Message types. */
#define FB_MSG_HELLO 1
#define FB_MSG_READING 2
#define FB_MSG_ACK 3
#define FB_MSG_RESEND 4
#define FB_MSG_HEARTBEAT 5
#define FB_MSG_TIME 6

#define FB_FLAG_AUTH 1

/* Why the decoder dropped bytes (indexes into fb_decoder.dropped). */
#define FB_DROP_COBS 0
#define FB_DROP_TOO_LONG 1
#define FB_DROP_SHORT 2
#define FB_DROP_CRC 3
#define FB_DROP_VERSION 4
#define FB_DROP_FLAGS 5
#define FB_DROP_KINDS 6

/* The retransmit ring holds this many unacknowledged readings. */
#define FB_RING_SLOTS 256

typedef struct {
    uint8_t version;
    uint8_t type;
    uint8_t flags;
    uint32_t device_id;
    uint32_t boot_id;
    uint32_t seq;
    size_t payload_len;
    uint8_t payload[200]; /* FB_MAX_PAYLOAD */
    /* Present on the wire only when flags has FB_FLAG_AUTH. */
    uint64_t auth_counter;
    uint8_t auth_tag[8];
} fb_frame;

typedef struct {
    uint16_t channel;
    uint16_t unit;
    int32_t mantissa;
    int8_t exponent;
    uint8_t time_kind;
    uint64_t device_time_ms;
} fb_reading;

typedef struct {
    uint8_t buf[237]; /* FB_MAX_ENCODED */
    size_t len;
    int overflow;
    uint32_t frames;
    uint32_t dropped[6]; /* FB_DROP_KINDS */
} fb_decoder;

typedef struct {
    fb_reading items[256]; /* FB_RING_SLOTS */
    size_t head;           /* index of the oldest held reading */
    size_t count;          /* readings held */
    uint32_t oldest_seq;   /* seq of items[head] (or next_seq when empty) */
    uint32_t next_seq;     /* seq the next pushed reading gets */
    uint32_t overwritten;  /* readings dropped unacknowledged (ring full, overwrite mode) */
} fb_ring;

typedef struct {
    uint32_t h[8];
    uint64_t total;    /* bytes hashed so far */
    uint8_t block[64]; /* partial block */
    size_t used;
} fb_sha256_ctx;

/* CRC-32C (Castagnoli, reflected poly 0x82F63B78). Start with crc = 0 and pass
 * the previous result to continue over split input. */
uint32_t fb_crc32c(uint32_t crc, const uint8_t *data, size_t len);

/* COBS (Cheshire & Baker 1999). Output never contains 0x00; no delimiter added. */
int fb_cobs_encode(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *out_len);
int fb_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *out_len);

/* Header + payload + [auth] + CRC, unstuffed. fb_frame_unpack checks length,
 * version, flags and CRC; the auth tag is copied, not verified (caller's job). */
int fb_frame_pack(const fb_frame *f, uint8_t *out, size_t cap, size_t *out_len);
int fb_frame_unpack(const uint8_t *raw, size_t len, fb_frame *f);
/* pack + COBS + trailing 0x00 delimiter: the bytes to put on the wire. */
int fb_frame_encode(const fb_frame *f, uint8_t *out, size_t cap, size_t *out_len);

int fb_reading_pack(const fb_reading *r, uint8_t *out, size_t cap, size_t *out_len);
int fb_reading_unpack(const uint8_t *in, size_t len, fb_reading *r);

/* Streaming decoder. fb_decoder_feed consumes input until one valid frame is
 * complete (returns 1, *consumed bytes used, *f filled) or the input ends
 * (returns 0, all consumed). Invalid frames are counted in d->dropped and
 * skipped, never returned. Returns -1 only on NULL arguments. */
void fb_decoder_init(fb_decoder *d);
int fb_decoder_feed(fb_decoder *d, const uint8_t *in, size_t len, size_t *consumed, fb_frame *f);

/* Device-side retransmit ring: readings wait here until cumulatively ACKed. */
void fb_ring_init(fb_ring *r, uint32_t first_seq);
/* Assigns the next seq. When full: returns -1 unless overwrite, in which case
 * the oldest reading is dropped (the gateway learns of the loss from HEARTBEAT). */
int fb_ring_push(fb_ring *r, const fb_reading *rd, int overwrite, uint32_t *seq_out);
/* Cumulative ACK: releases every held reading with seq <= seq. Returns the
 * number released, or -1 if seq was never assigned (ACK ignored). */
int fb_ring_ack(fb_ring *r, uint32_t seq);
/* Copies the held reading with this seq; -1 when it is not held. */
int fb_ring_get(const fb_ring *r, uint32_t seq, fb_reading *out);
/* SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), for frame authentication. */
void fb_sha256_init(fb_sha256_ctx *c);
void fb_sha256_update(fb_sha256_ctx *c, const uint8_t *data, size_t len);
void fb_sha256_final(fb_sha256_ctx *c, uint8_t out[32]);
int fb_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *msg, size_t len,
                   uint8_t out[32]);
/* Makes f an authenticated frame: sets FB_FLAG_AUTH and auth_counter, and
 * auth_tag = first 8 bytes of HMAC-SHA256(key, header || payload || counter),
 * all as they appear on the wire. The counter must never repeat for a key. */
int fb_frame_sign(fb_frame *f, const uint8_t *key, size_t key_len, uint64_t counter);
/* FB_CDEF_END */

#endif /* FB_LINK_H */
