/* Power cuts, simulated through the file-operations table
 * (src/persist/fileops.h).
 *
 * A scripted single-threaded run (adds, binds, adjusts, touches, blends,
 * removes, decays, snapshots with their rotations and pruning, a spread
 * that stores activations, a forget that stores strengths) goes
 * through a shim that passes every call on to the real file system and
 * records it: creates, truncations, writes with their bytes, fsyncs of
 * files and of the directory, renames, unlinks. After each call of the
 * script returns, the store's state is dumped (state.h): dumps[i] is the
 * state after i calls.
 *
 * Then, for every point K of the recorded log and two ways of losing
 * what was not made durable, the directory a power cut at K would leave
 * is rebuilt in a fresh directory, under the POSIX rules (not ext4's
 * stronger ones):
 *   - a name (create, rename, unlink) is durable once the directory was
 *     fsynced after it; a file's bytes once the file was fsynced after
 *     they were written (fdatasync counts; the writeback hint does not);
 *   - LOSE_ALL: everything not durable at K is lost;
 *   - TORN: of each file's non-durable writes a random number survive
 *     whole and the next is cut (at 1/6 ... 5/6 of its length, one try
 *     each), and of the directory's non-durable name
 *     changes a prefix survives (a journaling file system's order).
 * The rebuilt directory is opened and checked:
 *   - the open succeeds (a snapshot being written at K never hides the
 *     previous one; a torn journal tail is cut off);
 *   - SYNC: the state is dumps[j] with j = every call acknowledged before
 *     K, or that plus the one in flight (no acknowledged call lost,
 *     nothing half-applied);
 *   - INTERVAL: the state is dumps[j] with j at least every call
 *     acknowledged before the last journal fsync preceding K (what the
 *     interval thread had synced: the documented window is the rest) and
 *     at most the calls started before K.
 */
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sys/stat.h>

#include "src/persist/fileops.h"
#include "tests/persist/state.h"

#define DIM 8
#define MAX_INO 256
#define MAX_FD 4096

enum ev_kind { EV_CREATE, EV_TRUNC, EV_WRITE, EV_FSYNC, EV_DIRSYNC, EV_RENAME, EV_UNLINK };

struct ev {
    enum ev_kind kind;
    int ino;
    char name[64], name2[64];
    uint64_t off, len;
    unsigned char *data;
};

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ev *evs;
static size_t nev, capev;
static int recording;

/* The volatile view the shim keeps to interpret calls. */
static int fd_ino[MAX_FD];      /* 0: not ours; -1: the directory */
static uint64_t fd_pos[MAX_FD];
static int fd_append[MAX_FD];
static uint64_t ino_size[MAX_INO];
static char ino_journal[MAX_INO]; /* a jrn-* segment */
static int nino;
static struct {
    char name[64];
    int ino;
} names[MAX_INO];
static int nnames;

static const char *base(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static int name_find(const char *n)
{
    for (int i = 0; i < nnames; i++)
        if (strcmp(names[i].name, n) == 0)
            return i;
    return -1;
}

static void name_drop(const char *n)
{
    int i = name_find(n);
    if (i >= 0)
        names[i] = names[--nnames];
}

static void name_set(const char *n, int ino)
{
    int i = name_find(n);
    if (i < 0) {
        CHECK(nnames < MAX_INO);
        i = nnames++;
        snprintf(names[i].name, sizeof names[i].name, "%s", n);
    }
    names[i].ino = ino;
}

static struct ev *push(enum ev_kind k)
{
    if (nev == capev) {
        capev = capev ? capev * 2 : 1024;
        evs = realloc(evs, capev * sizeof *evs);
        CHECK(evs);
    }
    struct ev *e = &evs[nev++];
    memset(e, 0, sizeof *e);
    e->kind = k;
    return e;
}

static void rec_write(int fd, const void *b, size_t n, uint64_t off)
{
    int ino = fd_ino[fd];
    struct ev *e = push(EV_WRITE);
    e->ino = ino;
    e->off = off;
    e->len = n;
    e->data = malloc(n ? n : 1);
    CHECK(e->data);
    memcpy(e->data, b, n);
    if (off + n > ino_size[ino])
        ino_size[ino] = off + n;
}

static int s_open(const char *p, int f, mode_t m)
{
    int fd = cogmem__fops_posix.open(p, f, m);
    if (fd < 0)
        return fd;
    CHECK(fd < MAX_FD);
    pthread_mutex_lock(&log_mu);
    if (!recording) {
    } else if (f & O_DIRECTORY) {
        fd_ino[fd] = -1;
    } else {
        const char *n = base(p);
        int i = name_find(n), ino;
        if (i >= 0) {
            ino = names[i].ino;
        } else {
            CHECK(nino + 1 < MAX_INO);
            ino = ++nino;
            ino_journal[ino] = strncmp(n, "jrn-", 4) == 0;
            name_set(n, ino);
            struct ev *e = push(EV_CREATE);
            e->ino = ino;
            snprintf(e->name, sizeof e->name, "%s", n);
        }
        if (f & O_TRUNC) {
            struct ev *e = push(EV_TRUNC);
            e->ino = ino;
            ino_size[ino] = 0;
        }
        fd_ino[fd] = ino;
        fd_pos[fd] = 0;
        fd_append[fd] = !!(f & O_APPEND);
    }
    pthread_mutex_unlock(&log_mu);
    return fd;
}

static int s_close(int fd)
{
    pthread_mutex_lock(&log_mu);
    if (fd >= 0 && fd < MAX_FD)
        fd_ino[fd] = 0;
    pthread_mutex_unlock(&log_mu);
    return cogmem__fops_posix.close(fd);
}

static ssize_t s_write(int fd, const void *b, size_t n)
{
    ssize_t w = cogmem__fops_posix.write(fd, b, n);
    pthread_mutex_lock(&log_mu);
    if (w > 0 && recording && fd_ino[fd] > 0) {
        uint64_t off = fd_append[fd] ? ino_size[fd_ino[fd]] : fd_pos[fd];
        rec_write(fd, b, (size_t)w, off);
        fd_pos[fd] = off + (uint64_t)w;
    }
    pthread_mutex_unlock(&log_mu);
    return w;
}

static ssize_t s_writev(int fd, const struct iovec *iov, int cnt)
{
    ssize_t w = cogmem__fops_posix.writev(fd, iov, cnt);
    pthread_mutex_lock(&log_mu);
    if (w > 0 && recording && fd_ino[fd] > 0) {
        uint64_t off = fd_append[fd] ? ino_size[fd_ino[fd]] : fd_pos[fd];
        size_t left = (size_t)w;
        for (int i = 0; i < cnt && left; i++) {
            size_t m = iov[i].iov_len < left ? iov[i].iov_len : left;
            rec_write(fd, iov[i].iov_base, m, off);
            off += m;
            left -= m;
        }
        fd_pos[fd] = off;
    }
    pthread_mutex_unlock(&log_mu);
    return w;
}

static ssize_t s_pwrite(int fd, const void *b, size_t n, off_t o)
{
    ssize_t w = cogmem__fops_posix.pwrite(fd, b, n, o);
    pthread_mutex_lock(&log_mu);
    if (w > 0 && recording && fd_ino[fd] > 0)
        rec_write(fd, b, (size_t)w, (uint64_t)o);
    pthread_mutex_unlock(&log_mu);
    return w;
}

static ssize_t s_pread(int fd, void *b, size_t n, off_t o)
{
    return cogmem__fops_posix.pread(fd, b, n, o);
}

static int s_sync(int fd)
{
    int rc = cogmem__fops_posix.fdatasync(fd);
    pthread_mutex_lock(&log_mu);
    if (rc == 0 && recording && fd_ino[fd]) {
        struct ev *e = push(fd_ino[fd] < 0 ? EV_DIRSYNC : EV_FSYNC);
        e->ino = fd_ino[fd];
    }
    pthread_mutex_unlock(&log_mu);
    return rc;
}

static int s_trunc(int fd, off_t l)
{
    int rc = cogmem__fops_posix.ftruncate(fd, l);
    pthread_mutex_lock(&log_mu);
    if (rc == 0 && recording && fd_ino[fd] > 0) {
        struct ev *e = push(EV_TRUNC);
        e->ino = fd_ino[fd];
        e->len = (uint64_t)l;
        ino_size[e->ino] = (uint64_t)l;
    }
    pthread_mutex_unlock(&log_mu);
    return rc;
}

static int s_rename(const char *a, const char *b)
{
    int rc = cogmem__fops_posix.rename(a, b);
    pthread_mutex_lock(&log_mu);
    if (rc == 0 && recording) {
        int i = name_find(base(a));
        CHECK(i >= 0);
        int ino = names[i].ino;
        name_drop(base(a));
        name_set(base(b), ino);
        struct ev *e = push(EV_RENAME);
        snprintf(e->name, sizeof e->name, "%s", base(a));
        snprintf(e->name2, sizeof e->name2, "%s", base(b));
    }
    pthread_mutex_unlock(&log_mu);
    return rc;
}

static int s_unlink(const char *p)
{
    int rc = cogmem__fops_posix.unlink(p);
    pthread_mutex_lock(&log_mu);
    if (rc == 0 && recording) {
        name_drop(base(p));
        struct ev *e = push(EV_UNLINK);
        snprintf(e->name, sizeof e->name, "%s", base(p));
    }
    pthread_mutex_unlock(&log_mu);
    return rc;
}

static int s_mkdir(const char *p, mode_t m) { return cogmem__fops_posix.mkdir(p, m); }

static int s_writeback(int fd, off_t o, off_t n)
{
    return cogmem__fops_posix.writeback(fd, o, n); /* makes nothing durable */
}

static const struct cogmem__fileops shim = {
    .open = s_open, .close = s_close, .write = s_write, .pread = s_pread,
    .fsync = s_sync, .fdatasync = s_sync, .ftruncate = s_trunc, .rename = s_rename,
    .unlink = s_unlink, .mkdir = s_mkdir, .writev = s_writev, .pwrite = s_pwrite,
    .writeback = s_writeback};

/* ------------------------------------------------------------ the script */

#define MAX_CALLS 128
static struct sbuf dumps[MAX_CALLS + 1];
static size_t start_ev[MAX_CALLS], ack_ev[MAX_CALLS];
static int ncalls;
static float queries[2 * DIM];

static void vec(float *v, uint64_t id)
{
    for (int i = 0; i < DIM; i++)
        v[i] = 1.0f + (float)((id * 3 + (uint64_t)i) % 7);
}

static void dump_now(cogmem_store *s, struct sbuf *b)
{
    b->n = 0;
    state_dump(s, b, queries, 2);
}

/* Call i of the script (0-based); -1 past its end. */
static int do_call(cogmem_store *s, int i)
{
    float v[DIM], st;
    cogmem_decay_params dp;
    cogmem_decay_params_init(&dp);
    cogmem_decay_result dr = {.struct_size = sizeof dr};
    if (i < 12) {
        uint64_t k = 1 + (uint64_t)i / 3;
        switch (i % 3) {
        case 0:
            vec(v, k);
            return cogmem_concept_add(s, k, v);
        case 1:
            vec(v, 100 + k);
            return cogmem_episode_add(s, 100 + k, v, 1000 + k);
        default:
            return cogmem_bind(s, 100 + k, k, 0.25f * (float)k);
        }
    }
    vec(v, i < 19 ? 9 : 5);
    switch (i) {
    case 12: return cogmem_bind(s, 101, 2, 0.5f);
    case 13: return cogmem_binding_adjust(s, 101, 1, 0.125f, &st);
    case 14: return cogmem_touch(s, 3, 5000);
    case 15: return cogmem_snapshot(s);
    case 16: return cogmem_concept_set_centroid(s, 2, v);
    case 17: return cogmem_concept_blend(s, 1, v, 0.5f);
    case 18: return cogmem_unbind(s, 102, 2);
    case 19: return cogmem_episode_remove(s, 103);
    case 20: return cogmem_decay(s, &dp, 10000000000ull, &dr);
    case 21: return cogmem_snapshot(s);
    case 22: return cogmem_concept_add(s, 5, v);
    case 23: return cogmem_bind(s, 104, 5, 0.75f);
    case 24: return cogmem_concept_remove(s, 4);
    case 25: return cogmem_touch(s, 5, 6000);
    case 26: { /* the activations it stores are journaled (words.c) */
        cogmem_source src[2] = {{1, 1.0f}, {105, 0.5f}};
        cogmem_spread_params sp;
        cogmem_spread_params_init(&sp);
        sp.max_depth = 3;
        sp.store_activation = 1;
        cogmem_hit out[16];
        size_t no = 0;
        return cogmem_spread(s, src, 2, &sp, out, 16, &no);
    }
    case 27: { /* the strengths it stores too; its removals as removals */
        cogmem_forget_params fp;
        cogmem_forget_params_init(&fp);
        fp.now_ns = 20000000000ull;
        fp.max_episodes = 2;
        return cogmem_forget(s, &fp, NULL);
    }
    case 28: return cogmem_touch(s, 1, 7000);
    default: return -1;
    }
}

/* Run the script: note where in the log each call started and where it
 * was acknowledged, and the state after it. */
static void script(cogmem_store *s)
{
    dump_now(s, &dumps[0]);
    for (int i = 0;; i++) {
        CHECK(i < MAX_CALLS);
        pthread_mutex_lock(&log_mu);
        start_ev[i] = nev;
        pthread_mutex_unlock(&log_mu);
        int rc = do_call(s, i);
        if (rc == -1)
            break;
        CHECK_RC(rc, 0);
        pthread_mutex_lock(&log_mu);
        ack_ev[i] = nev;
        pthread_mutex_unlock(&log_mu);
        ncalls = i + 1;
        dump_now(s, &dumps[ncalls]);
    }
}

/* ----------------------------------------------------------- rebuilding */

struct file {
    unsigned char *p;
    uint64_t n;
};

static uint64_t rng = 0x243F6A8885A308D3ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void file_apply(struct file *f, const struct ev *e, uint64_t cut)
{
    if (e->kind == EV_TRUNC) {
        if (e->len > f->n) {
            f->p = realloc(f->p, e->len);
            memset(f->p + f->n, 0, e->len - f->n);
        }
        f->n = e->len;
        return;
    }
    uint64_t len = cut < e->len ? cut : e->len;
    if (e->off + len > f->n) {
        f->p = realloc(f->p, e->off + len);
        CHECK(f->p);
        memset(f->p + f->n, 0, e->off + len - f->n);
        f->n = e->off + len;
    }
    memcpy(f->p + e->off, e->data, len);
}

enum mode { LOSE_ALL, TORN };
#define TORN_TRIES 5

/* The directory a power cut before event K leaves, written into `out`. */
static void rebuild(size_t K, enum mode mode, int tear, const char *out)
{
    /* Durable points: the last fsync of each inode and of the directory. */
    size_t last_sync[MAX_INO] = {0}, last_dsync = 0;
    int synced[MAX_INO] = {0}, dsynced = 0;
    for (size_t i = 0; i < K; i++) {
        if (evs[i].kind == EV_FSYNC) {
            last_sync[evs[i].ino] = i;
            synced[evs[i].ino] = 1;
        } else if (evs[i].kind == EV_DIRSYNC) {
            last_dsync = i;
            dsynced = 1;
        }
    }
    /* Each inode's surviving bytes. */
    static struct file files[MAX_INO];
    for (int i = 0; i <= nino; i++) {
        free(files[i].p);
        files[i] = (struct file){0};
    }
    /* TORN: of each inode's non-durable writes, a random number survive
     * whole and the next is cut at `tear` sixths of its length. */
    int left[MAX_INO], seen[MAX_INO] = {0};
    for (int i = 0; i <= nino; i++)
        left[i] = -1;
    for (size_t i = 0; i < K; i++) {
        const struct ev *e = &evs[i];
        if ((e->kind == EV_WRITE || e->kind == EV_TRUNC) &&
            !(synced[e->ino] && i < last_sync[e->ino]))
            seen[e->ino]++;
    }
    for (int i = 0; i <= nino; i++)
        left[i] = seen[i] ? (int)(rnd() % (uint64_t)(seen[i] + 1)) : 0;
    for (size_t i = 0; i < K; i++) {
        const struct ev *e = &evs[i];
        if (e->kind != EV_WRITE && e->kind != EV_TRUNC)
            continue;
        if (synced[e->ino] && i < last_sync[e->ino]) {
            file_apply(&files[e->ino], e, UINT64_MAX);
        } else if (mode == TORN && left[e->ino] >= 0) {
            if (left[e->ino] > 0)
                file_apply(&files[e->ino], e, UINT64_MAX);
            else if (e->kind == EV_WRITE)
                file_apply(&files[e->ino], e, e->len * (uint64_t)tear / 6);
            left[e->ino]--;
        }
    }
    /* The names: durable ones, then (TORN) a prefix of the rest. */
    struct {
        char name[64];
        int ino;
    } nm[MAX_INO];
    int nn = 0;
    int stop = 0;
    for (size_t i = 0; i < K && !stop; i++) {
        const struct ev *e = &evs[i];
        if (e->kind != EV_CREATE && e->kind != EV_RENAME && e->kind != EV_UNLINK)
            continue;
        if (!(dsynced && i < last_dsync)) {
            if (mode == LOSE_ALL || rnd() % 3 == 0) {
                stop = 1;
                break;
            }
        }
        int at = -1;
        const char *key = e->name;
        for (int j = 0; j < nn; j++)
            if (strcmp(nm[j].name, key) == 0)
                at = j;
        if (e->kind == EV_CREATE) {
            if (at < 0)
                at = nn++;
            snprintf(nm[at].name, sizeof nm[at].name, "%s", e->name);
            nm[at].ino = e->ino;
        } else if (at >= 0) {
            int ino = nm[at].ino;
            nm[at] = nm[--nn];
            if (e->kind == EV_RENAME) {
                int to = -1;
                for (int j = 0; j < nn; j++)
                    if (strcmp(nm[j].name, e->name2) == 0)
                        to = j;
                if (to < 0)
                    to = nn++;
                snprintf(nm[to].name, sizeof nm[to].name, "%s", e->name2);
                nm[to].ino = ino;
            }
        }
    }
    for (int j = 0; j < nn; j++) {
        char p[2 * PATH_MAX];
        CHECK(strlen(out) + strlen(nm[j].name) + 2 <= sizeof p);
        strcpy(p, out);
        strcat(p, "/");
        strcat(p, nm[j].name);
        FILE *f = fopen(p, "wb");
        CHECK(f);
        const struct file *c = &files[nm[j].ino];
        CHECK(c->n == 0 || fwrite(c->p, 1, c->n, f) == c->n);
        fclose(f);
    }
}

/* ------------------------------------------------------------------ run */

static int run(int durability)
{
    const char *lvl = durability == COGMEM_DURABLE_SYNC ? "SYNC" : "INTERVAL";
    char *dir = test_tmpdir("powercut");
    for (int i = 0; i < 2 * DIM; i++)
        queries[i] = (float)(i % 5) + 0.5f;
    nev = 0;
    nino = nnames = ncalls = 0;
    memset(fd_ino, 0, sizeof fd_ino);
    memset(ino_size, 0, sizeof ino_size);
    cogmem__fops = &shim;
    recording = 1;
    cogmem_config cfg = test_config(dir, DIM, durability);
    cfg.sync_interval_ms = 1;
    cogmem_store *s = NULL;
    CHECK_RC(cogmem_open(&cfg, &s), 0);
    size_t opened = nev;
    script(s);
    /* No cogmem_close: a clean close syncs everything, which a power cut
     * never leaves time for. Stop recording, then let it close. */
    pthread_mutex_lock(&log_mu);
    recording = 0;
    size_t total = nev;
    pthread_mutex_unlock(&log_mu);
    CHECK_RC(cogmem_close(&s), 0);
    cogmem__fops = &cogmem__fops_posix;
    test_rmdir(dir);

    int bad = 0, checked = 0, partial = 0;
    for (size_t K = opened; K <= total && bad < 5; K++) {
        /* LOSE_ALL once, then TORN_TRIES different tearings. */
        for (int t = 0; t <= TORN_TRIES; t++) {
            int mode = t ? TORN : LOSE_ALL;
            char *out = test_tmpdir("powercut-image");
            rebuild(K, (enum mode)mode, t, out);
            int acked = 0, started = 0;
            for (int i = 0; i < ncalls; i++) {
                if (ack_ev[i] <= K)
                    acked = i + 1;
                if (start_ev[i] < K)
                    started = i + 1;
            }
            int lo = acked, hi = started;
            if (durability == COGMEM_DURABLE_INTERVAL) {
                /* The last journal fsync before K covers every call
                 * acknowledged before it. */
                size_t js = 0;
                int have = 0;
                for (size_t i = 0; i < K; i++)
                    if (evs[i].kind == EV_FSYNC && ino_journal[evs[i].ino])
                        js = i, have = 1;
                lo = 0;
                for (int i = 0; i < ncalls && have; i++)
                    if (ack_ev[i] <= js)
                        lo = i + 1;
            }
            cogmem_store *r = test_open_store(out, DIM, COGMEM_DURABLE_NONE);
            if (!r) {
                fprintf(stderr, "%s: cut at event %zu/%zu (%s): the directory does not open\n",
                        lvl, K, total, mode ? "torn" : "lose all");
                bad++;
            } else {
                struct sbuf b = {0};
                dump_now(r, &b);
                int match = -1;
                for (int j = hi; j >= lo && match < 0; j--)
                    if (b.n == dumps[j].n && memcmp(b.p, dumps[j].p, b.n) == 0)
                        match = j;
                free(b.p);
                b = (struct sbuf){0};
                CHECK_RC(cogmem_close(&r), 0);
                /* A call in flight may have left some of its records (a
                 * removal's unbindings, a decay's concepts): each is a
                 * step of it, so doing that call again on the recovered
                 * store must give exactly its result. Under SYNC only the
                 * last call started can be in flight; under INTERVAL any
                 * call after the last fsync left its records in the
                 * buffer as it returned. */
                for (int j = hi - 1; j >= lo && match < 0; j--) {
                    r = test_open_store(out, DIM, COGMEM_DURABLE_NONE);
                    CHECK(r);
                    int rc = do_call(r, j);
                    if (rc == 0 || rc == -ENOENT || rc == -EEXIST) {
                        dump_now(r, &b);
                        if (b.n == dumps[j + 1].n && memcmp(b.p, dumps[j + 1].p, b.n) == 0)
                            match = j + 1, partial++;
                    }
                    CHECK_RC(cogmem_close(&r), 0);
                }
                if (match < 0) {
                    fprintf(stderr, "%s: cut at event %zu/%zu (%s): state is none of calls "
                                    "%d..%d\n",
                            lvl, K, total, mode ? "torn" : "lose all", lo, hi);
                    bad++;
                }
                free(b.p);
            }
            if (bad && getenv("POWERCUT_KEEP")) /* to look at a failing image */
                fprintf(stderr, "kept %s\n", out);
            else
                test_rmdir(out);
            free(out);
            checked++;
        }
    }
    printf("test_powercut %s: %d calls, %zu file events, %d cuts checked (%d left part of "
           "the call in flight), %d bad\n",
           lvl, ncalls, total - opened, checked, partial, bad);
    for (size_t i = 0; i < nev; i++)
        free(evs[i].data);
    for (int i = 0; i <= ncalls; i++) {
        free(dumps[i].p);
        dumps[i] = (struct sbuf){0};
    }
    free(dir);
    return bad;
}

int main(void)
{
    int bad = run(COGMEM_DURABLE_SYNC);
    bad += run(COGMEM_DURABLE_INTERVAL);
    free(evs);
    return bad ? 1 : 0;
}
