/* cogmem — cogmem_snapshot_verify(): the parser's checks of a snapshot
 * file (snapparse.c, every checksum on), and, through its sink, each
 * vector row against its record's norm, the check the COPY open's
 * workers make (loadvec.c), so that a file verify passes is one a COPY
 * open loads. The row check is here, not in the parser, which stays free
 * of the SIMD layer for the parser fuzzers (tools/fuzz.sh).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "src/persist/internal.h"

static int verify_config(void *arg, const struct cogmem__snap_header *h)
{
    *(uint32_t *)arg = h->dim;
    return 0;
}

/* -EBADMSG makes the parser name the record, its offset and its id. */
static int verify_node(void *arg, enum cogmem_kind kind, const struct cogmem__snap_node *n,
                       const float *row)
{
    (void)kind;
    return cogmem__row_ok(row, *(const uint32_t *)arg, n->norm) ? 0 : -EBADMSG;
}

int cogmem_snapshot_verify(const char *path, cogmem_snapshot_summary *out)
{
    if (!path || (out && out->struct_size < sizeof *out))
        return -EINVAL;
    cogmem_snapshot_summary s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    const uint8_t *buf;
    size_t len;
    int rc = cogmem__map_file(path, &buf, &len);
    if (rc == 0) {
        struct cogmem__bad bad = {{0}, 0, {0}};
        static const struct cogmem__snap_sink sink = {.config = verify_config,
                                                      .node = verify_node};
        uint32_t dim = 0;
        rc = cogmem__snap_parse(buf, len, COGMEM__SNAP_SUMS, &sink, &dim, &s, &bad);
        cogmem__unmap_file(buf, len);
        if (rc) {
            snprintf(s.bad_section, sizeof s.bad_section, "%s", bad.section);
            s.bad_offset = bad.offset;
            snprintf(s.detail, sizeof s.detail, "%s", bad.detail);
        }
    }
    if (out)
        *out = s;
    return rc;
}
