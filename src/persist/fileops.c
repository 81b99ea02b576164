/* cogmem — the file-operations table (see fileops.h). */
#include "src/persist/fileops.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

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
