/*
 * Device-side retransmit ring: every reading stays here, under its sequence
 * number, until the gateway acknowledges it cumulatively. The gateway ACKs only
 * after durable storage, so the ring is also the device's back-pressure point.
 *
 * Held seqs are always contiguous: oldest_seq .. next_seq-1, stored from
 * items[head] onward (mod FB_RING_SLOTS). Sequence numbers are not expected to
 * wrap within one boot (2^32 readings); firmware must reboot (new boot_id)
 * before next_seq would wrap, and push refuses to wrap.
 */
#include "fb_link.h"

void fb_ring_init(fb_ring *r, uint32_t first_seq)
{
    if (r == NULL) {
        return;
    }
    r->head = 0;
    r->count = 0;
    r->oldest_seq = first_seq;
    r->next_seq = first_seq;
    r->overwritten = 0;
}

int fb_ring_push(fb_ring *r, const fb_reading *rd, int overwrite, uint32_t *seq_out)
{
    size_t slot;

    if (r == NULL || rd == NULL || r->next_seq == 0xFFFFFFFFu) {
        return -1;
    }
    if (r->count == FB_RING_SLOTS) {
        if (!overwrite) {
            return -1;
        }
        /* Drop the oldest: the gateway sees oldest_seq jump in the next
         * HEARTBEAT and reports the gap, so the loss is never silent. */
        r->head = (r->head + 1) % FB_RING_SLOTS;
        r->count--;
        r->oldest_seq++;
        r->overwritten++;
    }
    slot = (r->head + r->count) % FB_RING_SLOTS;
    r->items[slot] = *rd;
    r->count++;
    if (seq_out != NULL) {
        *seq_out = r->next_seq;
    }
    r->next_seq++;
    return 0;
}

int fb_ring_ack(fb_ring *r, uint32_t seq)
{
    uint32_t release;

    if (r == NULL || seq >= r->next_seq) {
        return -1;
    }
    if (seq < r->oldest_seq) {
        return 0; /* already released: a repeated or stale ACK */
    }
    release = seq - r->oldest_seq + 1u;
    r->head = (r->head + release) % FB_RING_SLOTS;
    r->count -= release;
    r->oldest_seq = seq + 1u;
    return (int)release;
}

int fb_ring_get(const fb_ring *r, uint32_t seq, fb_reading *out)
{
    if (r == NULL || out == NULL || seq < r->oldest_seq || seq >= r->next_seq) {
        return -1;
    }
    *out = r->items[(r->head + (seq - r->oldest_seq)) % FB_RING_SLOTS];
    return 0;
}
