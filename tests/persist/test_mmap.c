/* COGMEM_OPEN_MMAP: vectors served from a read-only mapping of the
 * snapshot.
 *   - the rows are in a PROT_READ shared mapping of the snapshot file
 *     (/proc/self/maps), and the state (records, vectors, bindings,
 *     recall and spread results) equals a COPY open's bit for bit;
 *   - replacing, blending, removing mapped rows and adding new ones work,
 *     and no page of the file is written: its bytes and mtime are the
 *     same after all that and the close;
 *   - a mapped row, once retired and reclaimed, is never handed out again
 *     (every later add gets an anonymous row);
 *   - corrupt metadata is -EBADMSG as in COPY; a corrupt vector row is
 *     not looked at (documented), cogmem_snapshot_verify and COPY find it;
 *   - the row checks the open put off are made by its snapshots
 *     (put_off_checks, put_off_norm): a row whose chunk checksum fails, or
 *     which disagrees with its norm, is refused by name, nothing is
 *     written, cogmem_check_mapped_rows names every such row in one walk,
 *     and once they are retired the snapshot goes through and a COPY open
 *     loads it;
 *   - bf16_rows with MMAP is -EOPNOTSUPP, an unknown mode -EINVAL, and a
 *     caller whose cogmem_config ends before open_mode gets COPY;
 *   - a COPY open of a bf16 store rebuilds every row's bf16 copy. */
#include <fcntl.h>
#include <stddef.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "src/persist/internal.h"
#include "tests/persist/craft.h"
#include "tests/persist/state.h"

#define DIM 1000 /* 4000 bytes of floats, rows padded to 4032 */
#define N 1500 /* concepts and episodes each: two slab chunks of 1024 rows */
#define NQ 3

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void rvec(float *v)
{
    for (int i = 0; i < DIM; i++)
        v[i] = (float)(rnd() % 2000001) / 1000000.0f - 1.0f;
    v[0] += 2.0f;
}

static cogmem_store *open_mode(const char *dir, int mode, int durability,
                               struct cogmem_open_report *rep)
{
    cogmem_config cfg = test_config(dir, DIM, durability);
    cfg.open_mode = mode;
    cogmem_store *s = NULL;
    CHECK_RC(cogmem_open_report(&cfg, &s, rep), 0);
    return s;
}

static char *snapshot_path(const char *dir)
{
    DIR *d = opendir(dir);
    CHECK(d);
    struct dirent *e;
    char *p = NULL;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, "snap-", 5)) {
            p = malloc(4200);
            snprintf(p, 4200, "%s/%s", dir, e->d_name);
        }
    closedir(d);
    CHECK(p);
    return p;
}

struct filestate {
    uint64_t xxh3;
    struct timespec mtime;
    off_t size;
};

static struct filestate file_state(const char *path)
{
    struct filestate f;
    struct stat sb;
    CHECK(stat(path, &sb) == 0);
    f.mtime = sb.st_mtim;
    f.size = sb.st_size;
    char *buf = malloc((size_t)sb.st_size);
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0 && buf);
    CHECK(read(fd, buf, (size_t)sb.st_size) == sb.st_size);
    close(fd);
    f.xxh3 = XXH3_64bits(buf, (size_t)sb.st_size);
    free(buf);
    return f;
}

/* The mapping holding address p: its permissions and file ("" none). */
static void mapping_of(const void *p, char perms[5], char *file, size_t cap)
{
    FILE *m = fopen("/proc/self/maps", "r");
    CHECK(m);
    char line[4400];
    perms[0] = 0;
    file[0] = 0;
    while (fgets(line, sizeof line, m)) {
        unsigned long lo, hi;
        char pr[5];
        int at = 0;
        if (sscanf(line, "%lx-%lx %4s %*s %*s %*s %n", &lo, &hi, pr, &at) < 3)
            continue;
        if ((uintptr_t)p >= lo && (uintptr_t)p < hi) {
            memcpy(perms, pr, 5);
            snprintf(file, cap, "%s", line + at);
            file[strcspn(file, "\n")] = 0;
            break;
        }
    }
    fclose(m);
}

static void flip(const char *path, uint64_t off)
{
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0);
    unsigned char c;
    CHECK(pread(fd, &c, 1, (off_t)off) == 1);
    c ^= 0x10;
    CHECK(pwrite(fd, &c, 1, (off_t)off) == 1);
    close(fd);
}

/* The names in dir, sorted, one per line. */
static void dir_names(const char *dir, char *out, size_t cap)
{
    char names[16][256];
    int n = 0;
    DIR *d = opendir(dir);
    CHECK(d);
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && n < 16)
            snprintf(names[n++], sizeof names[0], "%s", e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], (int (*)(const void *, const void *))strcmp);
    out[0] = 0;
    for (int i = 0; i < n; i++)
        snprintf(out + strlen(out), cap - strlen(out), "%s\n", names[i]);
}

static uint32_t row_of(cogmem_store *s, uint64_t id)
{
    const cogmem_vec *cv;
    CHECK_RC(cogmem_vec_get(s, id, &cv), 0);
    uint32_t r = cv->row;
    cogmem_vec_put(cv);
    return r;
}

/* cogmem_check_mapped_rows' callback: stop with w->stop if it is set,
 * else replace the node's centroid with a new vector kept in w->kept. */
struct walk {
    cogmem_store *s;
    float *kept;
    int stop;
    uint64_t calls, replaced;
};

static int walk_fn(uint64_t id, int kind, void *arg)
{
    struct walk *w = arg;
    w->calls++;
    CHECK(kind == COGMEM_CONCEPT && id >= 1 && id <= N);
    if (w->stop)
        return w->stop;
    rvec(w->kept + (id - 1) * DIM);
    CHECK_RC(cogmem_concept_set_centroid(w->s, id, w->kept + (id - 1) * DIM), 0);
    w->replaced++;
    return 0;
}

/* The checks an MMAP open puts off, made by its snapshots: `dir` holds a
 * snapshot `snap` whose concept row 10 has a flipped bit (chunk 0's
 * checksum fails; the norm still agrees). The snapshot refuses every
 * mapped row of that chunk, one per call, naming it, and writes nothing;
 * cogmem_check_mapped_rows names all the others in one walk; once they
 * are all replaced the snapshot goes through and a COPY open loads it. */
static void put_off_checks(const char *dir, const char *snap, uint32_t row_bytes)
{
    cogmem_config cfg = test_config(dir, DIM, COGMEM_DURABLE_NONE);
    cfg.open_mode = COGMEM_OPEN_MMAP;
    cogmem_store *s = NULL;
    CHECK_RC(cogmem_open(&cfg, &s), 0);
    const uint32_t last = (uint32_t)((4u << 20) / row_bytes); /* last row in chunk 0 */
    char before[2048], after[2048];
    dir_names(dir, before, sizeof before);
    struct cogmem_snapshot_report sr = {.struct_size = sizeof sr - 1};
    CHECK_RC(cogmem_snapshot_report(s, &sr), -EINVAL); /* too small: nothing done */
    sr.struct_size = sizeof sr;
    uint64_t named[2];
    float v[DIM];
    for (int round = 0; round < 2; round++) {
        CHECK_RC(cogmem_snapshot_report(s, &sr), -EBADMSG);
        CHECK(sr.error == -EBADMSG && sr.bad_kind == COGMEM_CONCEPT && sr.snapshot[0] == 0);
        CHECK(!strcmp(sr.mapped_file, strrchr(snap, '/') + 1));
        CHECK(strstr(sr.detail, "vector chunk 0 ") && strstr(sr.detail, "checksum"));
        CHECK(row_of(s, sr.bad_id) <= last);
        named[round] = sr.bad_id;
        dir_names(dir, after, sizeof after);
        CHECK(!strcmp(before, after)); /* no file added or removed */
        rvec(v); /* retire the named row; the next call names another */
        CHECK_RC(cogmem_concept_set_centroid(s, sr.bad_id, v), 0);
    }
    CHECK(named[0] != named[1]);
    CHECK_RC(cogmem_snapshot(s), -EBADMSG);
    /* All the others in one walk: each mapped row of chunk 0 (rows
     * 0..last, the last one straddling into chunk 1) but the two already
     * replaced, which the callback replaces in turn. A non-zero return
     * stops the walk at once. */
    uint64_t failed = 9;
    struct walk w = {.s = s, .stop = 7};
    CHECK_RC(cogmem_check_mapped_rows(s, walk_fn, &w, &failed), 7);
    CHECK(failed == 1 && w.calls == 1);
    w = (struct walk){.s = s, .kept = malloc((size_t)N * DIM * sizeof(float))};
    CHECK(w.kept);
    for (uint64_t id = 1; id <= N; id++) {
        const cogmem_vec *cv;
        CHECK_RC(cogmem_vec_get(s, id, &cv), 0);
        memcpy(w.kept + (id - 1) * DIM, cogmem_vec_data(cv), sizeof v);
        cogmem_vec_put(cv);
    }
    CHECK_RC(cogmem_check_mapped_rows(s, walk_fn, &w, &failed), 0);
    CHECK(failed == last + 1 - 2 && w.calls == failed && w.replaced == failed);
    CHECK_RC(cogmem_check_mapped_rows(s, walk_fn, &w, &failed), 0);
    CHECK(failed == 0); /* replaced, or marked as passed */
    float *kept = w.kept;
    CHECK_RC(cogmem_snapshot_report(s, &sr), 0);
    CHECK(sr.error == 0 && sr.bad_kind == 0 && sr.snapshot[0] && !sr.detail[0]);
    /* The marks are kept: the concepts' chunk 1 passed and chunk 0 never
     * did (no row of it is written any more), both episode chunks passed,
     * and so did the concepts' chunk 1 rows (row `last` + 1 is mapped and
     * untouched). */
    const struct cogmem__mapcheck *mc = s->persist->mcheck;
    CHECK(mc[0].chunk_ok[1] && !mc[0].chunk_ok[0] && mc[1].chunk_ok[0] && mc[1].chunk_ok[1]);
    CHECK(mc[0].row_ok[(last + 1) / 8] >> ((last + 1) % 8) & 1);
    CHECK_RC(cogmem_snapshot(s), 0); /* again, from the marks */
    CHECK_RC(cogmem_close(&s), 0);
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, sr.snapshot);
    cogmem_snapshot_summary sum = {.struct_size = sizeof sum};
    CHECK_RC(cogmem_snapshot_verify(path, &sum), -ENOENT); /* replaced by the second */
    char *now = snapshot_path(dir);
    CHECK_RC(cogmem_snapshot_verify(now, &sum), 0);
    CHECK(sum.concepts == sr.concepts && sum.episodes == sr.episodes &&
          sum.bindings == sr.bindings && sum.histories == sr.histories);
    CHECK(sr.concepts == N && sr.episodes == N && sr.bindings == N && sr.histories >= 1);
    cfg.open_mode = COGMEM_OPEN_COPY;
    CHECK_RC(cogmem_open(&cfg, &s), 0);
    w = (struct walk){.s = s, .stop = 1};
    CHECK_RC(cogmem_check_mapped_rows(s, walk_fn, &w, &failed), 0); /* maps nothing */
    CHECK(failed == 0 && w.calls == 0);
    CHECK_RC(cogmem_check_mapped_rows(s, NULL, NULL, &failed), -EINVAL);
    for (uint64_t id = 1; id <= N; id++) {
        const cogmem_vec *cv;
        CHECK_RC(cogmem_vec_get(s, id, &cv), 0);
        CHECK(!memcmp(cogmem_vec_data(cv), kept + (id - 1) * DIM, sizeof v));
        cogmem_vec_put(cv);
    }
    CHECK_RC(cogmem_close(&s), 0);
    free(now);
    free(kept);
}

/* A crafted snapshot (every checksum recomputed) whose first concept
 * record's norm disagrees with its row: verify refuses it at the record,
 * an MMAP open serves it, and its snapshot refuses that one concept until
 * its centroid is replaced. */
static void put_off_norm(const char *good, const char *snap, uint64_t meta_off)
{
    char *dir = test_tmpdir("mmap-norm");
    test_copydir(good, dir);
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, strrchr(snap, '/') + 1);
    size_t n;
    unsigned char *b = craft_read_file(path, &n);
    struct cogmem__snap_node rec;
    memcpy(&rec, b + meta_off, sizeof rec);
    rec.norm *= 1.01f;
    memcpy(b + meta_off, &rec, sizeof rec);
    CHECK(craft_reseal_snapshot(b, n) == 0);
    craft_write_file(path, b, n);
    free(b);
    cogmem_snapshot_summary sum = {.struct_size = sizeof sum};
    CHECK_RC(cogmem_snapshot_verify(path, &sum), -EBADMSG);
    CHECK(!strcmp(sum.bad_section, "concept-meta") && sum.bad_offset == meta_off);
    CHECK(strstr(sum.detail, "disagrees with its norm"));
    cogmem_config cfg = test_config(dir, DIM, COGMEM_DURABLE_NONE);
    cfg.open_mode = COGMEM_OPEN_MMAP;
    cogmem_store *s = NULL;
    CHECK_RC(cogmem_open(&cfg, &s), 0);
    struct cogmem_snapshot_report sr = {.struct_size = sizeof sr};
    CHECK_RC(cogmem_snapshot_report(s, &sr), -EBADMSG);
    CHECK(sr.bad_kind == COGMEM_CONCEPT && sr.bad_id == rec.id);
    CHECK(strstr(sr.detail, "disagrees with its norm"));
    float v[DIM];
    rvec(v);
    CHECK_RC(cogmem_concept_set_centroid(s, rec.id, v), 0);
    CHECK_RC(cogmem_snapshot_report(s, &sr), 0);
    CHECK_RC(cogmem_close(&s), 0);
    cfg.open_mode = COGMEM_OPEN_COPY;
    CHECK_RC(cogmem_open(&cfg, &s), 0);
    CHECK_RC(cogmem_close(&s), 0);
    test_rmdir(dir);
    free(dir);
}

int main(void)
{
    char *dir = test_tmpdir("mmap");
    float q[NQ * DIM], v[DIM];
    for (int i = 0; i < NQ; i++)
        rvec(q + i * DIM);
    struct cogmem_open_report rep = {.struct_size = sizeof rep};

    /* A store with both kinds, bindings and a history; one snapshot. */
    cogmem_store *s = open_mode(dir, COGMEM_OPEN_COPY, COGMEM_DURABLE_NONE, &rep);
    for (uint64_t i = 1; i <= N; i++) {
        rvec(v);
        CHECK_RC(cogmem_concept_add(s, i, v), 0);
        rvec(v);
        CHECK_RC(cogmem_episode_add(s, 10000 + i, v, i), 0);
        CHECK_RC(cogmem_bind(s, 10000 + i, 1 + rnd() % i, 0.5f), 0);
    }
    CHECK_RC(cogmem_touch(s, 7, 123456789), 0);
    CHECK_RC(cogmem_snapshot(s), 0);
    CHECK_RC(cogmem_close(&s), 0);
    char *snap = snapshot_path(dir);
    struct filestate f0 = file_state(snap);

    /* Same state as a COPY open, bit for bit. */
    struct sbuf copy = {0}, mapped = {0};
    s = open_mode(dir, COGMEM_OPEN_COPY, COGMEM_DURABLE_NONE, &rep);
    CHECK(s->sets[0].kind.slab.mapped_rows == 0);
    state_dump(s, &copy, q, NQ);
    CHECK_RC(cogmem_close(&s), 0);
    s = open_mode(dir, COGMEM_OPEN_MMAP, COGMEM_DURABLE_NONE, &rep);
    CHECK(rep.concepts == N && rep.episodes == N && rep.bindings == N);
    struct cogmem__slab *cs = &s->sets[0].kind.slab, *es = &s->sets[1].kind.slab;
    CHECK(cs->mapped_rows == N && es->mapped_rows == N && cs->mapped_chunks > 1);
    state_dump(s, &mapped, q, NQ);
    CHECK(!state_diff(&copy, &mapped, "MMAP open vs COPY open"));

    /* The rows are the file's, read-only and shared. */
    const cogmem_vec *cv;
    CHECK_RC(cogmem_vec_get(s, 5, &cv), 0);
    char perms[5], file[4200];
    mapping_of(cogmem_vec_data(cv), perms, file, sizeof file);
    CHECK(!strcmp(perms, "r--s"));
    CHECK(!strcmp(file, snap));
    cogmem_vec_put(cv);

    /* Replace, blend, remove mapped rows; add new ones. */
    uint32_t mapped_top = cs->mapped_chunks * cs->rows_per_chunk;
    for (uint64_t i = 1; i <= N / 2; i++) {
        rvec(v);
        if (i % 3 == 0)
            CHECK_RC(cogmem_concept_set_centroid(s, i, v), 0);
        else if (i % 3 == 1)
            CHECK_RC(cogmem_concept_blend(s, i, v, 0.5f), 0);
        else
            CHECK_RC(cogmem_concept_remove(s, i), 0);
        CHECK_RC(cogmem_episode_remove(s, 10000 + i), 0);
    }
    /* Every retired row reclaimed: mapped ones go FREE and stay out of
     * the free list; then new rows all come from anonymous chunks. */
    cogmem__rcu_barrier();
    uint32_t freed = 0;
    for (uint32_t r = 0; r < N; r++) {
        char *ch = cogmem__slab_chunk(cs, r / cs->rows_per_chunk);
        struct cogmem_vec *h =
            (struct cogmem_vec *)(ch + (size_t)(r % cs->rows_per_chunk) * 64);
        freed += atomic_load(&h->state) == COGMEM__ROW_FREE;
    }
    CHECK(freed == N / 2);
    for (uint64_t i = 1; i <= N; i++) {
        rvec(v);
        CHECK_RC(cogmem_concept_add(s, 50000 + i, v), 0);
        CHECK_RC(cogmem_vec_get(s, 50000 + i, &cv), 0);
        CHECK(cv->row >= mapped_top);
        cogmem_vec_put(cv);
    }
    for (uint64_t i = 1; i <= N / 2; i++) { /* replaced ones too */
        if (i % 3 == 2)
            continue;
        CHECK_RC(cogmem_vec_get(s, i, &cv), 0);
        CHECK(cv->row >= mapped_top);
        cogmem_vec_put(cv);
    }
    /* Recall sees mapped and anonymous rows alike: a new row's own vector
     * finds it first, so does a mapped row's. */
    cogmem_recall_params rp;
    cogmem_recall_params_init(&rp);
    cogmem_recall_hit hit[2];
    size_t got;
    const cogmem_vec *mv;
    CHECK_RC(cogmem_vec_get(s, N, &mv), 0); /* never touched: still mapped */
    CHECK(mv->row < cs->mapped_rows);
    CHECK_RC(cogmem_recall(s, cogmem_vec_data(mv), COGMEM_ALL_KINDS, 2, &rp, hit, &got), 0);
    CHECK(got == 2 && hit[0].id == N);
    cogmem_vec_put(mv);
    CHECK_RC(cogmem_vec_get(s, 50000 + N, &mv), 0);
    CHECK_RC(cogmem_recall(s, cogmem_vec_data(mv), COGMEM_ALL_KINDS, 2, &rp, hit, &got), 0);
    CHECK(got == 2 && hit[0].id == 50000 + N);
    cogmem_vec_put(mv);
    CHECK_RC(cogmem_close(&s), 0);

    /* Nothing of the file was written. */
    struct filestate f1 = file_state(snap);
    CHECK(f1.xxh3 == f0.xxh3 && f1.size == f0.size && f1.mtime.tv_sec == f0.mtime.tv_sec &&
          f1.mtime.tv_nsec == f0.mtime.tv_nsec);

    /* Refused combinations; an older caller's config gets COPY. */
    cogmem_config cfg = test_config(dir, DIM, COGMEM_DURABLE_NONE);
    cfg.open_mode = COGMEM_OPEN_MMAP;
    cfg.bf16_rows = 1;
    CHECK_RC(cogmem_open(&cfg, &s), -EOPNOTSUPP);
    cfg.bf16_rows = 0;
    cfg.open_mode = 2;
    CHECK_RC(cogmem_open(&cfg, &s), -EINVAL);
    cfg.open_mode = COGMEM_OPEN_MMAP;
    cfg.struct_size = offsetof(cogmem_config, open_mode);
    CHECK_RC(cogmem_open(&cfg, &s), 0);
    CHECK(s->cfg.open_mode == COGMEM_OPEN_COPY && s->sets[0].kind.slab.mapped_rows == 0);
    CHECK_RC(cogmem_close(&s), 0);

    /* Corrupt metadata: -EBADMSG, with where. */
    cogmem_snapshot_summary sum = {.struct_size = sizeof sum};
    CHECK_RC(cogmem_snapshot_verify(snap, &sum), 0);
    char *bad = test_tmpdir("mmap-bad");
    test_copydir(dir, bad);
    char *bsnap = snapshot_path(bad);
    flip(bsnap, sum.sections[0].offset + 64 * 3 + 1); /* a concept record */
    cfg = test_config(bad, DIM, COGMEM_DURABLE_NONE);
    cfg.open_mode = COGMEM_OPEN_MMAP;
    CHECK_RC(cogmem_open_report(&cfg, &s, &rep), -EBADMSG);
    CHECK(!strcmp(rep.bad_section, "concept-meta"));
    flip(bsnap, sum.sections[0].offset + 64 * 3 + 1); /* restored */
    flip(bsnap, sum.sections[1].offset + 5);            /* an episode record */
    CHECK_RC(cogmem_open_report(&cfg, &s, &rep), -EBADMSG);
    CHECK(!strcmp(rep.bad_section, "episode-meta"));
    flip(bsnap, sum.sections[1].offset + 5);
    /* A vector row: MMAP does not read it; verify and COPY do. */
    flip(bsnap, sum.sections[2].offset + (uint64_t)sum.row_bytes * 10 + 8);
    CHECK_RC(cogmem_open_report(&cfg, &s, &rep), 0);
    CHECK_RC(cogmem_close(&s), 0);
    CHECK_RC(cogmem_snapshot_verify(bsnap, NULL), -EBADMSG);
    cfg.open_mode = COGMEM_OPEN_COPY;
    CHECK_RC(cogmem_open_report(&cfg, &s, &rep), -EBADMSG);
    CHECK(!strcmp(rep.bad_section, "concept-vectors"));
    put_off_checks(bad, bsnap, sum.row_bytes);
    put_off_norm(dir, snap, sum.sections[0].offset);

    /* COPY of a bf16 store: the vector workers write every row's bf16
     * copy (the file has none). */
    char *bdir = test_tmpdir("mmap-bf16");
    cfg = test_config(bdir, DIM, COGMEM_DURABLE_NONE);
    cfg.bf16_rows = 1;
    CHECK_RC(cogmem_open(&cfg, &s), 0);
    for (uint64_t i = 1; i <= N; i++) {
        rvec(v);
        CHECK_RC(cogmem_concept_add(s, i, v), 0);
    }
    CHECK_RC(cogmem_snapshot(s), 0);
    CHECK_RC(cogmem_close(&s), 0);
    CHECK_RC(cogmem_open(&cfg, &s), 0);
    uint16_t want[DIM];
    for (uint64_t i = 1; i <= N; i++) {
        CHECK_RC(cogmem_vec_get(s, i, &cv), 0);
        cogmem_f32_to_bf16(cogmem_vec_data(cv), DIM, want);
        struct cogmem_vec *h = (struct cogmem_vec *)cv;
        const uint16_t *got16 = cogmem__slab_bf16_of(&s->sets[0].kind.slab, h, h->row);
        CHECK(got16 && !memcmp(got16, want, sizeof want));
        cogmem_vec_put(cv);
    }
    CHECK_RC(cogmem_close(&s), 0);
    test_rmdir(bdir);
    free(bdir);

    test_rmdir(bad);
    test_rmdir(dir);
    free(bsnap);
    free(bad);
    free(snap);
    free(dir);
    free(copy.p);
    free(mapped.p);
    puts("mmap ok");
    return 0;
}
