/* cogmem — parsing and verifying snapshot files (format.h).
 *
 * One parser serves the COPY open (a sink loads what it reads into the
 * store), cogmem_snapshot_verify() (verify.c: a sink that checks each row
 * against its norm) and the fuzzer (checksums off, so that it reaches the
 * structure checks behind them). It needs no SIMD layer and nothing of
 * the store, so tools/fuzz.sh builds it alone. Every offset,
 * length and count is checked against the file before it is used, so a
 * hostile file can make it fail but never read outside the buffer.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/persist/fileops.h"
#include "src/persist/internal.h"
#include "src/persist/sum.h"

static const char *const sec_name[COGMEM__SEC_N + 1] = {
    "", "concept-meta", "episode-meta", "concept-vectors", "episode-vectors",
    "vector-sums", "bindings", "histories", "episode-lists"};

#define BAD(sec, off, ...)                                                     \
    do {                                                                       \
        cogmem__bad_set(bad, sec, off, __VA_ARGS__);                           \
        return -EBADMSG;                                                       \
    } while (0)

static uint64_t chunks_of(uint64_t bytes)
{
    return (bytes + COGMEM__VEC_CHUNK - 1) / COGMEM__VEC_CHUNK;
}

static int check_header(const uint8_t *buf, size_t len, int check_sums,
                        struct cogmem__snap_header *h, struct cogmem__bad *bad)
{
    if (len < COGMEM__SNAP_HEADER_BYTES + sizeof(struct cogmem__snap_footer))
        BAD("header", 0, "file of %zu bytes is too short for a snapshot", len);
    memcpy(h, buf, sizeof *h);
    if (memcmp(h->magic, COGMEM__SNAP_MAGIC, 8) != 0)
        BAD("header", 0, "not a cogmem snapshot (magic)");
    if (h->probe != COGMEM__PROBE)
        BAD("header", offsetof(struct cogmem__snap_header, probe), "byte order probe");
    if (h->major > COGMEM_FORMAT_MAJOR || (h->incompat & ~COGMEM__FEAT_INCOMPAT_KNOWN) ||
        (h->ro_compat & ~COGMEM__FEAT_RO_COMPAT_KNOWN)) {
        cogmem__bad_set(bad, "header", 8, "format %u.%u, features %#llx/%#llx not supported",
                        h->major, h->minor, (unsigned long long)h->incompat,
                        (unsigned long long)h->ro_compat);
        return -EPROTONOSUPPORT;
    }
    struct cogmem__snap_header z = *h;
    z.xxh3 = 0;
    if (check_sums && cogmem__sum(&z, sizeof z) != h->xxh3)
        BAD("header", offsetof(struct cogmem__snap_header, xxh3), "header checksum mismatch");
    for (size_t i = sizeof *h; i < COGMEM__SNAP_HEADER_BYTES; i++)
        if (buf[i])
            BAD("header", i, "non-zero byte in the header's padding");
    if (h->file_bytes != len)
        BAD("header", offsetof(struct cogmem__snap_header, file_bytes),
            "file is %zu bytes, header says %llu (truncated or extended)", len,
            (unsigned long long)h->file_bytes);
    if (h->dim == 0 || h->dim > COGMEM_MAX_DIM ||
        h->row_bytes != (((size_t)h->dim * 4 + 63) & ~(size_t)63))
        BAD("header", offsetof(struct cogmem__snap_header, dim), "bad dim %u / row bytes %u",
            h->dim, h->row_bytes);
    if (h->end_lsn < h->begin_lsn)
        BAD("header", offsetof(struct cogmem__snap_header, end_lsn), "end LSN before begin");
    if (h->nsections != COGMEM__SEC_N)
        BAD("header", offsetof(struct cogmem__snap_header, nsections), "%u sections",
            h->nsections);
    return 0;
}

static int check_cfg(const struct cogmem__cfg_block *c, struct cogmem__bad *bad)
{
    if (c->fan_mode < 0 || c->fan_mode > 3 || !isfinite(c->actr_max_assoc) ||
        !(c->actr_decay > 0.0f && c->actr_decay < 1.0f) || c->actr_history > 32 ||
        !(c->actr_latency_factor > 0.0f) || !isfinite(c->actr_latency_factor) ||
        !isfinite(c->actr_threshold) || !(c->actr_noise > 0.0f) || !isfinite(c->actr_noise) ||
        c->bf16_rows > 1)
        BAD("header", offsetof(struct cogmem__snap_header, cfg), "bad stored settings");
    return 0;
}

int cogmem__snap_parse(const uint8_t *buf, size_t len, int check_sums,
                       const struct cogmem__snap_sink *sink, void *arg,
                       cogmem_snapshot_summary *sum, struct cogmem__bad *bad)
{
    struct cogmem__snap_header h;
    int rc = check_header(buf, len, check_sums, &h, bad);
    if (rc)
        return rc;
    if ((rc = check_cfg(&h.cfg, bad)))
        return rc;
    struct cogmem__snap_footer f;
    size_t foff = len - sizeof f;
    memcpy(&f, buf + foff, sizeof f);
    if (memcmp(f.magic, COGMEM__SNAP_TAIL_MAGIC, 8) != 0)
        BAD("footer", foff + offsetof(struct cogmem__snap_footer, magic), "end magic");
    if (f.table_off != h.table_off || f.nsections != h.nsections ||
        f.file_bytes != h.file_bytes || f.major != h.major ||
        (check_sums && f.header_xxh3 != h.xxh3))
        BAD("footer", foff, "footer disagrees with the header");
    size_t tbytes = COGMEM__SEC_N * sizeof(struct cogmem__snap_section);
    if (h.table_off < COGMEM__SNAP_HEADER_BYTES || h.table_off % 64 ||
        h.table_off > foff || foff - h.table_off < tbytes + 8)
        BAD("table", h.table_off, "section table out of bounds");
    struct cogmem__snap_section sec[COGMEM__SEC_N];
    memcpy(sec, buf + h.table_off, tbytes);
    uint64_t tsum;
    memcpy(&tsum, buf + h.table_off + tbytes, 8);
    if (check_sums && (cogmem__sum(sec, tbytes) != tsum || f.table_xxh3 != tsum))
        BAD("table", h.table_off, "section table checksum mismatch");
    uint64_t prev_end = COGMEM__SNAP_HEADER_BYTES;
    for (unsigned i = 0; i < COGMEM__SEC_N; i++) {
        struct cogmem__snap_section *s = &sec[i];
        uint64_t at = h.table_off + i * sizeof *s;
        if (s->kind != i + 1 || s->pad || s->off % COGMEM__SNAP_ALIGN || s->off < prev_end ||
            s->off > h.table_off || s->len > h.table_off - s->off)
            BAD("table", at, "section %u: bad kind, place or length", i);
        /* Padding before a section (and before the table, the footer)
         * is zeros: no byte of the file goes unchecked. */
        for (uint64_t b = prev_end; b < s->off; b++)
            if (buf[b])
                BAD(sec_name[i + 1], b, "non-zero padding before the section");
        prev_end = s->off + s->len;
    }
    for (uint64_t b = prev_end; b < h.table_off; b++)
        if (buf[b])
            BAD("table", b, "non-zero padding before the table");
    for (uint64_t b = h.table_off + tbytes + 8; b < foff; b++)
        if (buf[b])
            BAD("footer", b, "non-zero padding before the footer");
    for (size_t b = 0; b < sizeof f.pad; b++)
        if (((const uint8_t *)f.pad)[b])
            BAD("footer", foff + offsetof(struct cogmem__snap_footer, pad) + b,
                "non-zero footer padding");
    uint64_t rb = h.row_bytes;
    uint64_t nc = sec[0].count, ne = sec[1].count;
    if (sec[0].len != nc * sizeof(struct cogmem__snap_node) ||
        sec[1].len != ne * sizeof(struct cogmem__snap_node) || nc > sec[0].len ||
        ne > sec[1].len)
        BAD("table", h.table_off, "meta section lengths disagree with their counts");
    if (sec[2].count != nc || sec[3].count != ne || sec[2].len != nc * rb ||
        sec[3].len != ne * rb)
        BAD("table", h.table_off, "vector sections disagree with the meta sections");
    uint64_t ch[2] = {chunks_of(sec[2].len), chunks_of(sec[3].len)};
    if (sec[4].count != ch[0] + ch[1] || sec[4].len != sec[4].count * 8)
        BAD("table", h.table_off + 4 * sizeof *sec, "vector sums: wrong count");
    if (sec[6].len != sec[6].count * sizeof(struct cogmem__snap_hist) ||
        sec[6].count > sec[6].len)
        BAD("table", h.table_off + 6 * sizeof *sec, "histories: wrong length");

    /* Section and chunk checksums. */
    const uint64_t *sums = (const uint64_t *)(buf + sec[4].off); /* 4096-aligned */
    const int rows = !(check_sums & COGMEM__SNAP_NO_ROWS);
    check_sums &= COGMEM__SNAP_SUMS;
    if (check_sums) {
        for (unsigned i = 0; i < COGMEM__SEC_N; i++) {
            if (i == 2 || i == 3)
                continue;
            if (cogmem__sum(buf + sec[i].off, sec[i].len) != sec[i].xxh3)
                BAD(sec_name[i + 1], sec[i].off, "section checksum mismatch");
        }
        for (int k = 0; k < 2; k++) {
            const struct cogmem__snap_section *s = &sec[2 + k];
            const uint64_t *ks = sums + (k ? ch[0] : 0);
            if (cogmem__sum(ks, ch[k] * 8) != s->xxh3)
                BAD(sec_name[3 + k], s->off, "chunk sums do not match the section checksum");
            for (uint64_t c = 0; rows && c < ch[k]; c++) {
                uint64_t o = c * COGMEM__VEC_CHUNK;
                uint64_t n = s->len - o < COGMEM__VEC_CHUNK ? s->len - o : COGMEM__VEC_CHUNK;
                if (cogmem__sum(buf + s->off + o, n) != ks[c])
                    BAD(sec_name[3 + k], s->off + o, "vector chunk %llu checksum mismatch",
                        (unsigned long long)c);
            }
        }
    }
    if (sink && sink->config && (rc = sink->config(arg, &h)))
        return rc;
    if (sink && sink->layout) {
        const uint64_t cnt[2] = {nc, ne}, at[2] = {sec[2].off, sec[3].off},
                       mo[2] = {sec[0].off, sec[1].off};
        if ((rc = sink->layout(arg, cnt, at, mo, sec[4].off)))
            return rc;
    }

    /* Nodes and their rows. */
    for (int k = 0; k < 2; k++) {
        const struct cogmem__snap_section *ms = &sec[k], *vs = &sec[2 + k];
        for (uint64_t i = 0; i < ms->count; i++) {
            struct cogmem__snap_node n;
            uint64_t at = ms->off + i * sizeof n;
            memcpy(&n, buf + at, sizeof n);
            if (n.id == 0 || n.vec_version == 0 || !(n.norm > 0.0f) || !isfinite(n.norm) ||
                (n.flags & ~COGMEM__SNODE_HIST) || n.pad[0] || n.pad[1] || n.pad[2] ||
                n.lsn < h.begin_lsn)
                BAD(sec_name[1 + k], at, "bad node record %llu", (unsigned long long)i);
            const float *row = (const float *)(buf + vs->off + i * rb);
            for (uint64_t b = (uint64_t)h.dim * 4; rows && b < rb; b++)
                if (buf[vs->off + i * rb + b])
                    BAD(sec_name[3 + k], vs->off + i * rb + b, "non-zero row padding");
            if (sink && sink->node &&
                (rc = sink->node(arg, k ? COGMEM_EPISODE : COGMEM_CONCEPT, &n, row))) {
                if (rc == -EBADMSG)
                    BAD(sec_name[1 + k], at, "node %llu does not load (duplicate id, or its "
                        "vector disagrees with its norm)", (unsigned long long)n.id);
                return rc;
            }
        }
    }
    /* Bindings. */
    const struct cogmem__snap_section *bs = &sec[5];
    uint64_t off = 0, nb = 0;
    while (off < bs->len) {
        struct cogmem__snap_blist lh;
        if (bs->len - off < sizeof lh)
            BAD("bindings", bs->off + off, "truncated list head");
        memcpy(&lh, buf + bs->off + off, sizeof lh);
        if (lh.concept == 0 || lh.n == 0 || lh.pad ||
            (bs->len - off - sizeof lh) / sizeof(struct cogmem__snap_bind) < lh.n)
            BAD("bindings", bs->off + off, "bad list head");
        const struct cogmem__snap_bind *e =
            (const struct cogmem__snap_bind *)(buf + bs->off + off + sizeof lh);
        for (uint32_t j = 0; j < lh.n; j++) {
            struct cogmem__snap_bind b;
            memcpy(&b, &e[j], sizeof b);
            if (!cogmem__snap_bind_ok(&b))
                BAD("bindings", bs->off + off + sizeof lh + j * sizeof b, "bad binding");
        }
        if (sink && sink->blist && (rc = sink->blist(arg, &lh, e))) {
            if (rc == -EBADMSG)
                BAD("bindings", bs->off + off, "list of concept %llu does not load",
                    (unsigned long long)lh.concept);
            return rc;
        }
        nb += lh.n;
        off += sizeof lh + (uint64_t)lh.n * sizeof(struct cogmem__snap_bind);
    }
    if (nb != bs->count)
        BAD("bindings", bs->off, "%llu bindings, table says %llu", (unsigned long long)nb,
            (unsigned long long)bs->count);
    /* Histories. */
    for (uint64_t i = 0; i < sec[6].count; i++) {
        struct cogmem__snap_hist hh;
        uint64_t at = sec[6].off + i * sizeof hh;
        memcpy(&hh, buf + at, sizeof hh);
        if (hh.id == 0 || hh.head >= COGMEM__HIST_SLOTS || hh.total == 0 || hh.pad)
            BAD("histories", at, "bad history record");
        if (sink && sink->hist && (rc = sink->hist(arg, &hh))) {
            if (rc == -EBADMSG)
                BAD("histories", at, "history of %llu does not load", (unsigned long long)hh.id);
            return rc;
        }
    }
    /* Episode lists. */
    const struct cogmem__snap_section *es = &sec[7];
    uint64_t neb = 0;
    for (off = 0; off < es->len;) {
        struct cogmem__snap_blist lh;
        if (es->len - off < sizeof lh)
            BAD("episode-lists", es->off + off, "truncated list head");
        memcpy(&lh, buf + es->off + off, sizeof lh);
        if (lh.concept == 0 || lh.n == 0 || lh.pad || (es->len - off - sizeof lh) / 8 < lh.n)
            BAD("episode-lists", es->off + off, "bad list head");
        const uint64_t *ids = (const uint64_t *)(buf + es->off + off + sizeof lh);
        for (uint32_t j = 0; j < lh.n; j++) {
            uint64_t c;
            memcpy(&c, &ids[j], 8);
            if (c == 0)
                BAD("episode-lists", es->off + off + sizeof lh + j * 8, "concept id 0");
        }
        if (sink && sink->elist && (rc = sink->elist(arg, &lh, ids))) {
            if (rc == -EBADMSG)
                BAD("episode-lists", es->off + off, "list of episode %llu does not load",
                    (unsigned long long)lh.concept);
            return rc;
        }
        neb += lh.n;
        off += sizeof lh + (uint64_t)lh.n * 8;
    }
    /* Not compared with the concepts' count: the copy is fuzzy, replay
     * makes the two sides agree (and the open checks that they do). */
    if (neb != es->count)
        BAD("episode-lists", es->off, "%llu entries, table says %llu",
            (unsigned long long)neb, (unsigned long long)es->count);
    if (sum) {
        sum->format_major = h.major;
        sum->format_minor = h.minor;
        sum->compat = h.compat;
        sum->ro_compat = h.ro_compat;
        sum->incompat = h.incompat;
        sum->dim = h.dim;
        sum->row_bytes = h.row_bytes;
        sum->begin_lsn = h.begin_lsn;
        sum->created_ns = h.created_ns;
        sum->file_bytes = h.file_bytes;
        sum->fan_mode = h.cfg.fan_mode;
        sum->actr_max_assoc = h.cfg.actr_max_assoc;
        sum->actr_decay = h.cfg.actr_decay;
        sum->actr_history = h.cfg.actr_history;
        sum->actr_latency_factor = h.cfg.actr_latency_factor;
        sum->actr_threshold = h.cfg.actr_threshold;
        sum->actr_noise = h.cfg.actr_noise;
        sum->concepts = nc;
        sum->episodes = ne;
        sum->bindings = nb;
        sum->histories = sec[6].count;
        sum->vector_chunks = ch[0] + ch[1];
        sum->nsections = COGMEM__SEC_N;
        for (unsigned i = 0; i < COGMEM__SEC_N && i < COGMEM_SNAPSHOT_MAX_SECTIONS; i++) {
            cogmem_snapshot_section *o = &sum->sections[i];
            snprintf(o->name, sizeof o->name, "%s", sec_name[i + 1]);
            o->offset = sec[i].off;
            o->length = sec[i].len;
            o->count = sec[i].count;
            o->xxh3 = sec[i].xxh3;
        }
    }
    return 0;
}

/* Map a file read-only. 0 with *buf and *len set, or a negative errno. An empty
 * file maps to nothing (len 0). */
int cogmem__map_file(const char *path, const uint8_t **buf, size_t *len)
{
    int fd = cogmem__fops->open(path, O_RDONLY, 0);
    if (fd < 0)
        return -errno;
    struct stat sb;
    if (fstat(fd, &sb)) {
        int e = -errno;
        cogmem__fops->close(fd);
        return e;
    }
    *len = (size_t)sb.st_size;
    *buf = NULL;
    if (*len) {
        void *m = mmap(NULL, *len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            int e = -errno;
            cogmem__fops->close(fd);
            return e;
        }
        /* One sequential pass follows: ask for read-ahead. */
        madvise(m, *len, MADV_SEQUENTIAL);
        *buf = m;
    }
    cogmem__fops->close(fd);
    return 0;
}

void cogmem__unmap_file(const uint8_t *buf, size_t len)
{
    if (buf && len)
        munmap((void *)buf, len);
}
