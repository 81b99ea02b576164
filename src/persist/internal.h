/* cogmem — the persistence state of a store (src/persist/ only). */
#ifndef COGMEM_SRC_PERSIST_INTERNAL_H
#define COGMEM_SRC_PERSIST_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "src/persist/format.h"
#include "src/persist/hooks.h"

/* Stripe mutexes serialising the mutations of one id (hooks.h). A power
 * of two; 1024 keeps two random ids apart with probability 0.999. */
#define COGMEM__PSTRIPES 1024u

/* Unseeded on purpose: the stripe only spreads lock contention, and ids an
 * adversary makes collide here cost a shared mutex, not a long chain (the
 * maps use each store's seeded hash, shards/route.h). */
static inline unsigned cogmem__stripe_of(uint64_t id)
{
    return (unsigned)(cogmem__hash_id(0, id) >> 20) & (COGMEM__PSTRIPES - 1);
}

/* Where a check failed (filled by the parsers, copied into reports). */
struct cogmem__bad {
    char section[32];
    uint64_t offset;
    char detail[128];
};

/* The journal. Appends copy a record into `buf` under `mu` (short: no
 * I/O); whoever needs a record written or synced takes `io`, swaps the
 * whole buffer out and writes and syncs it for everyone queued (group
 * commit: callers arriving while one fsync runs are all served by the
 * next). */
struct cogmem__journal {
    int on;                /* durability != NONE */
    int durability;
    pthread_mutex_t mu;    /* buf, len, cap, next_lsn, salt */
    char *buf, *spare;
    size_t len, cap, spare_cap;
    _Atomic uint64_t next_lsn; /* written under mu; read by snapshots */
    uint64_t salt;         /* of the segment the buffered records go to */
    pthread_mutex_t io;    /* fd, seq; one writer at a time */
    /* Group commit: callers whose record is not yet durable wait on gc_cv
     * while one of them (`flushing`) writes and syncs for all; waking
     * them with a broadcast, rather than letting each queue on `io`,
     * keeps a leader that loops from re-taking `io` ahead of callers
     * that were already served (measured: without it 8 SYNC threads got
     * one record per fsync). */
    pthread_mutex_t gc_mu;
    pthread_cond_t gc_cv;
    int flushing;          /* under gc_mu */
    /* Batch collection (SYNC waits, all under gc_mu): a leader does not
     * start its fsync at once but waits, at most about one fsync's time
     * (gc_lat_ns), until as many callers wait as the previous batch
     * served plus those that came during it (gc_expect): the callers the
     * last fsync released come straight back with their next record, and
     * an fsync started before they do would leave them a whole cycle to
     * wait (measured: 0.46x / 0.29x of threads / fsync latency at 8 / 32
     * threads without it). A caller counts itself in gc_pending until a
     * leader closes a batch (gc_gen moves on), then it belongs to that
     * batch. gc_lead_cv uses CLOCK_MONOTONIC. */
    pthread_cond_t gc_lead_cv;
    int gc_collecting;
    unsigned gc_pending, gc_expect;
    uint64_t gc_gen;
    uint64_t gc_lat_ns;    /* running mean of one batch's write + fdatasync */
    int fd;
    uint64_t seq;
    _Atomic uint64_t written; /* every record with lsn < written is written */
    _Atomic uint64_t synced;  /* ... and fdatasync()ed */
    _Atomic int failed;    /* 0, or the negative errno that stopped it */
    /* INTERVAL: the syncing thread. */
    pthread_t th;
    int th_started;
    pthread_cond_t th_cv;  /* with mu */
    int th_stop;           /* under mu */
    uint32_t interval_ms;
};

struct cogmem__persist {
    char *dir;
    int lock_fd;
    uint32_t dim;
    struct cogmem__cfg_block cfg;
    pthread_mutex_t snap_mu;   /* one snapshot at a time */
    uint64_t snap_lsn;         /* begin LSN of the newest snapshot */
    struct cogmem__journal jr;
    pthread_mutex_t stripe[COGMEM__PSTRIPES];
    /* COGMEM_OPEN_MMAP: the checks that open put off, per kind (0
     * concepts, 1 episodes), made by the snapshots that write mapped rows
     * (snapshot.c, cogmem_persist.h "Open modes"). Filled by recover.c
     * before the store is shared; afterwards read and written only under
     * snap_mu, which orders one snapshot's marks before the next's. All
     * zero without a mapping (or with no rows of that kind); freed with
     * the persist state. */
    struct cogmem__mapcheck {
        uint64_t *sums;    /* the file's XXH3 of each 4 MiB chunk of rows */
        uint8_t *chunk_ok; /* per chunk: 1 once its XXH3 matched */
        uint8_t *row_ok;   /* a bit per mapped row: 1 once it passed */
    } mcheck[2];
    char mapped_file[96];  /* that snapshot's file name, "" none */
};

/* ---- journal.c */
int cogmem__jr_init(struct cogmem__journal *jr, int durability, uint32_t interval_ms);
void cogmem__jr_fini(struct cogmem__journal *jr);
/* Open a new segment file seq with first LSN = next_lsn, header fsynced,
 * directory fsynced. Caller holds io (or is alone). */
int cogmem__jr_new_segment(struct cogmem__persist *p, uint64_t seq);
/* Append one record (payload = a, then b); returns its LSN, or 0 when the
 * journal is off or failed. Also notes it as this thread's last LSN. */
uint64_t cogmem__jr_append(struct cogmem__journal *jr, uint16_t type,
                           const void *a, size_t na, const void *b, size_t nb);
/* Make every record with lsn <= target written (PROCESS, INTERVAL) or
 * synced (SYNC, or `sync`). 0 or a negative errno. */
int cogmem__jr_wait(struct cogmem__journal *jr, uint64_t target, int sync);
/* Rotation for a snapshot: write and sync what is buffered into the
 * current segment, start segment seq+1 at the next LSN and return that
 * LSN in *begin and the new seq in *seq. */
int cogmem__jr_rotate(struct cogmem__persist *p, uint64_t *begin, uint64_t *seq);
int cogmem__jr_start_thread(struct cogmem__journal *jr);
extern _Thread_local uint64_t cogmem__pj_last_lsn;

/* Journal parsing (recover.c, verify, fuzzers). Calls fn for each valid
 * record; returns 0 (all records valid), 1 (a torn tail starts at
 * *valid_end: the rest is shorter than the record it begins, or the last
 * record's checksum fails) or a negative errno (-EBADMSG with *bad,
 * -EPROTONOSUPPORT), or what fn returned if negative. */
typedef int (*cogmem__jrn_fn)(const struct cogmem__jrn_rec *r, const void *payload,
                              void *arg);
int cogmem__jrn_parse(const uint8_t *buf, size_t len, int check_sums,
                      struct cogmem__jrn_header *hdr_out, cogmem__jrn_fn fn,
                      void *arg, size_t *valid_end, struct cogmem__bad *bad);
/* The expected payload length of a record type, given dim and (CLIST) the
 * payload's own count; 0 for a type that does not exist. */
size_t cogmem__jrn_payload_len(uint16_t type, uint32_t dim, const void *payload,
                               size_t avail);

/* ---- snapshot.c */
/* What a snapshot parser hands to its sink. Any sink function may be NULL
 * (nothing is handed over) or return a negative errno to stop. */
struct cogmem__snap_sink {
    int (*config)(void *arg, const struct cogmem__snap_header *h);
    int (*node)(void *arg, enum cogmem_kind kind, const struct cogmem__snap_node *n,
                const float *row);
    int (*blist)(void *arg, const struct cogmem__snap_blist *h,
                 const struct cogmem__snap_bind *e);
    int (*hist)(void *arg, const struct cogmem__snap_hist *h);
    /* h->concept is the episode here; ids may be unaligned. */
    int (*elist)(void *arg, const struct cogmem__snap_blist *h, const uint64_t *ids);
    /* Optional, called after config and before the first node: the vector
     * sections (k = 0 concepts, 1 episodes) hold count[k] rows of
     * h->row_bytes from file offset voff[k], their records are at moff[k],
     * the vector chunk sums (u64 each, concepts' then episodes') at
     * sums_off. */
    int (*layout)(void *arg, const uint64_t count[2], const uint64_t voff[2],
                  const uint64_t moff[2], uint64_t sums_off);
};
/* check_sums: 0 (structure only, for the fuzzer), COGMEM__SNAP_SUMS (every
 * checksum), optionally | COGMEM__SNAP_NO_ROWS: read no vector row at all
 * (no chunk sums, no row padding or norm check: the opens, whose rows the
 * COPY open's workers check and the MMAP open's snapshots). */
#define COGMEM__SNAP_SUMS 1
#define COGMEM__SNAP_NO_ROWS 2
int cogmem__snap_parse(const uint8_t *buf, size_t len, int check_sums,
                       const struct cogmem__snap_sink *sink, void *arg,
                       cogmem_snapshot_summary *sum, struct cogmem__bad *bad);
/* The snapshot (cogmem_snapshot_report); rep may be NULL, else it is
 * zeroed and filled (struct_size and error are the caller's). */
int cogmem__snapshot_write(cogmem_store *st, struct cogmem_snapshot_report *rep);
/* cogmem_check_mapped_rows on a store with a directory (arguments checked,
 * *failed zeroed by the caller). */
int cogmem__check_mapped_rows(cogmem_store *st, cogmem_bad_row_fn fn, void *arg,
                              uint64_t *failed);
/* Map / unmap a whole file read-only (snapparse.c). */
int cogmem__map_file(const char *path, const uint8_t **buf, size_t *len);
void cogmem__unmap_file(const uint8_t *buf, size_t len);

/* ---- loadvec.c: the COPY open's vector work, on worker threads while
 * the opening thread loads the records (see loadvec.c). */
/* Whether a stored row agrees with its record's norm as a write would
 * have stored it (finite, and its norm recomputed); 1 yes, 0 no. The one
 * test of a row for the COPY open, cogmem_snapshot_verify() and the
 * snapshot's check of mapped rows. Thread-safe, reads only. */
int cogmem__row_ok(const float *row, uint32_t dim, float norm);
#define COGMEM__VLOAD_MAX_THREADS 15
struct cogmem__vload {
    cogmem_store *st;
    const uint8_t *buf, *sums;
    uint64_t count[2], voff[2], moff[2];
    uint64_t schunks[2], fchunks[2]; /* slab chunks, 4 MiB file chunks */
    uint32_t row_bytes, dim;
    _Atomic uint64_t next;           /* the next work item */
    _Atomic int failed;              /* set once, with bad, under mu */
    pthread_mutex_t mu;
    struct cogmem__bad bad;
    pthread_t th[COGMEM__VLOAD_MAX_THREADS];
    int nth, inited;
};
/* Preallocate the rows of both kinds' (empty) slabs and start copying and
 * checking the file's vector sections into them (buf: the mapped file, at
 * least as long as the sections). 0, -EBADMSG (row size), -ENOMEM; on
 * failure cogmem__vload_finish must still be called. */
int cogmem__vload_start(struct cogmem__vload *j, cogmem_store *st, const uint8_t *buf,
                        const uint64_t count[2], const uint64_t voff[2],
                        const uint64_t moff[2], const uint8_t *sums, uint32_t row_bytes);
/* Do what is left, join the workers: 0, or -EBADMSG with *bad filled.
 * Safe to call when start was never called (the struct zeroed). */
int cogmem__vload_finish(struct cogmem__vload *j, struct cogmem__bad *bad);

/* ---- persist.c */
void cogmem__bad_set(struct cogmem__bad *bad, const char *section, uint64_t off,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void cogmem__cfg_block_of(const cogmem_config *c, struct cogmem__cfg_block *b);
/* Lock the stripes of a and b (either may be 0: none) in index order. */
void cogmem__stripes_lock(struct cogmem__persist *p, uint64_t a, uint64_t b);
void cogmem__stripes_unlock(struct cogmem__persist *p, uint64_t a, uint64_t b);

/* ---- words.c: replay of a J_WORD record. 0, -ENOENT (no such node),
 * -EBADMSG (a bad field or kind). */
int cogmem__jr_apply_word(cogmem_store *st, const struct cogmem__jp_word *a);

/* ---- recover.c */
int cogmem__recover(cogmem_store *st, struct cogmem__persist *p,
                    struct cogmem_open_report *rep);

#endif /* COGMEM_SRC_PERSIST_INTERNAL_H */
