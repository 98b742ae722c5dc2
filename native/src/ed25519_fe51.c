/* Radix-2^51 field elements: encoding, decoding and constants.
 * The arithmetic itself is inline in ed25519_fe51.h. */
#include "ed25519_fe.h"

#ifndef ES_FE25

const es_fe es_fe_d = {{0x34dca135978a3ULL, 0x1a8283b156ebdULL, 0x5e7a26001c029ULL,
                        0x739c663a03cbbULL, 0x52036cee2b6ffULL}};
const es_fe es_fe_d2 = {{0x69b9426b2f159ULL, 0x35050762add7aULL, 0x3cf44c0038052ULL,
                         0x6738cc7407977ULL, 0x2406d9dc56dffULL}};
const es_fe es_fe_sqrtm1 = {{0x61b274a0ea0b0ULL, 0xd5a5fc8f189dULL, 0x7ef5e9cbd0c60ULL,
                             0x78595a6804c9eULL, 0x2b8324804fc1dULL}};

static inline uint64_t load_le64(const uint8_t *p)
{
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--)
        x = (x << 8) | p[i];
    return x;
}

void es_fe_frombytes(es_fe *h, const uint8_t in[32])
{
    const uint64_t w0 = load_le64(in), w1 = load_le64(in + 8), w2 = load_le64(in + 16),
                   w3 = load_le64(in + 24);
    h->v[0] = w0 & ES_FE51_MASK;
    h->v[1] = ((w0 >> 51) | (w1 << 13)) & ES_FE51_MASK;
    h->v[2] = ((w1 >> 38) | (w2 << 26)) & ES_FE51_MASK;
    h->v[3] = ((w2 >> 25) | (w3 << 39)) & ES_FE51_MASK;
    h->v[4] = (w3 >> 12) & ES_FE51_MASK; /* drops bit 255 */
}

/* Pre: loose. Two carry passes make every limb < 2^51 except limb 0 which is
 * < 2^51 + 19; the value is then < 2^255 + 19 < 2p, so at most one p is
 * subtracted: q = 1 iff h + 19 >= 2^255 (i.e. h >= p). */
void es_fe_tobytes(uint8_t out[32], const es_fe *f)
{
    es_fe h = *f;
    es_fe_carry(&h);
    es_fe_carry(&h);
    uint64_t q = (h.v[0] + 19) >> 51;
    q = (h.v[1] + q) >> 51;
    q = (h.v[2] + q) >> 51;
    q = (h.v[3] + q) >> 51;
    q = (h.v[4] + q) >> 51;
    h.v[0] += 19 * q;
    uint64_t c;
    /* clang-format off: one carry step per limb and line */
    c = h.v[0] >> 51;
    h.v[0] &= ES_FE51_MASK;
    h.v[1] += c;
    c = h.v[1] >> 51;
    h.v[1] &= ES_FE51_MASK;
    h.v[2] += c;
    c = h.v[2] >> 51;
    h.v[2] &= ES_FE51_MASK;
    h.v[3] += c;
    c = h.v[3] >> 51;
    h.v[3] &= ES_FE51_MASK;
    h.v[4] += c;
    /* clang-format on */
    h.v[4] &= ES_FE51_MASK; /* subtracting 2^255 completes h - p */
    const uint64_t w[4] = {
        h.v[0] | (h.v[1] << 51),
        (h.v[1] >> 13) | (h.v[2] << 38),
        (h.v[2] >> 26) | (h.v[3] << 25),
        (h.v[3] >> 39) | (h.v[4] << 12),
    };
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 8; j++)
            out[8 * i + j] = (uint8_t)(w[i] >> (8 * j));
}

#endif
