/* cogmem — persistence: a store directory with snapshots and a journal.
 *
 * Included by cogmem.h; compiles alone too. The conventions of cogmem.h
 * hold here (0 or a negative errno; any thread, no registration).
 *
 * A store opened with cogmem_config.path set to a directory lives in it:
 *   LOCK                 held with flock() while a store has the directory
 *                        open: a second opener (another process, or the same
 *                        process twice) gets -EBUSY; the lock dies with its
 *                        process, so a killed process leaves no stale lock.
 *   snap-<LSN>.cgs       the newest snapshot: every node, vector, binding
 *                        and ACT-R history, and the settings that shape the
 *                        store's meaning (dim, fan mode, ACT-R parameters),
 *                        as of journal position LSN (fuzzy: see below);
 *   jrn-<SEQ>.cgj        journal segments: one checksummed record per
 *                        mutation, in the order the mutations committed.
 * cogmem_open() on such a directory loads the newest snapshot and replays
 * the journal after it; the store comes back as of its last durable write.
 * An empty or missing directory (one level is created) starts an empty
 * store. The dim in the directory must equal cfg.dim (else -EINVAL); the
 * fan mode and ACT-R parameters stored there replace the ones in cfg.
 *
 * Durability (cogmem_config.durability):
 *   COGMEM_DURABLE_NONE      no journal: a reopen sees the last snapshot;
 *                            everything after it is lost.
 *   COGMEM_DURABLE_PROCESS   each mutating call has written its record to
 *                            the OS when it returns: survives the process
 *                            being killed, not a power cut or OS crash.
 *   COGMEM_DURABLE_INTERVAL  as PROCESS, and the journal is fsync()ed every
 *                            cfg.sync_interval_ms: a power cut loses at most
 *                            the last interval (plus one fsync's worth).
 *   COGMEM_DURABLE_SYNC      a mutating call returns only after its record
 *                            is on stable storage (fdatasync). Concurrent
 *                            callers share fsyncs (group commit): one caller
 *                            writes and syncs everything queued so far while
 *                            the others wait, and no thread registers.
 * Recovery reproduces a prefix of the journal in commit order: if a
 * mutation survives, every mutation that committed before it does too.
 *
 * What is journaled: concept add/remove/set_centroid/blend (blend logs the
 * resulting vector), episode add/remove, bind, binding_adjust (the new
 * strength and times), unbind, decay (each concept's whole resulting list:
 * strengths, times, what was pruned), touch. Fan-outs, fan-ins and binding
 * counts are recomputed at open and checked. Statistics are not persisted.
 * Formation and consolidation (cogmem_life.h) are journaled through the
 * adds, binds and blends they make; recall's `touch` through cogmem_touch.
 * The activations cogmem_spread() stores with `store_activation` and the
 * episode strengths cogmem_forget() writes are journaled as their values
 * (its removals as removals); on a store with a directory those two calls
 * are then mutating calls like the others: under SYNC they return once
 * their records are on disk, after a journal failure they return -EIO
 * without storing, and called inside a read-side section -EDEADLK.
 * A call cut short by a crash may leave some of its records (a removal's
 * unbindings, a decay's first concepts): each is a consistent step of it,
 * the store opens, and doing the call again completes it.
 *
 * Errors after a failed write or fsync: the journal stops; the call whose
 * record was affected, and every later mutating call, returns -EIO (or the
 * -ENOSPC that caused it for the first one); reads keep working. A call
 * that returned -EIO/-ENOSPC may or may not be in the journal, and its
 * change is visible in memory: this is the one exception to "a failed call
 * changes nothing". A call never returns 0 unless its record is as durable
 * as the level promises. Close and reopen the store to go on.
 *
 * Caveats
 *  - On a store with a path, mutating calls serialise per id (a striped
 *    mutex) so that the journal's order is the commit order; calls on
 *    different ids still run in parallel. Such calls made from inside a
 *    cogmem_foreach() callback return -EDEADLK (the callback runs in an RCU
 *    read-side section, and a table resize under the stripe lock would wait
 *    for it).
 *  - An episode's list of concepts is rebuilt from the concepts' lists at
 *    open: its order (cogmem_episode_concepts) may differ from before.
 *  - Decay journals every binding it visits (about 40 bytes each).
 *  - One process at a time; local file systems only.
 *
 * Open modes (cogmem_config.open_mode)
 *   COGMEM_OPEN_COPY (default): the snapshot's vectors are copied into the
 *   store's slabs, NUMA-placed like any row; every checksum of the file
 *   (header, table, every section, every 4 MiB vector chunk) and every
 *   row (finite, agreeing with its recorded norm) is checked at open.
 *   The vector copying and checking runs on worker threads (one per
 *   other online CPU, all signals blocked, joined before cogmem_open
 *   returns) while the opening thread loads the records.
 *   COGMEM_OPEN_MMAP: the snapshot's vector rows are used in place from a
 *   read-only (PROT_READ, MAP_SHARED) mapping of the file: no copy, and no
 *   page of the file is ever written or dirtied (the page cache's pages are
 *   shared with every other process that maps the file). Node records,
 *   bindings and histories are loaded as in COPY. Replacing or blending a
 *   centroid and adding write new rows in anonymous memory as usual;
 *   recall scans mapped and in-memory rows alike; a mapped row that a
 *   replacement or removal retires is never reused. The mapping lives
 *   until cogmem_close(); a later cogmem_snapshot() may delete the mapped
 *   file from the directory (the mapping keeps its pages). What MMAP gives
 *   up:
 *    - NUMA placement of the mapped rows (they are where the page cache
 *      put them; cfg.numa_policy applies to everything else);
 *    - checking the vectors at open: only the header, section table,
 *      footer and the non-vector sections (records, bindings, histories,
 *      chunk sums) are verified, so a corrupt record is still -EBADMSG but
 *      a corrupt vector row is served as it is. cogmem_snapshot_verify()
 *      checks every row's chunk checksum without opening a store. The
 *      checks are put off, not skipped: the first cogmem_snapshot() that
 *      writes a mapped row checks its 4 MiB chunk's checksum and the row
 *      against its record's norm, as a COPY open does, once per chunk and
 *      row for the life of the store, and refuses (-EBADMSG, naming the
 *      node: cogmem_snapshot_report) to write a row that fails, so no
 *      snapshot seals a corrupt row under fresh checksums;
 *    - huge pages for the mapped rows (file pages are 4 KiB here, slab
 *      chunks use transparent huge pages): scans of mapped rows may take
 *      more TLB misses (bench/persist measures recall on both);
 *    - first touches read the file: the first recall after an MMAP open
 *      pays the page faults that the COPY open paid up front;
 *    - protection from other programs: the mapped file must not be
 *      truncated or rewritten in place while the store is open (cogmem
 *      never does either: snapshots are new files renamed into place); a
 *      truncation makes reads of the mapped rows fault (SIGBUS);
 *    - bfloat16 copies: cfg.bf16_rows with COGMEM_OPEN_MMAP is refused
 *      with -EOPNOTSUPP (the file holds no copies, and making them would
 *      read every row at open, which is what MMAP exists to avoid).
 *   The directory stays writable: the journal and later snapshots work as
 *   in COPY (a snapshot reads mapped rows like any others).
 *   Without cfg.path the mode is ignored; a value other than the two is
 *   -EINVAL at cogmem_open().
 */
#ifndef COGMEM_PERSIST_H
#define COGMEM_PERSIST_H

#include <stddef.h>
#include <stdint.h>

#include "cogmem_export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cogmem_store cogmem_store;
typedef struct cogmem_config cogmem_config;

/* cogmem_config.durability. The values are part of the ABI. */
enum cogmem_durability {
    COGMEM_DURABLE_NONE = 0,
    COGMEM_DURABLE_PROCESS = 1,
    COGMEM_DURABLE_INTERVAL = 2,
    COGMEM_DURABLE_SYNC = 3
};

/* cogmem_config.open_mode (see "Open modes" above). The values are part
 * of the ABI. A caller whose cogmem_config ends before open_mode (an older
 * struct_size) gets COGMEM_OPEN_COPY. */
enum cogmem_open_mode {
    COGMEM_OPEN_COPY = 0,
    COGMEM_OPEN_MMAP = 1
};

/* The on-disk format this library writes; a directory or file written with
 * a larger major (or an incompatible feature this library does not know)
 * is refused with -EPROTONOSUPPORT. */
#define COGMEM_FORMAT_MAJOR 1u
#define COGMEM_FORMAT_MINOR 0u

/* What cogmem_open_report() found. Text fields are NUL-terminated. A
 * struct tag, not a typedef: the function has the same name (as with
 * struct cogmem_concept_info). */
struct cogmem_open_report {
    size_t struct_size;        /* set by the caller: sizeof as compiled */
    int error;                 /* what the open returned */
    char snapshot[96];         /* file name of the snapshot loaded, "" none */
    uint64_t snapshot_lsn;     /* journal position the snapshot starts at */
    uint64_t concepts, episodes, bindings; /* loaded from the snapshot */
    uint32_t segments;         /* journal segments read */
    uint64_t records_replayed; /* journal records applied */
    uint64_t records_skipped;  /* already contained in the snapshot */
    uint64_t next_lsn;         /* where the journal goes on */
    uint64_t tail_bytes_dropped; /* torn tail of the last segment, cut off */
    uint32_t temp_files_removed; /* leftovers of an interrupted snapshot */
    /* On -EBADMSG (and -EPROTONOSUPPORT): where the problem is. */
    char bad_file[96];
    char bad_section[32];
    uint64_t bad_offset;       /* byte offset in bad_file */
    char detail[128];          /* what is wrong there */
};

/* cogmem_open() that also fills *report (may be NULL), whether the open
 * succeeds or not. Errors: as cogmem_open(), and for a store directory
 * -EBUSY (locked by another opener), -EPROTONOSUPPORT (newer format),
 * -EOPNOTSUPP (COGMEM_OPEN_MMAP with cfg.bf16_rows), -EBADMSG (a
 * snapshot or a journal record is corrupt, including a torn
 * record anywhere but at the end of the last segment: the report names
 * file, section and offset; nothing is loaded), -EINVAL (report's
 * struct_size too small, a bad durability or open mode, or the directory's dim differs
 * from cfg.dim), -EIO/-ENOSPC/-EACCES... from the file system. A torn
 * record at the very end of the journal (a write cut short by a crash) is
 * not an error: the valid prefix is recovered, the tail cut off and
 * reported in tail_bytes_dropped. Thread-safe. */
COGMEM_API int cogmem_open_report(const cogmem_config *cfg, cogmem_store **out,
                                  struct cogmem_open_report *report);

/* Write a new snapshot of the store into its directory while other
 * threads go on reading and writing (no fork, no pause: each node is
 * copied under its own short lock, together with its bindings and
 * history, so every record is consistent; the whole is fuzzy, and the
 * journal after the snapshot's start makes the recovered state exact;
 * at the end of the copy it waits for the mutating calls then under way,
 * taking each id stripe once, never all of them together).
 * The journal rotates to a new segment first. The file is written under a
 * temporary name, fsync()ed, renamed into place and the directory
 * fsync()ed; only then are the older snapshot and segments deleted. The
 * vectors referenced by the copy stay allocated until it is written.
 * Concurrent snapshots of one store serialise. Errors: -EINVAL (NULL, or a
 * store without a path), -EIO (an earlier journal failure), -EDEADLK
 * (inside a cogmem_foreach() callback), -ENOMEM, the file system's errno
 * (-EIO, -ENOSPC...), or -EBADMSG: a vector row served from the snapshot
 * that a COGMEM_OPEN_MMAP open mapped fails its chunk checksum or
 * disagrees with its record's norm (the checks that open put off: "Open
 * modes" above); cogmem_snapshot_report() names the node. On any error
 * the previous snapshot and journal are untouched and still recover the
 * store, and no part of the new one is left behind. Thread-safe. */
COGMEM_API int cogmem_snapshot(cogmem_store *store);

/* What cogmem_snapshot_report() did. Text fields are NUL-terminated. A
 * struct tag, not a typedef: the function has the same name. */
struct cogmem_snapshot_report {
    size_t struct_size;        /* set by the caller: sizeof as compiled */
    int error;                 /* what the snapshot returned */
    char snapshot[96];         /* file name written, "" unless error is 0 */
    uint64_t begin_lsn;        /* journal position it starts at (error 0) */
    uint64_t concepts, episodes, bindings, histories; /* written (error 0) */
    /* On -EBADMSG: the node whose vector row could not be written (the
     * row is in the mapped snapshot `mapped_file`), and what is wrong
     * with it. Removing the node or replacing its centroid retires the
     * row. When a chunk's checksum fails, each of its rows still in use
     * is refused, one per call: cogmem_check_mapped_rows() names them
     * all in one walk. */
    int bad_kind;              /* enum cogmem_kind; 0 unless -EBADMSG */
    uint64_t bad_id;
    char mapped_file[96];
    char detail[128];
};

/* cogmem_snapshot() that also fills *report (may be NULL), whether the
 * snapshot succeeds or not. Errors: as cogmem_snapshot(), and -EINVAL
 * for a report whose struct_size is too small (then nothing is done).
 * Thread-safe. */
COGMEM_API int cogmem_snapshot_report(cogmem_store *store,
                                      struct cogmem_snapshot_report *report);

/* Called by cogmem_check_mapped_rows() for each node whose mapped row
 * fails: kind is COGMEM_CONCEPT or COGMEM_EPISODE (enum cogmem_kind). */
typedef int (*cogmem_bad_row_fn)(uint64_t id, int kind, void *arg);

/* Make now the row checks a COGMEM_OPEN_MMAP open put off (see "Open
 * modes") for every live node whose vector is still a mapped row, and call
 * fn(id, kind, arg) for each node whose row fails (its 4 MiB chunk's
 * checksum, or its record's norm): where cogmem_snapshot_report() names
 * one such node per call, this names them all in one pass, so that a host
 * can replace or remove each before its next snapshot. What passes is
 * remembered as a snapshot's checks are (no row or chunk is checked twice
 * in the store's life), so this is also how to pay for them before the
 * first snapshot. fn runs with no lock held and may call anything on the
 * store (replace the node's centroid, remove it, snapshot); a non-zero
 * return stops the walk and is returned. *failed (may be NULL) receives
 * the number of times fn was called. Nodes added or replaced during the
 * walk may or may not be visited (their new rows are never mapped ones);
 * each row check waits for a snapshot in progress. Returns 0 at once for
 * a store that maps no row (opened COPY, or without a path). Errors:
 * -EINVAL (NULL store or fn), -EDEADLK (inside a cogmem_foreach()
 * callback), -ENOMEM. Thread-safe. */
COGMEM_API int cogmem_check_mapped_rows(cogmem_store *store, cogmem_bad_row_fn fn, void *arg,
                                        uint64_t *failed);

/* Make every mutation that returned so far durable (write and fdatasync
 * the journal), whatever the durability level (with NONE there is no
 * journal and this returns 0). Errors: -EINVAL, -EIO (the journal failed,
 * now or earlier). Thread-safe. */
COGMEM_API int cogmem_sync(cogmem_store *store);

/* One section of a snapshot file (cogmem_snapshot_verify). */
typedef struct cogmem_snapshot_section {
    char name[16];
    uint64_t offset, length, count;
    uint64_t xxh3;
} cogmem_snapshot_section;

#define COGMEM_SNAPSHOT_MAX_SECTIONS 8

/* What cogmem_snapshot_verify() read. */
typedef struct cogmem_snapshot_summary {
    size_t struct_size;        /* set by the caller */
    uint32_t format_major, format_minor;
    uint64_t compat, ro_compat, incompat; /* feature words */
    uint32_t dim, row_bytes;
    uint64_t begin_lsn, created_ns, file_bytes;
    int32_t fan_mode;
    float actr_max_assoc, actr_decay, actr_latency_factor, actr_threshold,
        actr_noise;
    uint32_t actr_history;
    uint64_t concepts, episodes, bindings, histories, vector_chunks;
    uint32_t nsections;
    cogmem_snapshot_section sections[COGMEM_SNAPSHOT_MAX_SECTIONS];
    /* On failure: where and what. */
    char bad_section[32];
    uint64_t bad_offset;
    char detail[128];
} cogmem_snapshot_summary;

/* Check the snapshot file at `path` without opening a store: both magics,
 * the version and feature words, the header, section table and footer
 * checksums, every section's XXH3, every vector chunk's XXH3, the
 * structure of every record, and every vector row against its record's
 * norm (finite, agreeing): what a COPY open checks of the file. *out (may
 * be NULL) receives what was read (and on -EBADMSG where the problem is).
 * Errors: -EINVAL, -EBADMSG, -EPROTONOSUPPORT, -ENOENT/-EACCES/-EIO from
 * opening or reading. Thread-safe. */
COGMEM_API int cogmem_snapshot_verify(const char *path,
                                      cogmem_snapshot_summary *out);

#ifdef __cplusplus
}
#endif

#endif /* COGMEM_PERSIST_H */
