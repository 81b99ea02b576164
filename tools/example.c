/* The API tour from README.md, kept here so that the build proves it
 * compiles and the test suite proves it runs (test 'readme-example'). */
#include <stdio.h>
#include <cogmem.h>

int main(void)
{
    cogmem_config cfg;
    cogmem_config_init(&cfg);   /* defaults, and the struct's size */
    cfg.dim = 4;

    cogmem_store *store;
    int rc = cogmem_open(&cfg, &store);
    if (rc) {
        fprintf(stderr, "cogmem_open: %s\n", cogmem_strerror(rc));
        return 1;
    }

    /* Ids are the host's own, unique across concepts and episodes. */
    const float coffee[4] = {0.9f, 0.1f, 0.0f, 0.2f};
    const float morning[4] = {0.8f, 0.3f, 0.1f, 0.0f};
    if ((rc = cogmem_concept_add(store, 1, coffee)) ||
        (rc = cogmem_episode_add(store, 1001, morning, 1700000000000000000u)))
        goto fail;

    /* An id is taken across both kinds: this fails with -EEXIST and,
     * like every failed call, changes nothing. */
    rc = cogmem_episode_add(store, 1, morning, 0);
    printf("adding id 1 again: %s\n", cogmem_strerror(rc));
    printf("id 1 is a %s\n",
           cogmem_kind_of(store, 1) == COGMEM_CONCEPT ? "concept" : "episode");

    /* Move the concept a quarter of the way toward the episode. */
    if ((rc = cogmem_concept_blend(store, 1, morning, 0.25f)))
        goto fail;

    /* Copy-out metadata: nothing returned points into the store. */
    struct cogmem_concept_info info;
    if ((rc = cogmem_concept_info(store, 1, &info)))
        goto fail;
    printf("concept 1: centroid version %u, norm %.3f\n",
           info.centroid_version, info.norm);

    /* Zero-copy read: the data stays valid and unchanged until the put,
     * even if another thread replaces the centroid meanwhile. */
    const cogmem_vec *v;
    if ((rc = cogmem_vec_get(store, 1, &v)))
        goto fail;
    const float *x = cogmem_vec_data(v);
    printf("centroid[0] = %.3f of %u floats\n", x[0], cogmem_vec_dim(v));
    cogmem_vec_put(v);

    uint64_t n;
    if ((rc = cogmem_count(store, COGMEM_ALL_KINDS, &n)))
        goto fail;
    printf("%llu nodes\n", (unsigned long long)n);

    return cogmem_close(&store) == 0 ? 0 : 1;   /* sets store to NULL */

fail:
    fprintf(stderr, "cogmem: %s\n", cogmem_strerror(rc));
    cogmem_close(&store);
    return 1;
}
