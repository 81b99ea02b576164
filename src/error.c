/* cogmem — error strings. */
#include <errno.h>

#include "cogmem.h"

const char *cogmem_strerror(int err)
{
    switch (err) {
    case 0: return "success";
    case -EINVAL: return "invalid argument";
    case -ENOENT: return "no such id";
    case -EEXIST: return "id already exists";
    case -ENOMEM: return "out of memory";
    case -ERANGE: return "result out of range";
    case -EBUSY: return "vector references still held";
    case -EDEADLK: return "called inside a cogmem_foreach callback";
    case -ENOTSUP: return "not supported on this machine or build";
    case -ENODEV: return "no such NUMA node";
    case -EBADMSG: return "corrupt store data (see cogmem_open_report, cogmem_snapshot_report)";
    case -EPROTONOSUPPORT: return "store file written by a newer format";
    case -EIO: return "I/O error (the journal has stopped)";
    case -ENOSPC: return "no space left on the store's device";
    case -EACCES: return "permission denied on the store directory";
    case -ENAMETOOLONG: return "store path too long";
    default: return "unknown error";
    }
}
