/* cogmem — the file-operations table every persistence path goes through.
 *
 * One table, process-wide, so that a test can put a shim in front of the
 * real calls and fail the Nth one with EIO or ENOSPC, or cut a write short
 * (tests/persist/test_faults.c). Each entry has the POSIX signature and
 * convention (-1 and errno) of the call it is named after; the library
 * never calls these functions by their libc names. Swapping the table is
 * for tests only: it must happen while no store has a directory open.
 */
#ifndef COGMEM_SRC_PERSIST_FILEOPS_H
#define COGMEM_SRC_PERSIST_FILEOPS_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

struct cogmem__fileops {
    int (*open)(const char *path, int flags, mode_t mode);
    int (*close)(int fd);
    ssize_t (*write)(int fd, const void *buf, size_t n);
    ssize_t (*pread)(int fd, void *buf, size_t n, off_t off);
    int (*fsync)(int fd);
    int (*fdatasync)(int fd);
    int (*ftruncate)(int fd, off_t len);
    int (*rename)(const char *from, const char *to);
    int (*unlink)(const char *path);
    int (*mkdir)(const char *path, mode_t mode);
    ssize_t (*writev)(int fd, const struct iovec *iov, int iovcnt);
    ssize_t (*pwrite)(int fd, const void *buf, size_t n, off_t off);
    /* Start writing back [off, off + n) of fd's dirty pages without
     * waiting (Linux sync_file_range(SYNC_FILE_RANGE_WRITE)): a hint that
     * spreads a big file's device writes over its writing, so its final
     * fsync has little left to do. It makes nothing durable (no metadata,
     * no device cache flush); a failure is ignored by the caller, the
     * fsync that follows reports any error. */
    int (*writeback)(int fd, off_t off, off_t n);
};

/* The table in use (the real calls unless a test swapped it). */
extern const struct cogmem__fileops *cogmem__fops;

/* The real calls. */
extern const struct cogmem__fileops cogmem__fops_posix;

/* Write all n bytes (retrying short writes and EINTR). 0, or a negative
 * errno (a write that wrote nothing counts as -EIO). */
int cogmem__write_all(int fd, const void *buf, size_t n);

/* Write all the bytes of iov[0..cnt) (retrying short writes and EINTR;
 * iov is modified). 0 or a negative errno, as cogmem__write_all. */
int cogmem__writev_all(int fd, struct iovec *iov, int cnt);

/* Write all n bytes at off. 0 or a negative errno. */
int cogmem__pwrite_all(int fd, const void *buf, size_t n, off_t off);

/* Read exactly n bytes at off. 0, -EBADMSG (the file is shorter), or a
 * negative errno. */
int cogmem__pread_all(int fd, void *buf, size_t n, off_t off);

/* fsync the directory `dir` (after a rename or create in it). */
int cogmem__fsync_dir(const char *dir);

#endif /* COGMEM_SRC_PERSIST_FILEOPS_H */
