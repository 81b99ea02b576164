/* cogmem — export macro shared by the public headers.
 *
 * The library is built with -fvisibility=hidden; only declarations marked
 * COGMEM_API are exported from the shared object. For a static build the
 * attribute is harmless.
 */
#ifndef COGMEM_EXPORT_H
#define COGMEM_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define COGMEM_API __attribute__((visibility("default")))
#else
#define COGMEM_API
#endif

#endif /* COGMEM_EXPORT_H */
