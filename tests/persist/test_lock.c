/* The directory lock: a second opener gets -EBUSY (another process, and
 * the same process twice), and a lock left by a process killed with
 * SIGKILL blocks nobody. */
#include <signal.h>
#include <sys/wait.h>

#include "tests/persist/state.h"

static cogmem_config config(const char *dir)
{
    cogmem_config cfg;
    cogmem_config_init(&cfg);
    cfg.dim = 4;
    cfg.path = dir;
    return cfg;
}

int main(void)
{
    char *dir = test_tmpdir("lock");
    cogmem_config cfg = config(dir);
    cogmem_store *s = NULL, *t = NULL;
    CHECK_RC(cogmem_open(&cfg, &s), 0);
    CHECK_RC(cogmem_open(&cfg, &t), -EBUSY); /* same process */
    CHECK(t == NULL);
    pid_t pid = fork();
    if (pid == 0) {
        cogmem_store *u = NULL;
        _exit(cogmem_open(&cfg, &u) == -EBUSY ? 0 : 1);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    float v[4] = {1, 2, 3, 4};
    CHECK_RC(cogmem_concept_add(s, 7, v), 0);
    CHECK_RC(cogmem_close(&s), 0);

    /* A child takes the directory and is killed while holding it. */
    int p[2];
    CHECK(pipe(p) == 0);
    pid = fork();
    if (pid == 0) {
        cogmem_store *u = NULL;
        char c = cogmem_open(&cfg, &u) == 0 ? 'y' : 'n';
        if (write(p[1], &c, 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    char c = 0;
    CHECK(read(p[0], &c, 1) == 1 && c == 'y');
    CHECK_RC(cogmem_open(&cfg, &t), -EBUSY); /* held while it lives */
    kill(pid, SIGKILL);
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK_RC(cogmem_open(&cfg, &t), 0); /* the stale lock is no lock */
    CHECK_RC(cogmem_kind_of(t, 7), COGMEM_CONCEPT);
    CHECK_RC(cogmem_close(&t), 0);
    test_rmdir(dir);
    free(dir);
    puts("lock ok");
    return 0;
}
