/* Damaged files: what opening a damaged directory does.
 *   - The journal cut at every byte of its last records: the open works,
 *     recovers the valid prefix (more records the longer the file) and
 *     reports the bytes it dropped; the full file drops none.
 *   - A flipped bit in a journal record that is not the last: -EBADMSG
 *     naming the segment, "record" and the offset. In the last record: a
 *     torn tail (valid prefix recovered).
 *   - A snapshot cut at chosen offsets, or with a flipped bit in the
 *     header, the section table, the footer or any section: -EBADMSG,
 *     naming the file and the section; cogmem_snapshot_verify() says the
 *     same, and on the intact file 0 with the right counts.
 *   - A newer format major or an unknown incompatible feature, in a
 *     snapshot or a segment: -EPROTONOSUPPORT.
 *   - A snapshot whose content is wrong but whose every checksum was
 *     recomputed (a hostile or buggy writer): a record's norm that its
 *     row does not have, a NaN or an infinity in a row, a row whose norm
 *     overflows float, a non-zero byte in a row's padding. A COPY open
 *     refuses each with -EBADMSG, naming the record or the row; the same
 *     file resealed unchanged opens to the same state (so the refusals
 *     are not checksum failures).
 *   - A binding, in a snapshot or in a journal's CLIST record (both
 *     checksums recomputed), whose decay time is before its touch time:
 *     refused (-EBADMSG, naming it), since a POWER decay of it would raise
 *     its strength past 1. A creation time after the touch time, which a
 *     clock stepping back can give, still loads. */
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <sys/stat.h>
#include <time.h>
#include <xxhash.h>

#include "src/persist/format.h"
#include "tests/persist/craft.h"
#include "tests/persist/state.h"

#define DIM 8

static cogmem_config config(const char *dir)
{
    return test_config(dir, DIM, COGMEM_DURABLE_PROCESS);
}

static void vec(float *v, uint64_t id)
{
    for (int i = 0; i < DIM; i++)
        v[i] = 1.0f + (float)((id * 3 + (uint64_t)i) % 11);
}

static char snap_name[CRAFT_NAME_MAX], seg_name[CRAFT_NAME_MAX];

static void find_files(const char *dir)
{
    craft_find_files(dir, snap_name, seg_name);
}

/* Open a copy of `base` whose file `name` is replaced by b[0..n). */
static int open_damaged(const char *base, const char *name, const unsigned char *b, size_t n,
                        struct cogmem_open_report *rep, struct sbuf *state)
{
    char *dir = test_tmpdir("corrupt");
    test_copydir(base, dir);
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    craft_write_file(path, b, n);
    cogmem_config cfg = config(dir);
    cogmem_store *s = NULL;
    memset(rep, 0, sizeof *rep);
    rep->struct_size = sizeof *rep;
    int rc = cogmem_open_report(&cfg, &s, rep);
    if (rc == 0) {
        if (state) {
            state->n = 0;
            state_dump(s, state, NULL, 0);
        }
        CHECK_RC(cogmem_close(&s), 0);
    } else {
        CHECK(s == NULL);
    }
    test_rmdir(dir);
    free(dir);
    return rc;
}

int main(void)
{
    char *base = test_tmpdir("corrupt-base");
    cogmem_config cfg = config(base);
    cogmem_store *s = NULL;
    CHECK_RC(cogmem_open(&cfg, &s), 0);
    float v[DIM];
    for (uint64_t i = 1; i <= 40; i++) {
        vec(v, i);
        CHECK_RC(cogmem_concept_add(s, i, v), 0);
        CHECK_RC(cogmem_episode_add(s, 100 + i, v, i), 0);
        CHECK_RC(cogmem_bind(s, 100 + i, i, 0.5f), 0);
        CHECK_RC(cogmem_touch(s, i, 1000 + i), 0);
    }
    CHECK_RC(cogmem_snapshot(s), 0);
    /* The journal after the snapshot: a few records of each size. */
    vec(v, 77);
    CHECK_RC(cogmem_concept_add(s, 77, v), 0);
    CHECK_RC(cogmem_bind(s, 101, 77, 0.75f), 0);
    CHECK_RC(cogmem_touch(s, 77, 5000), 0);
    CHECK_RC(cogmem_binding_adjust(s, 101, 77, -0.25f, NULL), 0);
    struct sbuf full = {0}, got = {0};
    state_dump(s, &full, NULL, 0);
    CHECK_RC(cogmem_close(&s), 0);
    find_files(base);
    CHECK(snap_name[0] && seg_name[0]);
    char path[4200];
    struct cogmem_open_report rep;

    /* --- journal truncation at every byte of its records */
    snprintf(path, sizeof path, "%s/%s", base, seg_name);
    size_t jn;
    unsigned char *jb = craft_read_file(path, &jn);
    CHECK(jn > sizeof(struct cogmem__jrn_header));
    uint64_t prev = 0;
    for (size_t cut = sizeof(struct cogmem__jrn_header); cut <= jn; cut++) {
        CHECK_RC(open_damaged(base, seg_name, jb, cut, &rep, &got), 0);
        CHECK(rep.records_replayed >= prev); /* a longer file never loses records */
        prev = rep.records_replayed;
        CHECK(rep.tail_bytes_dropped <= cut);
        if (cut == jn) {
            CHECK(rep.tail_bytes_dropped == 0 && rep.records_replayed == 4);
            CHECK(!state_diff(&full, &got, "whole journal"));
        }
    }
    /* A header cut short: the segment is dropped as a torn tail. */
    CHECK_RC(open_damaged(base, seg_name, jb, 20, &rep, NULL), 0);
    CHECK(rep.records_replayed == 0 && rep.tail_bytes_dropped == 20);

    /* --- a flipped bit in the first record (not the last): corrupt */
    size_t first = sizeof(struct cogmem__jrn_header);
    unsigned char *jc = malloc(jn);
    for (size_t at = first; at < first + 60; at += 7) {
        memcpy(jc, jb, jn);
        jc[at] ^= 0x10;
        CHECK_RC(open_damaged(base, seg_name, jc, jn, &rep, NULL), -EBADMSG);
        CHECK(!strcmp(rep.bad_file, seg_name) && !strcmp(rep.bad_section, "record"));
        CHECK(rep.bad_offset == first);
    }
    /* ... in the last record: a torn tail, the rest recovered */
    memcpy(jc, jb, jn);
    jc[jn - 3] ^= 0x01;
    CHECK_RC(open_damaged(base, seg_name, jc, jn, &rep, NULL), 0);
    CHECK(rep.records_replayed == 3 && rep.tail_bytes_dropped > 0);
    /* ... in the segment header */
    memcpy(jc, jb, jn);
    jc[40] ^= 0x01;
    CHECK_RC(open_damaged(base, seg_name, jc, jn, &rep, NULL), -EBADMSG);
    CHECK(!strcmp(rep.bad_section, "header"));
    /* a newer major, with a valid checksum */
    struct cogmem__jrn_header jh;
    memcpy(jc, jb, jn);
    memcpy(&jh, jc, sizeof jh);
    jh.major = COGMEM_FORMAT_MAJOR + 1;
    jh.xxh3 = 0;
    jh.xxh3 = XXH3_64bits(&jh, sizeof jh);
    memcpy(jc, &jh, sizeof jh);
    CHECK_RC(open_damaged(base, seg_name, jc, jn, &rep, NULL), -EPROTONOSUPPORT);

    /* --- the snapshot */
    snprintf(path, sizeof path, "%s/%s", base, snap_name);
    cogmem_snapshot_summary sum = {.struct_size = sizeof sum};
    CHECK_RC(cogmem_snapshot_verify(path, &sum), 0);
    CHECK(sum.concepts == 40 && sum.episodes == 40 && sum.bindings == 40 &&
          sum.histories == 40 && sum.dim == DIM && sum.nsections == 8);
    size_t sn;
    unsigned char *sb = craft_read_file(path, &sn);
    unsigned char *sc = malloc(sn);
    size_t cuts[] = {0, 1, 100, 4095, 4096, 8192, sn / 2, sn - 64, sn - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        CHECK_RC(open_damaged(base, snap_name, sb, cuts[i], &rep, NULL), -EBADMSG);
        CHECK(!strcmp(rep.bad_file, snap_name));
    }
    /* One flip in every section (mid-section), the header, the table and
     * the footer; each named. */
    char vpath[4300];
    for (unsigned i = 0; i < sum.nsections; i++) {
        const cogmem_snapshot_section *sec = &sum.sections[i];
        if (sec->length == 0)
            continue;
        memcpy(sc, sb, sn);
        sc[sec->offset + sec->length / 2] ^= 0x04;
        CHECK_RC(open_damaged(base, snap_name, sc, sn, &rep, NULL), -EBADMSG);
        if (strcmp(rep.bad_section, sec->name)) {
            fprintf(stderr, "flip in %s reported in %s\n", sec->name, rep.bad_section);
            return 1;
        }
        CHECK(rep.bad_offset >= sec->offset && rep.bad_offset < sec->offset + sec->length);
        snprintf(vpath, sizeof vpath, "%s.damaged", path);
        craft_write_file(vpath, sc, sn);
        cogmem_snapshot_summary vs = {.struct_size = sizeof vs};
        CHECK_RC(cogmem_snapshot_verify(vpath, &vs), -EBADMSG);
        CHECK(!strcmp(vs.bad_section, sec->name));
        unlink(vpath);
    }
    struct { size_t at; const char *sec; } spots[] = {
        {20, "header"}, {60, "header"}, {2000, "header"},
        {sn - 64 - 384 + 3, "table"}, {sn - 64 - 20, "footer"}, {sn - 10, "footer"}, {sn - 60, "footer"}};
    for (size_t i = 0; i < sizeof spots / sizeof *spots; i++) {
        memcpy(sc, sb, sn);
        sc[spots[i].at] ^= 0x02;
        CHECK_RC(open_damaged(base, snap_name, sc, sn, &rep, NULL), -EBADMSG);
        if (strcmp(rep.bad_section, spots[i].sec)) {
            fprintf(stderr, "flip %zu at %zu: reported in %s, expected %s\n", i, spots[i].at,
                    rep.bad_section, spots[i].sec);
            return 1;
        }
    }
    /* newer major / unknown incompatible feature, checksums valid */
    for (int w = 0; w < 2; w++) {
        struct cogmem__snap_header h;
        memcpy(sc, sb, sn);
        memcpy(&h, sc, sizeof h);
        if (w)
            h.incompat |= 1ull << 40;
        else
            h.major = COGMEM_FORMAT_MAJOR + 1;
        h.xxh3 = 0;
        h.xxh3 = XXH3_64bits(&h, sizeof h);
        memcpy(sc, &h, sizeof h);
        CHECK_RC(open_damaged(base, snap_name, sc, sn, &rep, NULL), -EPROTONOSUPPORT);
    }
    /* --- crafted content, every checksum recomputed */
    {
        struct cogmem__snap_header h;
        memcpy(&h, sb, sizeof h);
        struct cogmem__snap_section sec[COGMEM__SEC_N];
        memcpy(sec, sb + h.table_off, sizeof sec);
        CHECK(h.row_bytes == 64 && DIM * sizeof(float) < h.row_bytes); /* rows have padding */
        memcpy(sc, sb, sn);
        CHECK(craft_reseal_snapshot(sc, sn) == 0);
        CHECK(!memcmp(sc, sb, sn)); /* reseal computes what the writer wrote */
        sc[sec[0].off + 3 * sizeof(struct cogmem__snap_node) +
           offsetof(struct cogmem__snap_node, touched_ns) + 2] ^= 0x01; /* a touch time */
        CHECK(craft_reseal_snapshot(sc, sn) == 0);
        CHECK_RC(open_damaged(base, snap_name, sc, sn, &rep, &got), 0);
        CHECK(got.n != full.n || memcmp(got.p, full.p, got.n)); /* the edit is seen ... */
        memcpy(sc, sb, sn);
        CHECK(craft_reseal_snapshot(sc, sn) == 0);
        CHECK_RC(open_damaged(base, snap_name, sc, sn, &rep, &got), 0);
        CHECK(!state_diff(&full, &got, "resealed, unchanged")); /* ... and nothing else is */
        /* Each edit writes `value` to row[at] (SET), sets the record's
         * norm to `norm` (NORM; 0 for twice its own), both, zeroes the
         * row and its norm (ZERO), or writes a byte of the row's padding
         * (PAD, at = the byte). ZERO | SET | NORM with value FLT_MAX makes
         * the row (FLT_MAX, 0.04 FLT_MAX, 0, ...), whose norm, 1.0008
         * FLT_MAX, is within 1e-3 of the recorded FLT_MAX but overflows
         * float: a write refuses it (-ERANGE), so a load must too. */
        enum { SET = 1, NORM = 2, ZERO = 4, PAD = 8 };
        struct { int k; uint32_t row; int op; uint32_t at; float value, norm; } edits[] = {
            {0, 5, NORM, 0, 0, 0},                  /* concept 5's norm, doubled */
            {1, 9, NORM, 0, 0, 0},                  /* episode 9's norm, doubled */
            {0, 7, SET, 3, NAN, 0},                 /* concept 7's row[3] */
            {1, 2, SET, 0, -INFINITY, 0},           /* episode 2's row[0] */
            {0, 6, SET | NORM, 1, NAN, 2e19f},      /* a NaN and a norm no row has */
            {0, 4, SET, 7, 1e30f, 0},               /* finite, its norm wrong */
            {0, 8, NORM, 0, 0, INFINITY},           /* an infinite norm */
            {1, 3, NORM, 0, 0, NAN},                /* a NaN norm */
            {1, 6, ZERO, 0, 0, 0},                  /* a zero vector: no cosine */
            {1, 11, PAD, 37, 0, 0},                 /* episode 11's padding */
            {0, 2, ZERO | SET | NORM, 0, FLT_MAX, FLT_MAX}, /* a norm over float's */
        };
        for (size_t e = 0; e < sizeof edits / sizeof *edits; e++) {
            memcpy(sc, sb, sn);
            uint64_t rec = sec[edits[e].k].off + edits[e].row * sizeof(struct cogmem__snap_node);
            uint64_t row = sec[2 + edits[e].k].off + edits[e].row * (uint64_t)h.row_bytes;
            unsigned char *normp = sc + rec + offsetof(struct cogmem__snap_node, norm);
            const char *want = edits[e].k ? "episode-meta" : "concept-meta";
            uint64_t want_at = rec;
            int op = edits[e].op;
            if (op & ZERO) {
                memset(sc + row, 0, DIM * sizeof(float));
                memset(normp, 0, 4);
            }
            if (op & SET)
                memcpy(sc + row + 4 * edits[e].at, &edits[e].value, 4);
            if ((op & ZERO) && (op & SET)) {
                float second = 0.04f * edits[e].value;
                memcpy(sc + row + 4 * (edits[e].at + 1), &second, 4);
            }
            if (op & NORM) {
                float norm;
                memcpy(&norm, normp, 4);
                norm = edits[e].norm == 0.0f ? 2.0f * norm : edits[e].norm;
                memcpy(normp, &norm, 4);
            }
            if (op & PAD) {
                sc[row + edits[e].at] = 0x5a;
                want = edits[e].k ? "episode-vectors" : "concept-vectors";
                want_at = row + edits[e].at;
            }
            CHECK(craft_reseal_snapshot(sc, sn) == 0);
            int rc = open_damaged(base, snap_name, sc, sn, &rep, NULL);
            if (rc != -EBADMSG || strcmp(rep.bad_file, snap_name) ||
                strcmp(rep.bad_section, want) || rep.bad_offset != want_at) {
                fprintf(stderr, "crafted edit %zu: rc %d, %s / %s at %llu (want %s at %llu)\n",
                        e, rc, rep.bad_file, rep.bad_section,
                        (unsigned long long)rep.bad_offset, want, (unsigned long long)want_at);
                return 1;
            }
        }
    }

    /* --- a binding's times, every checksum recomputed */
    {
        struct cogmem__snap_header h;
        memcpy(&h, sb, sizeof h);
        struct cogmem__snap_section sec[COGMEM__SEC_N];
        memcpy(sec, sb + h.table_off, sizeof sec);
        const uint64_t at = sec[5].off + sizeof(struct cogmem__snap_blist); /* list 0, entry 0 */
        struct cogmem__snap_bind b0;
        memcpy(&b0, sb + at, sizeof b0);
        CHECK(b0.episode != 0 && b0.decayed_ns >= b0.touched_ns);
        /* created after touched (a clock stepped back), decayed later than
         * touched: a store can hold both; the edit shows in the state */
        struct cogmem__snap_bind b = b0;
        b.created_ns = b.touched_ns + 5;
        b.decayed_ns = b.touched_ns + 7;
        memcpy(sc, sb, sn);
        memcpy(sc + at, &b, sizeof b);
        CHECK(craft_reseal_snapshot(sc, sn) == 0);
        CHECK_RC(open_damaged(base, snap_name, sc, sn, &rep, &got), 0);
        CHECK(got.n != full.n || memcmp(got.p, full.p, got.n));
        /* decayed before touched */
        b = b0;
        b.decayed_ns = b.touched_ns - 10000000000ull;
        memcpy(sc, sb, sn);
        memcpy(sc + at, &b, sizeof b);
        CHECK(craft_reseal_snapshot(sc, sn) == 0);
        CHECK_RC(open_damaged(base, snap_name, sc, sn, &rep, NULL), -EBADMSG);
        CHECK(!strcmp(rep.bad_file, snap_name) && !strcmp(rep.bad_section, "bindings"));
        CHECK(rep.bad_offset == at);
    }
    /* ... and in a journal: a store whose whole history is its segment,
     * the last record a decay's CLIST record of the one binding. */
    {
        char *cb = test_tmpdir("corrupt-clist");
        cogmem_config cc = config(cb);
        cogmem_store *s2 = NULL;
        CHECK_RC(cogmem_open(&cc, &s2), 0);
        vec(v, 1);
        CHECK_RC(cogmem_concept_add(s2, 1, v), 0);
        CHECK_RC(cogmem_episode_add(s2, 2, v, 0), 0);
        CHECK_RC(cogmem_bind(s2, 2, 1, 0.5f), 0);
        cogmem_decay_params dp;
        cogmem_decay_params_init(&dp);
        dp.prune_below = 0.0f;
        CHECK_RC(cogmem_decay(s2, &dp, (uint64_t)time(NULL) * 1000000000ull + 60000000000ull,
                              NULL), 0);
        CHECK_RC(cogmem_close(&s2), 0);
        find_files(cb);
        snprintf(path, sizeof path, "%s/%s", cb, seg_name);
        size_t cn;
        unsigned char *cj = craft_read_file(path, &cn);
        struct cogmem__jrn_header ch;
        memcpy(&ch, cj, sizeof ch);
        /* Walk to the last record; it must be the CLIST of one binding. */
        size_t off = sizeof ch, last = 0, nrec = 0;
        while (off < cn) {
            struct cogmem__jrn_rec r;
            memcpy(&r, cj + off, sizeof r);
            last = off;
            off += cogmem__jrn_rec_bytes(r.len);
            nrec++;
        }
        CHECK(off == cn && nrec == 4);
        struct cogmem__jrn_rec r;
        memcpy(&r, cj + last, sizeof r);
        CHECK(r.type == COGMEM__J_CLIST &&
              r.len == sizeof(struct cogmem__jp_clist) + sizeof(struct cogmem__snap_bind));
        const size_t eat = last + sizeof r + sizeof(struct cogmem__jp_clist);
        struct cogmem__snap_bind e0;
        memcpy(&e0, cj + eat, sizeof e0);
        CHECK(e0.episode == 2 && e0.decayed_ns > e0.touched_ns);
        unsigned char *ce = malloc(cn);
        memcpy(ce, cj, cn);
        craft_reseal_segment(ce, cn);
        CHECK(!memcmp(ce, cj, cn)); /* reseal computes what the writer wrote */
        for (int bad = 0; bad < 2; bad++) {
            struct cogmem__snap_bind e = e0;
            if (bad)
                e.decayed_ns = e.touched_ns - 1;
            else
                e.touched_ns = e.decayed_ns; /* equal: allowed */
            memcpy(ce, cj, cn);
            memcpy(ce + eat, &e, sizeof e);
            craft_reseal_segment(ce, cn);
            int rc = open_damaged(cb, seg_name, ce, cn, &rep, NULL);
            if (!bad) { /* resealed right: replayed, not dropped as a torn tail */
                CHECK_RC(rc, 0);
                CHECK(rep.records_replayed == 4 && rep.tail_bytes_dropped == 0);
            } else {
                CHECK_RC(rc, -EBADMSG);
                CHECK(!strcmp(rep.bad_file, seg_name) && !strcmp(rep.bad_section, "record"));
                CHECK(rep.bad_offset == last);
            }
        }
        free(ce);
        free(cj);
        test_rmdir(cb);
        free(cb);
        find_files(base); /* the names the rest of the test uses */
    }

    /* Not a snapshot at all. */
    CHECK_RC(cogmem_snapshot_verify(base, NULL) < 0, 1);
    snprintf(vpath, sizeof vpath, "%s/none.cgs", base);
    CHECK_RC(cogmem_snapshot_verify(vpath, NULL), -ENOENT);

    free(jb);
    free(jc);
    free(sb);
    free(sc);
    free(full.p);
    free(got.p);
    test_rmdir(base);
    free(base);
    puts("corrupt ok");
    return 0;
}
