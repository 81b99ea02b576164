/* cogmem — the on-disk format of snapshots and journal segments.
 *
 * Everything is little-endian (the probe word in each header rejects a
 * file from a big-endian writer) and every structure is fixed-size with
 * explicit padding, so a file is the same bytes whatever compiler wrote it.
 *
 * Snapshot file (snap-<begin_lsn as 16 hex digits>.cgs):
 *   [0, 4096)        header (struct cogmem__snap_header), XXH3 over itself
 *   sections         each starting at a multiple of 4096, in table order:
 *     CMETA / EMETA  one 64-byte record per concept / episode, the row
 *                    metadata included (id, norm, vector version): record
 *                    i describes row i of the matching vector section
 *     CVEC / EVEC    rows of `row_bytes` (dim floats padded with zeros to a
 *                    multiple of 64), so every row is 64-byte aligned in the
 *                    file and has the f32 layout of a slab row's data: a
 *                    later read-only mapping can serve rows in place. The
 *                    XXH3 is per 4 MiB chunk (VSUMS); the section's own
 *                    XXH3 is the XXH3 of its chunk sums.
 *     VSUMS          u64 XXH3 per chunk of CVEC, then of EVEC
 *     BINDS          per concept with bindings: a cogmem__snap_blist head
 *                    and its entries, in the concept's list order
 *     HIST           ACT-R presentation histories (cogmem__snap_hist)
 *     EBINDS         per episode with bindings: a cogmem__snap_blist head
 *                    (its `concept` field holds the episode) and its
 *                    concept ids, in the episode's list order
 *   section table    nsections x cogmem__snap_section, then its u64 XXH3
 *   footer           the last 64 bytes (cogmem__snap_footer), magic again
 *
 * Journal segment (jrn-<seq as 16 hex digits>.cgj):
 *   header           struct cogmem__jrn_header (128 bytes), XXH3 over itself
 *   records          struct cogmem__jrn_rec, payload padded to 8 bytes,
 *                    then a u64 XXH3 (seeded with the segment's salt) of
 *                    head and padded payload; LSNs consecutive from
 *                    first_lsn
 */
#ifndef COGMEM_SRC_PERSIST_FORMAT_H
#define COGMEM_SRC_PERSIST_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define COGMEM__SNAP_MAGIC "\x89" "CGMSNP\n"
#define COGMEM__SNAP_TAIL_MAGIC "\nPNSMGC" "\x89"
#define COGMEM__JRN_MAGIC "\x89" "CGMJRN\n"
#define COGMEM__PROBE 0x0102030405060708ull
#define COGMEM__SNAP_HEADER_BYTES 4096u
#define COGMEM__SNAP_ALIGN 4096u
#define COGMEM__VEC_CHUNK (4u << 20)

/* Feature words: a reader refuses a file with an incompat bit it does not
 * know (-EPROTONOSUPPORT), ignores unknown compat bits. This version
 * defines none; ro_compat is reserved for features a reader may load but
 * must not write back, and this library refuses unknown ones too (it has
 * no read-only open). */
/* INCOMPAT_WORDS (journal segments): the segment may hold J_WORD records;
 * a reader that predates them must refuse it rather than report them as
 * damage. Every segment this version writes sets it. */
#define COGMEM__FEAT_INCOMPAT_WORDS 1ull
#define COGMEM__FEAT_INCOMPAT_KNOWN COGMEM__FEAT_INCOMPAT_WORDS
#define COGMEM__FEAT_RO_COMPAT_KNOWN 0ull

/* The settings that shape a store's meaning, kept with it. */
struct cogmem__cfg_block {
    int32_t fan_mode;
    float actr_max_assoc;
    float actr_decay;
    uint32_t actr_history;
    float actr_latency_factor;
    float actr_threshold;
    float actr_noise;
    uint32_t bf16_rows;
};
_Static_assert(sizeof(struct cogmem__cfg_block) == 32, "cfg block layout");

struct cogmem__snap_header {
    char magic[8];
    uint32_t major, minor;
    uint64_t compat, ro_compat, incompat;
    uint64_t probe;
    uint32_t dim, row_bytes;
    uint64_t begin_lsn;
    uint64_t created_ns;
    struct cogmem__cfg_block cfg;
    uint64_t table_off;
    uint32_t nsections, pad;
    uint64_t file_bytes;
    /* The journal's next LSN when the copy ended (after it had waited
     * for every call under way during its walk). Records in
     * [begin_lsn, end_lsn) may name nodes the copy missed because they
     * were removed while it ran: replay treats those as no-ops. */
    uint64_t end_lsn;
    uint64_t xxh3; /* of this struct with xxh3 = 0 */
};
_Static_assert(sizeof(struct cogmem__snap_header) == 144, "snapshot header layout");

enum cogmem__snap_kind {
    COGMEM__SEC_CMETA = 1,
    COGMEM__SEC_EMETA = 2,
    COGMEM__SEC_CVEC = 3,
    COGMEM__SEC_EVEC = 4,
    COGMEM__SEC_VSUMS = 5,
    COGMEM__SEC_BINDS = 6,
    COGMEM__SEC_HIST = 7,
    COGMEM__SEC_EBINDS = 8,
    COGMEM__SEC_N = 8
};

struct cogmem__snap_section {
    uint32_t kind, pad;
    uint64_t off, len, count;
    uint64_t xxh3;
};
_Static_assert(sizeof(struct cogmem__snap_section) == 40, "section entry layout");

struct cogmem__snap_footer {
    uint64_t table_off;
    uint32_t nsections, major;
    uint64_t header_xxh3;
    uint64_t table_xxh3;
    uint64_t file_bytes;
    uint64_t pad[2];
    char magic[8];
};
_Static_assert(sizeof(struct cogmem__snap_footer) == 64, "footer layout");

/* One node. `lsn` is the journal position the record is current as of:
 * replay skips the records about this node (and, for a concept, its
 * bindings) with a smaller LSN. */
struct cogmem__snap_node {
    uint64_t id;
    uint64_t stamp;      /* concept created_ns / episode time_ns */
    uint64_t touched_ns;
    uint64_t lsn;
    uint32_t activation_bits;
    uint32_t word44;     /* concept bind_version / episode strength_bits */
    uint32_t vec_version;
    float norm;
    uint32_t flags;      /* COGMEM__SNODE_HIST: has a HIST entry */
    uint32_t pad[3];
};
_Static_assert(sizeof(struct cogmem__snap_node) == 64, "node record layout");
#define COGMEM__SNODE_HIST 1u

struct cogmem__snap_blist {
    uint64_t concept;
    uint32_t n, pad;
};
_Static_assert(sizeof(struct cogmem__snap_blist) == 16, "list head layout");

struct cogmem__snap_bind {
    uint64_t episode;
    float strength;
    uint32_t pad;
    uint64_t created_ns, touched_ns, decayed_ns;
};
_Static_assert(sizeof(struct cogmem__snap_bind) == 40, "binding entry layout");

/* Whether a stored binding (a snapshot's, or a CLIST record's) is one the
 * store could hold: an episode, a strength in [0, 1], zero padding, and
 * t_dec >= t_ref (cogmem_bind.h: a decay brings a binding from t_dec up
 * to now; with t_dec < t_ref a POWER decay's ratio is below 1 and raises
 * the strength, past 1 and to Inf). Every write keeps t_dec >= t_ref:
 * bind and adjust set both to one time, a decay raises t_dec to
 * max(t_dec, now). The creation time has no such rule: the clock may
 * step back between a bind and an adjust. */
static inline int cogmem__snap_bind_ok(const struct cogmem__snap_bind *b)
{
    return b->episode != 0 && b->strength >= 0.0f && b->strength <= 1.0f && b->pad == 0 &&
           b->decayed_ns >= b->touched_ns;
}

#define COGMEM__HIST_SLOTS 32u
struct cogmem__snap_hist {
    uint64_t id;
    uint32_t head, pad;
    uint64_t total, first_ns;
    uint64_t t[COGMEM__HIST_SLOTS];
};
_Static_assert(sizeof(struct cogmem__snap_hist) == 288, "history entry layout");

/* ------------------------------------------------------------- journal */

struct cogmem__jrn_header {
    char magic[8];
    uint32_t major, minor;
    uint64_t compat, ro_compat, incompat;
    uint64_t probe;
    uint64_t seq;
    uint64_t first_lsn;
    uint64_t salt;
    uint32_t dim, pad;
    struct cogmem__cfg_block cfg;
    uint64_t reserved; /* zero */
    uint64_t xxh3; /* of this struct with xxh3 = 0 */
};
_Static_assert(sizeof(struct cogmem__jrn_header) == 128, "segment header layout");

enum cogmem__jrn_type {
    COGMEM__J_ADD = 1,      /* jp_add + dim floats */
    COGMEM__J_REMOVE = 2,   /* jp_remove */
    COGMEM__J_CENTROID = 3, /* jp_centroid + dim floats */
    COGMEM__J_TOUCH = 4,    /* jp_touch */
    COGMEM__J_BIND = 5,     /* jp_bind */
    COGMEM__J_ADJUST = 6,   /* jp_bind (strength = the new one) */
    COGMEM__J_UNBIND = 7,   /* jp_bind (strength unused) */
    COGMEM__J_CLIST = 8,    /* jp_clist + n cogmem__snap_bind */
    COGMEM__J_EDROP = 9,    /* jp_bind: concept left the episode's list */
    COGMEM__J_WORD = 10,    /* jp_word: a node's stored activation / strength */
    COGMEM__J_TYPE_MAX = 10
};

struct cogmem__jrn_rec {
    uint32_t len;  /* payload bytes, before padding */
    uint16_t type; /* enum cogmem__jrn_type */
    uint16_t flags;
    uint64_t lsn;
};
_Static_assert(sizeof(struct cogmem__jrn_rec) == 16, "record head layout");

struct cogmem__jp_add {
    uint64_t id;
    uint32_t kind, vec_version;
    uint64_t stamp, touched_ns;
    uint32_t activation_bits, word44;
};
_Static_assert(sizeof(struct cogmem__jp_add) == 40, "payload layout");

struct cogmem__jp_remove {
    uint64_t id;
    uint32_t kind, pad;
};

struct cogmem__jp_centroid {
    uint64_t id;
    uint32_t vec_version, pad;
    uint64_t touched_ns;
};

struct cogmem__jp_touch {
    uint64_t id;
    uint64_t now_ns;
};

struct cogmem__jp_bind {
    uint64_t episode, concept;
    float strength;
    uint32_t bind_version;
    uint64_t now_ns;
};
_Static_assert(sizeof(struct cogmem__jp_bind) == 32, "payload layout");

/* The value cogmem_spread() (store_activation) or cogmem_forget() stored
 * in a node's activation or (episode) strength word: the result, so that
 * replay needs no recomputation. */
struct cogmem__jp_word {
    uint64_t id;
    uint32_t kind, field; /* COGMEM__WORD_* (hooks.h) */
    uint32_t bits, pad;   /* the float's bits; pad zero */
};
_Static_assert(sizeof(struct cogmem__jp_word) == 24, "payload layout");

struct cogmem__jp_clist {
    uint64_t concept;
    uint32_t n, bind_version;
};

static inline size_t cogmem__pad8(size_t n) { return (n + 7) & ~(size_t)7; }

/* Bytes of a record with a payload of len bytes. */
static inline size_t cogmem__jrn_rec_bytes(size_t len)
{
    return sizeof(struct cogmem__jrn_rec) + cogmem__pad8(len) + 8;
}

#endif /* COGMEM_SRC_PERSIST_FORMAT_H */
