/* cogmem — fuzzer of what a store directory may hold (libFuzzer): the
 * loader and the journal replay on content that is wrong but correctly
 * checksummed, the files a buggy or hostile writer leaves.
 *
 * The parsers alone have their own fuzzers (tests/persist/fuzz, checksums
 * off, no store behind them). This one goes through cogmem_open_report()
 * into a real store. When first needed it builds each of two template
 * directories: a store with concepts, episodes, bindings and histories,
 * snapshotted, then a journal of every record type after the snapshot
 * (adds, a centroid replacement, touches, binds, an adjust, an unbind,
 * stored activations and strengths (a spread, a forget), removals, and in
 * the second template also a decay that rewrites and prunes lists). An
 * input is a byte that picks the template (bit 0) and the open mode (bit
 * 1: COGMEM_OPEN_MMAP, which serves the snapshot's rows as they are and
 * trusts the records' norms, as cogmem_persist.h says), then a list of
 * edits of the snapshot and segment, 12 bytes each:
 *   target  which items: the concept or episode records, their vector
 *           rows, the binding lists (list heads and entries), the
 *           histories, the episode lists, or the journal's records;
 *   rank    which item, counted in an order that does not depend on the
 *           process (records by id, lists by owner id, journal records by
 *           type and the ids they name), so that a finding replays in
 *           another process, whose store hashes ids with another seed;
 *   word    which 8-byte word of the item;
 *   op      set, xor, add, a special float in either half (NaN, Inf,
 *           FLT_MAX, -0, denormals...), a time around the template's, an
 *           id of the template, or the word of another item (duplicates);
 *   value   8 bytes.
 * After the edits every checksum is recomputed (tests/persist/craft.h), the
 * files are written to a fresh directory and opened. The harness checks
 *  - the open returns 0 or -EBADMSG (a report naming a file);
 *  - a store that opened is consistent (tests/persist/state.h's dump
 *    checks counts, fan-outs and both sides of every binding), answers
 *    recall and spreading, and round-trips: a snapshot of it, closed and
 *    reopened in COPY mode (which checks every row, whichever mode wrote
 *    the file), dumps to the same state;
 *  - after an MMAP open, that snapshot may instead refuse a row the open
 *    did not check (-EBADMSG naming a live node of the mapped file, which
 *    cogmem_snapshot_verify() refuses too and cogmem_check_mapped_rows()
 *    names as well); the store then reopens as it was, in MMAP mode;
 *  - a snapshot that a COPY open loaded passes cogmem_snapshot_verify();
 *  - every binding strength is in [0, 1] after a power-law and an
 *    exponential decay (cogmem_bind.h promises it).
 * Any failure exits or aborts (libFuzzer records the input).
 *
 * With FUZZ_OPEN_VERBOSE set, each input prints its edits and what the
 * open and the snapshot returned.
 *
 * Built like fuzz_api.c (tests/fuzz/meson.build): with libFuzzer in the
 * clang build of tools/test.sh, and with replay.c's main() in every build
 * over the committed inputs in tests/fuzz/corpus_open.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cogmem.h"
#include "cogmem_life.h"
#include "cogmem_persist.h"
#include "tests/persist/craft.h"
#include "tests/persist/state.h"

#define DIM 8
#define NCONCEPTS 6
#define NEPISODES 10
#define MAX_EDITS 24

/* ------------------------------------------------------------- template */

/* What one edit can name: items of one target, each a byte range of the
 * snapshot or (target T_JREC) of the segment. */
struct item {
    size_t off, len;
    uint64_t key; /* the order that does not depend on the process */
};

enum { T_CMETA, T_EMETA, T_CVEC, T_EVEC, T_BIND, T_HIST, T_ELIST, T_JREC, T_N };

struct files {
    char snap_name[CRAFT_NAME_MAX], seg_name[CRAFT_NAME_MAX];
    unsigned char *snap, *seg;
    size_t snap_n, seg_n;
};

struct template {
    int ready;
    char *dir;
    struct files f;
    struct item *items[T_N];
    size_t nitems[T_N];
    uint64_t t0;  /* a time of the template's */
    uint64_t ids[NCONCEPTS + NEPISODES + 2];
};
/* Two templates: without and with a decay after the snapshot. A decay
 * journals every list it visits (CLIST), and replay rewrites those lists,
 * so in the second template no edit of the snapshot's bindings would
 * reach the store; the first leaves them to the snapshot. */
static struct template tpls[2], *tpl;

/* The snapshot and the newest segment of dir, read into f. */
static void read_files(const char *dir, struct files *f)
{
    char path[4200];
    craft_find_files(dir, f->snap_name, f->seg_name);
    CHECK(f->snap_name[0] && f->seg_name[0]);
    snprintf(path, sizeof path, "%s/%s", dir, f->snap_name);
    f->snap = craft_read_file(path, &f->snap_n);
    snprintf(path, sizeof path, "%s/%s", dir, f->seg_name);
    f->seg = craft_read_file(path, &f->seg_n);
}

static void add_item(int t, size_t off, size_t len, uint64_t key)
{
    size_t n = tpl->nitems[t];
    tpl->items[t] = realloc(tpl->items[t], (n + 1) * sizeof **tpl->items);
    CHECK(tpl->items[t]);
    tpl->items[t][n] = (struct item){off, len, key};
    tpl->nitems[t] = n + 1;
}

static int cmp_item(const void *a, const void *b)
{
    const struct item *x = a, *y = b;
    return x->key < y->key ? -1 : x->key > y->key ? 1 : x->off < y->off ? -1 : x->off > y->off;
}

/* Lists of 16-byte heads followed by n entries of `esize` bytes: a head and
 * its entries are items keyed by (owner id, position). */
static void index_lists(int t, const struct cogmem__snap_section *s, size_t esize)
{
    const unsigned char *b = tpl->f.snap;
    for (uint64_t off = 0; off + sizeof(struct cogmem__snap_blist) <= s->len;) {
        struct cogmem__snap_blist lh;
        memcpy(&lh, b + s->off + off, sizeof lh);
        CHECK(lh.concept < (1u << 20) && lh.n < 4096);
        add_item(t, s->off + off, sizeof lh, lh.concept << 12);
        for (uint32_t j = 0; j < lh.n; j++)
            add_item(t, s->off + off + sizeof lh + j * esize, esize, lh.concept << 12 | (j + 1));
        off += sizeof lh + (uint64_t)lh.n * esize;
    }
}

static void index_template(void)
{
    const unsigned char *b = tpl->f.snap;
    struct cogmem__snap_header h;
    memcpy(&h, b, sizeof h);
    struct cogmem__snap_section sec[COGMEM__SEC_N];
    memcpy(sec, b + h.table_off, sizeof sec);
    for (int k = 0; k < 2; k++)
        for (uint64_t i = 0; i < sec[k].count; i++) {
            struct cogmem__snap_node n;
            size_t at = sec[k].off + i * sizeof n;
            memcpy(&n, b + at, sizeof n);
            add_item(T_CMETA + k, at, sizeof n, n.id);
            add_item(T_CVEC + k, sec[2 + k].off + i * h.row_bytes, h.row_bytes, n.id);
        }
    index_lists(T_BIND, &sec[5], sizeof(struct cogmem__snap_bind));
    for (uint64_t i = 0; i < sec[6].count; i++) {
        struct cogmem__snap_hist hh;
        size_t at = sec[6].off + i * sizeof hh;
        memcpy(&hh, b + at, sizeof hh);
        add_item(T_HIST, at, sizeof hh, hh.id);
    }
    index_lists(T_ELIST, &sec[7], sizeof(uint64_t));
    /* Journal records by type, then their first two payload words (the
     * ids they are about, for every type), then file order: a decay
     * writes its lists' records in the order of the store's registry,
     * which its hash seed decides. */
    size_t off = sizeof(struct cogmem__jrn_header);
    while (off < tpl->f.seg_n) {
        struct cogmem__jrn_rec r;
        uint64_t w[2] = {0, 0};
        memcpy(&r, tpl->f.seg + off, sizeof r);
        memcpy(w, tpl->f.seg + off + sizeof r, r.len < 16 ? r.len : 16);
        add_item(T_JREC, off, sizeof r + cogmem__pad8(r.len),
                 (uint64_t)r.type << 48 | (w[0] & 0xffffff) << 24 | (w[1] & 0xffffff));
        off += cogmem__jrn_rec_bytes(r.len);
    }
    CHECK(off == tpl->f.seg_n);
    for (int t = 0; t < T_N; t++)
        if (tpl->nitems[t])
            qsort(tpl->items[t], tpl->nitems[t], sizeof **tpl->items, cmp_item);
}

static void build_template(int with_decay)
{
    tpl->dir = test_tmpdir("fuzz-open-template");
    cogmem_config cfg = test_config(tpl->dir, DIM, COGMEM_DURABLE_PROCESS);
    cogmem_store *s = NULL;
    CHECK_RC(cogmem_open(&cfg, &s), 0);
    float v[DIM];
    int nid = 0;
    for (uint64_t c = 1; c <= NCONCEPTS; c++) {
        test_vec(v, DIM, c);
        CHECK_RC(cogmem_concept_add(s, c, v), 0);
        tpl->ids[nid++] = c;
    }
    for (uint64_t e = 1; e <= NEPISODES; e++) {
        test_vec(v, DIM, 100 + e);
        CHECK_RC(cogmem_episode_add(s, 100 + e, v, 1000 + e), 0);
        tpl->ids[nid++] = 100 + e;
        /* each episode bound to one or two concepts */
        CHECK_RC(cogmem_bind(s, 100 + e, 1 + e % NCONCEPTS, 0.25f + 0.05f * (float)e), 0);
        if (e % 3 == 0)
            CHECK_RC(cogmem_bind(s, 100 + e, 1 + (e + 2) % NCONCEPTS, 0.9f), 0);
    }
    tpl->t0 = cogmem__now_ns();
    for (uint64_t c = 1; c <= 3; c++)
        for (uint64_t k = 0; k < c + 1; k++)
            CHECK_RC(cogmem_touch(s, c, tpl->t0 - 1000000000ull * (10 - k)), 0);
    CHECK_RC(cogmem_touch(s, 105, tpl->t0 - 5000000000ull), 0);
    CHECK_RC(cogmem_snapshot(s), 0);
    /* After the snapshot: a record of every type. */
    test_vec(v, DIM, 7);
    CHECK_RC(cogmem_concept_add(s, 7, v), 0);
    tpl->ids[nid++] = 7;
    test_vec(v, DIM, 111);
    CHECK_RC(cogmem_episode_add(s, 111, v, 2000), 0);
    tpl->ids[nid++] = 111;
    test_vec(v, DIM, 1234);
    CHECK_RC(cogmem_concept_set_centroid(s, 2, v), 0);
    CHECK_RC(cogmem_touch(s, 7, tpl->t0), 0);
    CHECK_RC(cogmem_bind(s, 111, 7, 0.6f), 0);
    CHECK_RC(cogmem_bind(s, 101, 7, 0.02f), 0);
    CHECK_RC(cogmem_binding_adjust(s, 111, 7, 0.1f, NULL), 0);
    CHECK_RC(cogmem_unbind(s, 103, 4), 0);
    cogmem_spread_params sp;
    cogmem_spread_params_init(&sp);
    sp.store_activation = 1;
    cogmem_source src = {1, 1.0f};
    cogmem_hit hits[32];
    size_t nh = 0;
    CHECK_RC(cogmem_spread(s, &src, 1, &sp, hits, 32, &nh), 0);
    if (with_decay) {
        cogmem_decay_params dp;
        cogmem_decay_params_init(&dp);
        dp.prune_below = 0.05f; /* prunes 101-7 */
        CHECK_RC(cogmem_decay(s, &dp, tpl->t0 + 60000000000ull, NULL), 0);
    }
    cogmem_forget_params fp; /* strengths for every episode, one removed */
    cogmem_forget_params_init(&fp);
    fp.max_episodes = NEPISODES;
    fp.now_ns = tpl->t0;
    CHECK_RC(cogmem_forget(s, &fp, NULL), 0);
    CHECK_RC(cogmem_episode_remove(s, 110) == 0 || cogmem_kind_of(s, 110) == -ENOENT, 1);
    CHECK_RC(cogmem_concept_remove(s, 6), 0);
    CHECK_RC(cogmem_close(&s), 0);
    read_files(tpl->dir, &tpl->f);
    index_template();
    CHECK(tpl->nitems[T_JREC] >= 10 && tpl->nitems[T_BIND] > NEPISODES);
    tpl->ready = 1;
}

static void drop_templates(void)
{
    for (int i = 0; i < 2; i++) {
        struct template *t = &tpls[i];
        if (t->dir) {
            test_rmdir(t->dir);
            free(t->dir);
        }
        free(t->f.snap);
        free(t->f.seg);
        for (int k = 0; k < T_N; k++)
            free(t->items[k]);
    }
}

/* ---------------------------------------------------------------- edits */

static const uint32_t special_f32[] = {
    0x00000000u, 0x80000000u, 0x3f800000u, 0x3f000000u, 0x40000000u, 0xbf800000u,
    0x7fc00000u, 0x7f800000u, 0xff800000u, 0x7f7fffffu, 0x00800000u, 0x00000001u,
    0x7149f2cau, /* 1e30 */ 0x0da24260u, /* 1e-30 */ 0x7fffffffu, 0xffffffffu,
};

static void apply_edit(unsigned char *snap, unsigned char *seg, const uint8_t *e)
{
    int t = e[0] % T_N;
    if (!tpl->nitems[t])
        return;
    const struct item *it = &tpl->items[t][e[1] % tpl->nitems[t]];
    unsigned char *buf = t == T_JREC ? seg : snap;
    size_t at = it->off + 8 * (e[2] % (it->len / 8));
    uint64_t val, w, was;
    memcpy(&val, e + 4, 8);
    memcpy(&w, buf + at, 8);
    was = w;
    switch (e[3] % 8) {
    case 0: w = val; break;
    case 1: w ^= val; break;
    case 2: w += val; break;
    case 3: /* a special float in the low half */
        w = (w & ~0xffffffffull) | special_f32[val % 16];
        break;
    case 4: /* ... in the high half */
        w = (w & 0xffffffffull) | (uint64_t)special_f32[val % 16] << 32;
        break;
    case 5: /* a time: the template's, give or take up to 2^15 s */
        w = tpl->t0 + (uint64_t)(int64_t)(int16_t)val * 1000000000ull;
        break;
    case 6: /* an id the template has (or 0, or the largest) */
        w = (val & 31) < 18 ? tpl->ids[(val & 31) % 18] : (val & 1) ? UINT64_MAX : 0;
        break;
    default: { /* the same word of another item of the target */
        const struct item *o = &tpl->items[t][(val & 0xff) % tpl->nitems[t]];
        size_t from = o->off + (at - it->off);
        if (from + 8 <= o->off + o->len)
            memcpy(&w, buf + from, 8);
        break;
    }
    }
    memcpy(buf + at, &w, 8);
    if (getenv("FUZZ_OPEN_VERBOSE"))
        fprintf(stderr, "fuzz_open: edit target %d, item %zu (key %#llx), %s byte %zu: "
                "%#llx -> %#llx\n", t, (size_t)(e[1] % tpl->nitems[t]),
                (unsigned long long)it->key, t == T_JREC ? "segment" : "snapshot", at,
                (unsigned long long)was, (unsigned long long)w);
}

/* ---------------------------------------------------------------- checks */

/* Every binding of every concept of s is in [0, 1]. */
static int strengths_ok(uint64_t id, enum cogmem_kind kind, void *arg)
{
    cogmem_store *s = arg;
    if (kind != COGMEM_CONCEPT)
        return 0;
    uint64_t ids[64];
    float str[64];
    size_t n = 0;
    CHECK_RC(cogmem_concept_episodes(s, id, ids, str, 64, &n), 0);
    for (size_t i = 0; i < n && i < 64; i++)
        if (!(str[i] >= 0.0f && str[i] <= 1.0f)) {
            fprintf(stderr, "fuzz_open: binding %llu-%llu has strength %g after a decay\n",
                    (unsigned long long)ids[i], (unsigned long long)id, (double)str[i]);
            abort();
        }
    return 0;
}

static void exercise(cogmem_store *s)
{
    float q[DIM];
    test_vec(q, DIM, 3);
    cogmem_recall_hit rh[8];
    size_t nh = 0;
    CHECK_RC(cogmem_recall(s, q, COGMEM_ALL_KINDS, 8, NULL, rh, &nh), 0);
    cogmem_recall_params rp;
    cogmem_recall_params_init(&rp);
    rp.w_recency = 0.5f;
    rp.w_act = 0.5f;
    CHECK_RC(cogmem_recall(s, q, COGMEM_ALL_KINDS, 8, &rp, rh, &nh), 0);
    cogmem_source src[2] = {{1, 1.0f}, {101, 0.5f}};
    cogmem_spread_params sp;
    cogmem_spread_params_init(&sp);
    sp.max_depth = 3;
    sp.add_base_level = 1;
    sp.now_ns = tpl->t0;
    cogmem_hit hits[32];
    size_t no = 0;
    CHECK_RC(cogmem_spread(s, src, 2, &sp, hits, 32, &no), 0);
    for (int m = 0; m < 2; m++) {
        cogmem_decay_params dp;
        cogmem_decay_params_init(&dp);
        dp.model = m ? COGMEM_DECAY_EXP : COGMEM_DECAY_POWER;
        dp.prune_below = 0.0f;
        CHECK_RC(cogmem_decay(s, &dp, tpl->t0 + 3600000000000ull * (uint64_t)(m + 1), NULL), 0);
        CHECK_RC(cogmem_foreach(s, COGMEM_CONCEPT, strengths_ok, s), 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* cogmem_check_mapped_rows' callback: whether it named `want`. */
struct bad_rows {
    uint64_t want;
    int seen;
};

static int note_bad_row(uint64_t id, int kind, void *arg)
{
    struct bad_rows *b = arg;
    CHECK(kind == COGMEM_CONCEPT || kind == COGMEM_EPISODE);
    b->seen |= id == b->want;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int registered;
    if (!registered) {
        atexit(drop_templates);
        registered = 1;
    }
    int which = size ? data[0] & 1 : 0, mmap = size ? (data[0] >> 1) & 1 : 0;
    tpl = &tpls[which];
    if (!tpl->ready)
        build_template(which);
    if (size) { /* the edits follow the template's byte */
        data++;
        size--;
    }
    unsigned char *snap = malloc(tpl->f.snap_n), *seg = malloc(tpl->f.seg_n);
    CHECK(snap && seg);
    memcpy(snap, tpl->f.snap, tpl->f.snap_n);
    memcpy(seg, tpl->f.seg, tpl->f.seg_n);
    for (size_t i = 0; i + 12 <= size && i < 12 * MAX_EDITS; i += 12)
        apply_edit(snap, seg, data + i);
    (void)craft_reseal_snapshot(snap, tpl->f.snap_n);
    craft_reseal_segment(seg, tpl->f.seg_n);

    char *dir = test_tmpdir("fuzz-open");
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, tpl->f.snap_name);
    craft_write_file(path, snap, tpl->f.snap_n);
    snprintf(path, sizeof path, "%s/%s", dir, tpl->f.seg_name);
    craft_write_file(path, seg, tpl->f.seg_n);
    free(snap);
    free(seg);
    cogmem_config cfg = test_config(dir, DIM, COGMEM_DURABLE_PROCESS);
    cfg.open_mode = mmap ? COGMEM_OPEN_MMAP : COGMEM_OPEN_COPY;
    cogmem_store *s = NULL;
    struct cogmem_open_report rep = {.struct_size = sizeof rep};
    int rc = cogmem_open_report(&cfg, &s, &rep);
    if (getenv("FUZZ_OPEN_VERBOSE")) /* what a replayed input did */
        fprintf(stderr, "fuzz_open: open %d (%s)%s%s %s @%llu: %s\n", rc, cogmem_strerror(rc),
                rc ? "; " : "", rep.bad_file, rep.bad_section,
                (unsigned long long)rep.bad_offset, rep.detail);
    if (rc == -EBADMSG) {
        CHECK(s == NULL && rep.bad_file[0]);
    } else {
        if (rc != 0) {
            fprintf(stderr, "fuzz_open: open gave %d (%s); %s %s @%llu: %s\n", rc,
                    cogmem_strerror(rc), rep.bad_file, rep.bad_section,
                    (unsigned long long)rep.bad_offset, rep.detail);
            abort();
        }
        /* What a COPY open loaded, verify passes: it checks what that
         * open checks of the snapshot. */
        snprintf(path, sizeof path, "%s/%s", dir, tpl->f.snap_name);
        cogmem_snapshot_summary sum = {.struct_size = sizeof sum};
        if (!mmap && cogmem_snapshot_verify(path, &sum) != 0) {
            fprintf(stderr, "fuzz_open: a COPY open loaded a snapshot that verify refuses: "
                    "%s @%llu: %s\n", sum.bad_section, (unsigned long long)sum.bad_offset,
                    sum.detail);
            abort();
        }
        struct sbuf before = {0}, after = {0};
        state_dump(s, &before, NULL, 0);
        struct cogmem_snapshot_report srep = {.struct_size = sizeof srep};
        rc = cogmem_snapshot_report(s, &srep);
        if (getenv("FUZZ_OPEN_VERBOSE"))
            fprintf(stderr, "fuzz_open: snapshot %d%s kind %d id %llu: %s\n", rc,
                    rc ? ", refused:" : ";", srep.bad_kind, (unsigned long long)srep.bad_id,
                    srep.detail);
        if (rc == -EBADMSG && mmap) {
            /* The checks the MMAP open put off refused a row: it names a
             * live node of the mapped file, which verify refuses too, and
             * the store and its directory are as they were. */
            CHECK(srep.bad_kind == COGMEM_CONCEPT || srep.bad_kind == COGMEM_EPISODE);
            CHECK_RC(cogmem_kind_of(s, srep.bad_id), srep.bad_kind);
            CHECK(strcmp(srep.mapped_file, tpl->f.snap_name) == 0 && srep.snapshot[0] == 0);
            CHECK_RC(cogmem_snapshot_verify(path, &sum), -EBADMSG);
            struct bad_rows br = {.want = srep.bad_id};
            uint64_t failed = 0;
            CHECK_RC(cogmem_check_mapped_rows(s, note_bad_row, &br, &failed), 0);
            CHECK(failed >= 1 && br.seen); /* the walk names it too */
        } else {
            CHECK_RC(rc, 0);
            /* A snapshot is good for either mode, whatever mode wrote it:
             * reopen it in COPY, which checks every row. */
            cfg.open_mode = COGMEM_OPEN_COPY;
        }
        CHECK_RC(cogmem_close(&s), 0);
        rc = cogmem_open_report(&cfg, &s, &rep);
        if (rc) {
            fprintf(stderr, "fuzz_open: the snapshot of what opened does not reopen: %s; "
                    "%s %s @%llu: %s\n", cogmem_strerror(rc), rep.bad_file, rep.bad_section,
                    (unsigned long long)rep.bad_offset, rep.detail);
            abort();
        }
        state_dump(s, &after, NULL, 0);
        if (state_diff(&before, &after, "fuzz_open: a snapshot of what opened, reopened"))
            abort();
        exercise(s);
        CHECK_RC(cogmem_close(&s), 0);
        free(before.p);
        free(after.p);
    }
    test_rmdir(dir);
    free(dir);
    return 0;
}
