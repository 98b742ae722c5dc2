/*
 * libFuzzer target for the C reference's input side: the streaming decoder,
 * frame unpacking and COBS. Built by tests/firmware_bridge/test_fb_c_fuzz.py with
 * clang -fsanitize=fuzzer,address,undefined and run for a bounded number of inputs.
 *
 * Checks beyond "no crash, no undefined behaviour":
 *  - every frame the decoder returns has a valid CRC and packs back to a body
 *    that unpacks to the same frame (no false frames);
 *  - a body that fb_frame_unpack accepts packs back to exactly the same bytes;
 *  - COBS encode then decode gives the input back, and the encoding has no 0x00.
 */
#include <stdlib.h>
#include <string.h>

#include "fb_link.h"

static int same_frame(const fb_frame *a, const fb_frame *b)
{
    return a->version == b->version && a->type == b->type && a->flags == b->flags &&
           a->device_id == b->device_id && a->boot_id == b->boot_id && a->seq == b->seq &&
           a->payload_len == b->payload_len &&
           memcmp(a->payload, b->payload, a->payload_len) == 0 &&
           a->auth_counter == b->auth_counter && memcmp(a->auth_tag, b->auth_tag, 8) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fb_decoder d;
    fb_frame f;
    fb_frame g;
    uint8_t raw[FB_MAX_FRAME];
    uint8_t stuffed[1300];
    uint8_t back[1300];
    size_t n;
    size_t m;
    size_t pos = 0;
    size_t chunk;

    if (size == 0) {
        return 0;
    }
    /* First byte: how the stream is cut into feed() calls (1..256 bytes). */
    chunk = (size_t)data[0] + 1u;
    data++;
    size--;

    fb_decoder_init(&d);
    while (pos < size) {
        size_t len = size - pos < chunk ? size - pos : chunk;
        size_t used;
        int rc = fb_decoder_feed(&d, data + pos, len, &used, &f);
        if (rc < 0 || used == 0 || used > len) {
            abort();
        }
        pos += used;
        if (rc == 1) {
            if (fb_frame_pack(&f, raw, sizeof raw, &n) != 0) {
                abort();
            }
            if (fb_crc32c(0, raw, n - 4) !=
                ((uint32_t)raw[n - 4] | ((uint32_t)raw[n - 3] << 8) | ((uint32_t)raw[n - 2] << 16) |
                 ((uint32_t)raw[n - 1] << 24))) {
                abort();
            }
            if (fb_frame_unpack(raw, n, &g) != 0 || !same_frame(&f, &g)) {
                abort();
            }
        }
    }

    if (fb_frame_unpack(data, size, &f) == 0) {
        if (fb_frame_pack(&f, raw, sizeof raw, &n) != 0 || n != size || memcmp(raw, data, n) != 0) {
            abort();
        }
    }

    if (size <= 1200) {
        if (fb_cobs_encode(data, size, stuffed, sizeof stuffed, &n) != 0) {
            abort();
        }
        if (memchr(stuffed, 0, n) != NULL) {
            abort();
        }
        if (fb_cobs_decode(stuffed, n, back, sizeof back, &m) != 0 || m != size ||
            memcmp(back, data, size) != 0) {
            abort();
        }
    }
    return 0;
}
