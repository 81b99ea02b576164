/* cogmem — the file-operations table (see fileops.h). */
#include "src/persist/fileops.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static int p_writeback(int fd, off_t off, off_t n)
{
    return sync_file_range(fd, off, n, SYNC_FILE_RANGE_WRITE);
}

static int p_open(const char *path, int flags, mode_t mode)
{
    return open(path, flags | O_CLOEXEC, mode);
}

const struct cogmem__fileops cogmem__fops_posix = {
    .open = p_open,
    .close = close,
    .write = write,
    .pread = pread,
    .fsync = fsync,
    .fdatasync = fdatasync,
    .ftruncate = ftruncate,
    .rename = rename,
    .unlink = unlink,
    .mkdir = mkdir,
    .writev = writev,
    .pwrite = pwrite,
    .writeback = p_writeback,
};

const struct cogmem__fileops *cogmem__fops = &cogmem__fops_posix;

int cogmem__write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t w = cogmem__fops->write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (w == 0)
            return -EIO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int cogmem__writev_all(int fd, struct iovec *iov, int cnt)
{
    while (cnt) {
        ssize_t w = cogmem__fops->writev(fd, iov, cnt);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (w == 0)
            return -EIO;
        size_t left = (size_t)w;
        while (cnt && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt) {
            iov->iov_base = (char *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return 0;
}

int cogmem__pwrite_all(int fd, const void *buf, size_t n, off_t off)
{
    const char *p = buf;
    while (n) {
        ssize_t w = cogmem__fops->pwrite(fd, p, n, off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (w == 0)
            return -EIO;
        p += w;
        n -= (size_t)w;
        off += w;
    }
    return 0;
}

int cogmem__pread_all(int fd, void *buf, size_t n, off_t off)
{
    char *p = buf;
    while (n) {
        ssize_t r = cogmem__fops->pread(fd, p, n, off);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0)
            return -EBADMSG;
        p += r;
        n -= (size_t)r;
        off += r;
    }
    return 0;
}

int cogmem__fsync_dir(const char *dir)
{
    int fd = cogmem__fops->open(dir, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0)
        return -errno;
    int rc = cogmem__fops->fsync(fd) ? -errno : 0;
    cogmem__fops->close(fd);
    return rc;
}
