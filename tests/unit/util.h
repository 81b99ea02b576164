/* cogmem tests — small helpers shared by the unit tests. */
#ifndef COGMEM_TEST_UTIL_H
#define COGMEM_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "cogmem.h"

/* A store of dimension dim; fails the test if it cannot be opened. */
static inline cogmem_store *test_open(uint32_t dim)
{
    cogmem_config cfg;
    cogmem_config_init(&cfg);
    cfg.dim = dim;
    cogmem_store *s = NULL;
    assert_int_equal(cogmem_open(&cfg, &s), 0);
    assert_non_null(s);
    return s;
}

static inline void test_close(cogmem_store **s)
{
    assert_int_equal(cogmem_close(s), 0);
    assert_null(*s);
}

/* dim floats all equal to x. */
static inline void fill(float *v, uint32_t dim, float x)
{
    for (uint32_t i = 0; i < dim; i++)
        v[i] = x;
}

/* Add a concept, or an episode at time `id`, whose vector is dim copies
 * of x; fails the test on error. */
static inline void test_add_concept(cogmem_store *s, uint64_t id, uint32_t dim, float x)
{
    float v[dim];
    fill(v, dim, x);
    assert_int_equal(cogmem_concept_add(s, id, v), 0);
}

static inline void test_add_episode(cogmem_store *s, uint64_t id, uint32_t dim, float x)
{
    float v[dim];
    fill(v, dim, x);
    assert_int_equal(cogmem_episode_add(s, id, v, id), 0);
}

#endif
