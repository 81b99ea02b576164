/* cogmem — dlclose() leaves no thread-exit callback behind.
 *
 * A thread that counted something in a store owns a counter stripe, which
 * the library gives back from a pthread key destructor at thread exit. If
 * the library is dlclose()d before that thread exits, the destructor's
 * code is gone: the exit would jump into unmapped memory. Loads the shared
 * library given as argv[1] (only builds without jemalloc can be dlopen()ed:
 * exit 77, skipped, otherwise), counts from a second thread, unloads the
 * library, checks it is really unmapped, then lets the thread exit. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "cogmem.h"

static pthread_barrier_t counted, unloaded;
static cogmem_store *store;
static int (*concept_info)(cogmem_store *, uint64_t, struct cogmem_concept_info *);

static void *counter(void *arg)
{
    (void)arg;
    struct cogmem_concept_info ci;
    (void)concept_info(store, 1, &ci); /* a miss, counted: draws a stripe */
    pthread_barrier_wait(&counted);
    pthread_barrier_wait(&unloaded);
    return NULL; /* the key destructor, if still registered, runs now */
}

/* 1 if a mapping of the file `path` is still in the address space. */
static int mapped(const char *path)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return -1;
    char line[4096];
    int found = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, base))
            found = 1;
    fclose(f);
    return found;
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        printf("skipped: %s (a jemalloc build cannot be dlopen()ed)\n", dlerror());
        return 77;
    }
    void (*config_init)(cogmem_config *) = (void (*)(cogmem_config *))dlsym(lib, "cogmem_config_init");
    int (*open_)(const cogmem_config *, cogmem_store **) =
        (int (*)(const cogmem_config *, cogmem_store **))dlsym(lib, "cogmem_open");
    int (*close_)(cogmem_store **) = (int (*)(cogmem_store **))dlsym(lib, "cogmem_close");
    concept_info = (int (*)(cogmem_store *, uint64_t, struct cogmem_concept_info *))dlsym(
        lib, "cogmem_concept_info");
    if (!config_init || !open_ || !close_ || !concept_info)
        return 3;
    cogmem_config cfg;
    config_init(&cfg);
    cfg.dim = 4;
    if (open_(&cfg, &store) != 0)
        return 4;
    pthread_barrier_init(&counted, NULL, 2);
    pthread_barrier_init(&unloaded, NULL, 2);
    pthread_t t;
    if (pthread_create(&t, NULL, counter, NULL) != 0)
        return 5;
    pthread_barrier_wait(&counted);
    if (close_(&store) != 0)
        return 6;
    dlclose(lib);
    int still = mapped(argv[1]);
    pthread_barrier_wait(&unloaded);
    pthread_join(t, NULL);
    if (still) {
        printf("skipped: the library stayed mapped after dlclose()\n");
        return 77;
    }
    printf("thread exited after dlclose(): no dangling callback\n");
    return 0;
}
