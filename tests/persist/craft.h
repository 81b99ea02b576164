/* cogmem persistence tests — crafting a store directory's files: finding,
 * reading and writing them, and recomputing the checksums of a snapshot or
 * a journal segment after an edit, so that a test or a fuzzer can hand the
 * store content that is wrong but correctly summed: what a buggy or
 * hostile writer produces, which the checksums do not catch and the
 * loader's own checks must (test_corrupt.c, tests/fuzz/fuzz_open.c).
 * Sums are XXH3 (src/persist/sum.h), computed here with libxxhash's plain
 * entry points: the same values. Every failure of the file helpers ends
 * the test (CHECK). */
#ifndef COGMEM_TEST_PERSIST_CRAFT_H
#define COGMEM_TEST_PERSIST_CRAFT_H

#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "src/persist/format.h"
#include "tests/check.h"

#define CRAFT_NAME_MAX 256

/* The names of dir's snapshot and of its newest journal segment (names
 * sort by their sequence number) into snap and seg (CRAFT_NAME_MAX bytes
 * each); "" for what dir does not hold. */
static inline void craft_find_files(const char *dir, char *snap, char *seg)
{
    DIR *d = opendir(dir);
    CHECK(d);
    struct dirent *e;
    snap[0] = seg[0] = 0;
    while ((e = readdir(d))) {
        if (!strncmp(e->d_name, "snap-", 5))
            snprintf(snap, CRAFT_NAME_MAX, "%s", e->d_name);
        if (!strncmp(e->d_name, "jrn-", 4) && strcmp(e->d_name, seg) > 0)
            snprintf(seg, CRAFT_NAME_MAX, "%s", e->d_name);
    }
    closedir(d);
}

/* The whole file at path, malloc()ed (the caller frees it); its size in *n. */
static inline unsigned char *craft_read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    CHECK(f && fseek(f, 0, SEEK_END) == 0);
    long len = ftell(f);
    CHECK(len >= 0 && fseek(f, 0, SEEK_SET) == 0);
    unsigned char *b = malloc((size_t)len + 1);
    CHECK(b && fread(b, 1, (size_t)len, f) == (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* Replace the file at path by b[0..n). */
static inline void craft_write_file(const char *path, const unsigned char *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(b, 1, n, f) == n && fclose(f) == 0);
}

/* Recompute every checksum of the snapshot b[0..n) after an edit: the
 * vector chunk sums, the vector sections' sums of them, every other
 * section's sum, the table's sum and the footer's copy of it. The header
 * holds no checksum of the content, so it stays as it is. Returns 0, or -1
 * (nothing written) when the header, table or sections are not where a
 * sum could be written: an edit that broke the structure itself, which
 * the parser reports without reading a sum. */
static inline int craft_reseal_snapshot(unsigned char *b, size_t n)
{
    struct cogmem__snap_header h;
    struct cogmem__snap_section sec[COGMEM__SEC_N];
    struct cogmem__snap_footer f;
    if (n < sizeof h + sizeof f)
        return -1;
    memcpy(&h, b, sizeof h);
    if (h.table_off > n || n - h.table_off < sizeof sec + 8 + sizeof f)
        return -1;
    memcpy(sec, b + h.table_off, sizeof sec);
    for (int i = 0; i < COGMEM__SEC_N; i++)
        if (sec[i].off > n || sec[i].len > n - sec[i].off)
            return -1;
    uint64_t chunks = 0;
    for (int k = 0; k < 2; k++)
        chunks += (sec[2 + k].len + COGMEM__VEC_CHUNK - 1) / COGMEM__VEC_CHUNK;
    if (sec[4].len < 8 * chunks)
        return -1;
    unsigned char *sums = b + sec[4].off;
    for (int k = 0, at = 0; k < 2; k++) {
        const struct cogmem__snap_section *v = &sec[2 + k];
        unsigned char *first = sums + 8 * at;
        for (uint64_t o = 0; o < v->len; o += COGMEM__VEC_CHUNK, at++) {
            uint64_t len = v->len - o < COGMEM__VEC_CHUNK ? v->len - o : COGMEM__VEC_CHUNK;
            uint64_t x = XXH3_64bits(b + v->off + o, len);
            memcpy(sums + 8 * at, &x, 8);
        }
        sec[2 + k].xxh3 = XXH3_64bits(first, (size_t)(sums + 8 * at - first));
    }
    for (int i = 0; i < COGMEM__SEC_N; i++)
        if (i != 2 && i != 3)
            sec[i].xxh3 = XXH3_64bits(b + sec[i].off, sec[i].len);
    memcpy(b + h.table_off, sec, sizeof sec);
    uint64_t t = XXH3_64bits(sec, sizeof sec);
    memcpy(b + h.table_off + sizeof sec, &t, 8);
    memcpy(&f, b + n - sizeof f, sizeof f);
    f.table_xxh3 = t;
    memcpy(b + n - sizeof f, &f, sizeof f);
    return 0;
}

/* Recompute the checksum of every record of the journal segment b[0..n),
 * from the first, with the salt of its header, for as long as the records'
 * lengths keep them inside the segment (an edited length ends the walk:
 * the parser then finds a record it reports, or a torn tail). */
static inline void craft_reseal_segment(unsigned char *b, size_t n)
{
    struct cogmem__jrn_header h;
    if (n < sizeof h)
        return;
    memcpy(&h, b, sizeof h);
    size_t off = sizeof h;
    while (n - off >= sizeof(struct cogmem__jrn_rec) + 8) {
        struct cogmem__jrn_rec r;
        memcpy(&r, b + off, sizeof r);
        if (r.len > n || cogmem__jrn_rec_bytes(r.len) > n - off)
            return;
        size_t body = sizeof r + cogmem__pad8(r.len);
        uint64_t sum = XXH3_64bits_withSeed(b + off, body, h.salt);
        memcpy(b + off + body, &sum, 8);
        off += cogmem__jrn_rec_bytes(r.len);
    }
}

#endif /* COGMEM_TEST_PERSIST_CRAFT_H */
