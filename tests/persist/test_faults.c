/* Injected I/O faults: every file operation of persistence goes through
 * the internal table (src/persist/fileops.h); this test puts a shim in
 * front of it that fails call N with EIO or ENOSPC, or cuts write N short
 * (the rest then fails with EIO: a torn record on disk), for every N of a
 * scripted run (open, adds, binds, a snapshot with its rotation, more
 * writes, sync, close). After each run, with the shim passing everything:
 *   - the directory opens (the previous snapshot and journal stay usable);
 *   - every call that returned 0 is there (the run is SYNC);
 *   - after the first failed mutation every later mutation failed too
 *     (-EIO), while reads went on working;
 *   - the invariants of state_dump() hold.
 * fsync calls are counted but not passed on (this test is about errors,
 * not power cuts), which keeps the hundreds of runs fast. */
#include <fcntl.h>
#include <limits.h>

#include "src/persist/fileops.h"
#include "tests/persist/state.h"

#define DIM 8

enum fault { F_EIO, F_ENOSPC, F_SHORT, F_KINDS };
static long calls, fail_at = -1;
static enum fault kind;
static int short_done;

static int hit(void)
{
    calls++;
    return calls == fail_at;
}

static int s_open(const char *p, int f, mode_t m)
{
    if (hit()) {
        errno = kind == F_ENOSPC ? ENOSPC : EIO;
        return -1;
    }
    return cogmem__fops_posix.open(p, f, m);
}
static int s_close(int fd) { return cogmem__fops_posix.close(fd); }
static ssize_t s_write(int fd, const void *b, size_t n)
{
    if (short_done) { /* after a short write: the device is gone */
        errno = EIO;
        return -1;
    }
    if (hit()) {
        if (kind == F_SHORT && n > 1) {
            short_done = 1;
            return cogmem__fops_posix.write(fd, b, n / 2);
        }
        errno = kind == F_ENOSPC ? ENOSPC : EIO;
        return -1;
    }
    return cogmem__fops_posix.write(fd, b, n);
}
static ssize_t s_pread(int fd, void *b, size_t n, off_t o)
{
    return cogmem__fops_posix.pread(fd, b, n, o);
}
static int s_sync(int fd)
{
    (void)fd;
    if (hit()) {
        errno = EIO;
        return -1;
    }
    return 0;
}
static int s_trunc(int fd, off_t l)
{
    if (hit()) {
        errno = EIO;
        return -1;
    }
    return cogmem__fops_posix.ftruncate(fd, l);
}
static int s_rename(const char *a, const char *b)
{
    if (hit()) {
        errno = kind == F_ENOSPC ? ENOSPC : EIO;
        return -1;
    }
    return cogmem__fops_posix.rename(a, b);
}
static int s_unlink(const char *p) { return cogmem__fops_posix.unlink(p); }
static int s_mkdir(const char *p, mode_t m) { return cogmem__fops_posix.mkdir(p, m); }

/* writev and pwrite fail or tear like write (a torn writev keeps the
 * first half of its bytes). */
static ssize_t s_writev(int fd, const struct iovec *iov, int cnt)
{
    if (short_done) {
        errno = EIO;
        return -1;
    }
    if (hit()) {
        size_t total = 0;
        for (int i = 0; i < cnt; i++)
            total += iov[i].iov_len;
        if (kind == F_SHORT && total > 1) {
            short_done = 1;
            struct iovec cut[IOV_MAX];
            size_t want = total / 2;
            int k = 0;
            for (int i = 0; i < cnt && want; i++, k++) {
                cut[k] = iov[i];
                if (cut[k].iov_len > want)
                    cut[k].iov_len = want;
                want -= cut[k].iov_len;
            }
            return cogmem__fops_posix.writev(fd, cut, k);
        }
        errno = kind == F_ENOSPC ? ENOSPC : EIO;
        return -1;
    }
    return cogmem__fops_posix.writev(fd, iov, cnt);
}
static ssize_t s_pwrite(int fd, const void *b, size_t n, off_t o)
{
    if (short_done) {
        errno = EIO;
        return -1;
    }
    if (hit()) {
        if (kind == F_SHORT && n > 1) {
            short_done = 1;
            return cogmem__fops_posix.pwrite(fd, b, n / 2, o);
        }
        errno = kind == F_ENOSPC ? ENOSPC : EIO;
        return -1;
    }
    return cogmem__fops_posix.pwrite(fd, b, n, o);
}
/* A hint only (fileops.h): not passed on, like fsync. */
static int s_writeback(int fd, off_t o, off_t n)
{
    (void)fd, (void)o, (void)n;
    return 0;
}

static const struct cogmem__fileops shim = {
    .open = s_open, .close = s_close, .write = s_write, .pread = s_pread,
    .fsync = s_sync, .fdatasync = s_sync, .ftruncate = s_trunc, .rename = s_rename,
    .unlink = s_unlink, .mkdir = s_mkdir, .writev = s_writev, .pwrite = s_pwrite,
    .writeback = s_writeback};

static cogmem_config config(const char *dir)
{
    return test_config(dir, DIM, COGMEM_DURABLE_SYNC);
}

static void vec(float *v, uint64_t id)
{
    for (int i = 0; i < DIM; i++)
        v[i] = 1.0f + (float)((id + (uint64_t)i) % 7);
}

/* The state before the faulty run: a snapshot and some journal. */
static void prepare(const char *dir)
{
    cogmem_config cfg = config(dir);
    cogmem_store *s = NULL;
    CHECK_RC(cogmem_open(&cfg, &s), 0);
    float v[DIM];
    for (uint64_t i = 1; i <= 5; i++) {
        vec(v, i);
        CHECK_RC(cogmem_concept_add(s, i, v), 0);
        CHECK_RC(cogmem_episode_add(s, 50 + i, v, i), 0);
        CHECK_RC(cogmem_bind(s, 50 + i, i, 0.5f), 0);
    }
    CHECK_RC(cogmem_snapshot(s), 0);
    vec(v, 6);
    CHECK_RC(cogmem_concept_add(s, 6, v), 0);
    CHECK_RC(cogmem_close(&s), 0);
}

struct acked {
    uint64_t c, e;
    int add_rc, eadd_rc, bind_rc;
};

/* The scripted run. Returns the number of fileops calls it made. */
static long run(const char *dir, struct acked *ack, int *n_ack)
{
    calls = 0;
    short_done = 0;
    *n_ack = 0;
    cogmem_config cfg = config(dir);
    cogmem_store *s = NULL;
    int rc = cogmem_open(&cfg, &s);
    if (rc) {
        CHECK(s == NULL);
        return calls;
    }
    float v[DIM];
    int failed = 0;
    for (int i = 0; i < 8; i++) {
        if (i == 5) {
            rc = cogmem_snapshot(s);
            CHECK(rc == 0 || rc == -EIO || rc == -ENOSPC);
        }
        struct acked *a = &ack[(*n_ack)++];
        a->c = 100 + (uint64_t)i;
        a->e = 200 + (uint64_t)i;
        vec(v, a->c);
        a->add_rc = cogmem_concept_add(s, a->c, v);
        a->eadd_rc = cogmem_episode_add(s, a->e, v, a->e);
        a->bind_rc = cogmem_bind(s, a->e, a->c, 0.25f);
        int rcs[3] = {a->add_rc, a->eadd_rc, a->bind_rc};
        for (int k = 0; k < 3; k++) {
            if (failed)
                CHECK_RC(rcs[k], -EIO); /* once failed, always failed */
            else if (rcs[k] != 0) {
                CHECK(rcs[k] == -EIO || rcs[k] == -ENOSPC ||
                      (k == 2 && rcs[k] == -ENOENT));
                if (k < 2 || rcs[k] != -ENOENT)
                    failed = 1;
            }
        }
        /* Reads go on working whatever happened. */
        CHECK_RC(cogmem_kind_of(s, 1), COGMEM_CONCEPT);
    }
    rc = cogmem_sync(s);
    CHECK(failed ? rc != 0 : rc == 0 || rc == -EIO);
    CHECK_RC(cogmem_close(&s), 0);
    return calls;
}

static void verify(const char *dir, const struct acked *ack, int n_ack, long n, int k)
{
    cogmem_config cfg = config(dir);
    cogmem_store *s = NULL;
    struct cogmem_open_report rep = {.struct_size = sizeof rep};
    int rc = cogmem_open_report(&cfg, &s, &rep);
    if (rc) {
        fprintf(stderr, "fault %d at call %ld: reopen failed: %s (%s %s @%llu: %s)\n", k, n,
                cogmem_strerror(rc), rep.bad_file, rep.bad_section,
                (unsigned long long)rep.bad_offset, rep.detail);
        exit(1);
    }
    for (uint64_t i = 1; i <= 6; i++)
        CHECK_RC(cogmem_kind_of(s, i), COGMEM_CONCEPT); /* the earlier state */
    for (int i = 0; i < n_ack; i++) {
        const struct acked *a = &ack[i];
        float st;
        if (a->add_rc == 0)
            CHECK_RC(cogmem_kind_of(s, a->c), COGMEM_CONCEPT);
        if (a->eadd_rc == 0)
            CHECK_RC(cogmem_kind_of(s, a->e), COGMEM_EPISODE);
        if (a->bind_rc == 0) {
            CHECK_RC(cogmem_binding_get(s, a->e, a->c, &st), 0);
            CHECK(st == 0.25f);
        }
    }
    struct sbuf b = {0};
    state_dump(s, &b, NULL, 0); /* checks the invariants */
    free(b.p);
    CHECK_RC(cogmem_close(&s), 0);
}

int main(void)
{
    cogmem__fops = &shim;
    struct acked ack[32];
    int n_ack;
    char *base = test_tmpdir("faults-base");
    fail_at = -1;
    prepare(base);
    char *dir = test_tmpdir("faults");
    test_copydir(base, dir);
    long total = run(dir, ack, &n_ack);
    verify(dir, ack, n_ack, 0, -1);
    test_rmdir(dir);
    free(dir);
    fprintf(stderr, "scripted run: %ld file operations\n", total);
    CHECK(total > 20);
    long runs = 0;
    for (int k = 0; k < F_KINDS; k++) {
        kind = (enum fault)k;
        for (long n = 1; n <= total; n++) {
            dir = test_tmpdir("faults");
            test_copydir(base, dir);
            fail_at = n;
            run(dir, ack, &n_ack);
            fail_at = -1;
            short_done = 0;
            verify(dir, ack, n_ack, n, k);
            test_rmdir(dir);
            free(dir);
            runs++;
        }
    }
    test_rmdir(base);
    free(base);
    fprintf(stderr, "faults ok: %ld faulty runs\n", runs);
    return 0;
}
