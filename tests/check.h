/* cogmem tests — CHECK(c) for the tests that run without cmocka (stress
 * programs, the persistence state helpers): print where and what failed
 * and exit 1, in every build (not an assert, which NDEBUG would remove). */
#ifndef COGMEM_TEST_CHECK_H
#define COGMEM_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(c)                                                               \
    do {                                                                       \
        if (!(c)) {                                                            \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

#endif /* COGMEM_TEST_CHECK_H */
