/*
 * Consistent Overhead Byte Stuffing (S. Cheshire, M. Baker, "Consistent
 * Overhead Byte Stuffing", IEEE/ACM Trans. Networking 7(2), 1999).
 *
 * Why COBS: after stuffing, 0x00 appears only as the frame delimiter, so a
 * receiver that joins mid-stream or loses bytes resynchronises at the next
 * 0x00, and the overhead is bounded (one byte per 254) unlike SLIP/HDLC
 * escaping, whose worst case doubles the frame.
 *
 * Encoding: the data is cut at every 0x00 (and after every 254 non-zero bytes);
 * each piece is written as a code byte (piece length + 1) followed by the
 * piece's non-zero bytes. A code of 0xFF means "254 bytes, no zero follows".
 */
#include "fb_link.h"

int fb_cobs_encode(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
    size_t code_at = 0; /* where the current piece's code byte goes */
    size_t o = 1;       /* next output position */
    uint8_t code = 1;   /* piece length + 1 so far */
    size_t i;

    if ((in == NULL && len > 0) || out == NULL || out_len == NULL || cap == 0) {
        return -1;
    }
    for (i = 0; i < len; i++) {
        if (in[i] == 0) {
            out[code_at] = code;
            code_at = o++;
            code = 1;
            if (code_at >= cap) {
                return -1;
            }
        } else {
            if (o >= cap) {
                return -1;
            }
            out[o++] = in[i];
            code++;
            /* A full piece: close it without an implied zero, unless the
             * input ends here (then the final code byte closes it). */
            if (code == 0xFF && i + 1 < len) {
                out[code_at] = code;
                code_at = o++;
                code = 1;
                if (code_at >= cap) {
                    return -1;
                }
            }
        }
    }
    out[code_at] = code;
    *out_len = o;
    return 0;
}

int fb_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
    size_t i = 0;
    size_t o = 0;

    if ((in == NULL && len > 0) || out_len == NULL || (out == NULL && cap > 0)) {
        return -1;
    }
    if (len == 0) {
        return -1; /* an empty piece is not a COBS encoding of anything */
    }
    while (i < len) {
        uint8_t code = in[i++];
        size_t run;
        if (code == 0) {
            return -1; /* 0x00 never occurs inside a stuffed frame */
        }
        run = (size_t)code - 1u;
        if (run > len - i) {
            return -1; /* the code points past the end: truncated frame */
        }
        if (run > cap - o) {
            return -1;
        }
        for (; run > 0; run--) {
            if (in[i] == 0) {
                return -1;
            }
            out[o++] = in[i++];
        }
        /* Every piece except the last and except full (0xFF) pieces stood
         * for a 0x00 in the original data. */
        if (code != 0xFF && i < len) {
            if (o >= cap) {
                return -1;
            }
            out[o++] = 0;
        }
    }
    *out_len = o;
    return 0;
}
