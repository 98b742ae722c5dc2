/* Internal interface between the batch verifier's phases (ed25519_batch.c:
 * arguments, decoding, challenges, coefficients) and its last phase, the
 * batch equation and the bisection that turns it into per-item verdicts
 * (ed25519_bisect.c). */
#ifndef ES_ED25519_BATCH_H
#define ES_ED25519_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "ed25519_dispatch.h"
#include "ed25519_internal.h"

/* An item that passed every check needing no group equation. */
typedef struct {
    es_ge_p3 R;
    uint8_t z[32];   /* random odd 128-bit coefficient, zero-extended */
    uint32_t zS[12]; /* z * S, unreduced */
    uint32_t zk[12]; /* z * k, unreduced */
    uint8_t k[32];   /* SHA-512(R || A || M) mod L */
    const uint8_t *S;
    size_t item; /* index of the item in the caller's arrays */
    size_t key;  /* index of its (distinct) public key */
} es_batch_candidate;

/* What the bisection reads and writes. The caller fills the first group
 * (every array sized for the whole batch, so that no equation allocates)
 * and zeroes the rest. */
typedef struct {
    const es_ed25519_impl *impl; /* kernels chosen once per process */
    const es_batch_candidate *cands;
    const es_ge_p3 *keys; /* decoded distinct keys */
    size_t nkeys;         /* how many */
    uint8_t *verdicts;    /* the caller's, all 0 on entry */
    /* one equation: up to m R terms, nkeys key terms and B */
    es_ge_p3 *points;
    uint8_t *scalars;          /* 32 bytes per term */
    es_sc_wide *key_acc;       /* nkeys */
    size_t *key_slot;          /* nkeys: distinct key -> position in key_list */
    size_t *key_list;          /* nkeys */
    const es_msm_scratch *msm; /* the multiplication's own scratch */
    /* state of the bisection */
    es_ed25519_batch_work work;
    int whole_checked;      /* the first equation (the whole batch) was evaluated */
    int inconsistent;       /* a range known to fail held no invalid item */
    uint64_t spent, budget; /* bisection work, in COST units (ed25519_bisect.c) */
} es_batch_bisection;

/* Sets verdicts[cands[c].item] = 1 for every valid candidate of cands[0..m):
 * the whole batch's equation first, then, if it fails, a bisection whose
 * work is bounded by a budget proportional to m. z, zS and zk are read only
 * when m > 1. Returns 0, or -1 if the scratch was too small (a bug). */
int es_batch_bisect_vartime(es_batch_bisection *b, size_t m);

#endif
