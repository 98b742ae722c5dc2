/* Radix-2^25.5 field elements: encoding, decoding and constants.
 * The arithmetic itself is inline in ed25519_fe25.h. */
#include "ed25519_fe.h"

#ifdef ES_FE25

const es_fe es_fe_d = {{0x35978a3, 0xd37284, 0x3156ebd, 0x6a0a0e, 0x1c029, 0x179e898, 0x3a03cbb,
                        0x1ce7198, 0x2e2b6ff, 0x1480db3}};
const es_fe es_fe_d2 = {{0x2b2f159, 0x1a6e509, 0x22add7a, 0xd4141d, 0x38052, 0xf3d130, 0x3407977,
                         0x19ce331, 0x1c56dff, 0x901b67}};
const es_fe es_fe_sqrtm1 = {{0x20ea0b0, 0x186c9d2, 0x8f189d, 0x35697f, 0xbd0c60, 0x1fbd7a7,
                             0x2804c9e, 0x1e16569, 0x4fc1d, 0xae0c92}};

/* Bit position and width of limb i. */
static const unsigned POS[10] = {0, 26, 51, 77, 102, 128, 153, 179, 204, 230};

void es_fe_frombytes(es_fe *h, const uint8_t in[32])
{
    for (int i = 0; i < 10; i++) {
        const unsigned pos = POS[i], bits = (i & 1) ? 25 : 26;
        uint64_t w = 0;
        /* Gather the (at most 5) bytes covering bits pos .. pos + bits - 1. */
        for (unsigned b = pos / 8, k = 0; b < 32 && k < 5; b++, k++)
            w |= (uint64_t)in[b] << (8 * k);
        w >>= pos % 8;
        h->v[i] = (uint32_t)(w & ((UINT64_C(1) << bits) - 1));
    }
    /* Limb 9 holds bits 230..254: bit 255 (the sign of x) is not included. */
}

/* Pre: loose. After two carry passes the value is < 2^255 + 2^14 < 2p, so
 * q = 1 iff h >= p, detected as h + 19 >= 2^255. */
void es_fe_tobytes(uint8_t out[32], const es_fe *f)
{
    es_fe h = *f;
    es_fe_carry(&h);
    es_fe_carry(&h);
    uint32_t q = (h.v[0] + 19) >> 26;
    for (int i = 1; i < 10; i++)
        q = (h.v[i] + q) >> ((i & 1) ? 25 : 26);
    h.v[0] += 19 * q;
    for (int i = 0; i < 9; i++) {
        const int bits = (i & 1) ? 25 : 26;
        h.v[i + 1] += h.v[i] >> bits;
        h.v[i] &= (UINT32_C(1) << bits) - 1;
    }
    h.v[9] &= ES_FE25_MASK25; /* drops 2^255, completing h - p */
    for (int i = 0; i < 32; i++)
        out[i] = 0;
    for (int i = 0; i < 10; i++) {
        const unsigned pos = POS[i];
        const uint64_t w = (uint64_t)h.v[i] << (pos % 8);
        for (unsigned b = pos / 8, k = 0; b < 32 && k < 5; b++, k++)
            out[b] |= (uint8_t)(w >> (8 * k));
    }
}

#endif
