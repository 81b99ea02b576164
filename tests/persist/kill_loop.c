/* kill -9 loops: a child writes to a store directory with
 * COGMEM_DURABLE_SYNC and reports, through a pipe, each call before it
 * makes it (intent) and after it returns (ack, with the result). The
 * parent kills it at a random moment (during writes, snapshots and the
 * journal rotation they do), reopens the directory and checks:
 *   - every acknowledged call is there, exactly (vectors bit for bit,
 *     binding strengths, presentation counts);
 *   - the call in flight is either wholly there or wholly absent;
 *   - invariants: fan-outs and fan-ins equal the listings, the binding
 *     count their sum, the node counts the iteration.
 * Spreading with store_activation and forgetting store values the model
 * cannot compute (activations, strengths, which episodes go): the child
 * sends the words of every node after such a call in the same write as
 * its ack, and the model takes them as that call's result; for such a
 * call in flight, the reopened store's words are taken as it.
 * The model continues from what was found, and the next child goes on in
 * the same directory, so recovery is tested on recovered stores too.
 * Usage: persist_kill_loop [ROUNDS] (default 200; PERSIST_KILL_ROUNDS
 * overrides), seed from PERSIST_KILL_SEED. */
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "tests/persist/state.h"

#define DIM 16
#define NC 24
#define NE 48
#define EBASE 1000

enum op { OP_ADD_C = 1, OP_ADD_E, OP_REM_C, OP_REM_E, OP_SETC, OP_BIND, OP_ADJ, OP_UNBIND,
          OP_TOUCH, OP_DECAY, OP_SNAP, OP_SPREAD, OP_FORGET, OP_N,
          OP_WORDS /* phase 2: a node's words after OP_SPREAD / OP_FORGET */ };
#define WORDS_N (NC + NE)
#define UNTRACKED 0xffffffffu

struct msg {
    uint32_t op, phase; /* phase 0: intent, 1: ack */
    int32_t rc;
    uint32_t gen;
    uint64_t a, b;
    float f, pad;
};

static void vec_of(uint64_t id, uint32_t gen, float *v)
{
    for (int i = 0; i < DIM; i++)
        v[i] = 1.0f + (float)((id * 31 + gen * 7 + (uint64_t)i * 13) % 97) / 97.0f;
}

/* ----------------------------------------------------------------- model */

struct model {
    uint32_t cgen[NC + 1], egen[NE + 1]; /* 0: absent */
    float s[NE + 1][NC + 1];             /* < 0: not bound */
    uint64_t touches[NC + 1], etouches[NE + 1];
    /* Activation / strength bits, UNTRACKED until a spread or a forget
     * reported them (an add sets values the model does not compute). */
    uint32_t cact[NC + 1], eact[NE + 1], estr[NE + 1];
};

static void model_init(struct model *m)
{
    memset(m, 0, sizeof *m);
    for (int e = 0; e <= NE; e++)
        for (int c = 0; c <= NC; c++)
            m->s[e][c] = -1.0f;
    memset(m->cact, 0xff, sizeof m->cact);
    memset(m->eact, 0xff, sizeof m->eact);
    memset(m->estr, 0xff, sizeof m->estr);
}

/* A node's words as the child reports them (msg.a id, msg.rc 1 if it
 * exists, msg.gen activation bits, msg.b strength bits). */
static void words_of(cogmem_store *s, uint64_t id, struct msg *w)
{
    memset(w, 0, sizeof *w);
    w->op = OP_WORDS;
    w->phase = 2;
    w->a = id;
    if (id <= NC) {
        struct cogmem_concept_info ci;
        if (cogmem_concept_info(s, id, &ci) == 0) {
            w->rc = 1;
            memcpy(&w->gen, &ci.activation, 4);
        }
    } else {
        struct cogmem_episode_info ei;
        if (cogmem_episode_info(s, id, &ei) == 0) {
            w->rc = 1;
            memcpy(&w->gen, &ei.activation, 4);
            uint32_t b;
            memcpy(&b, &ei.strength, 4);
            w->b = b;
        }
    }
}

static uint64_t word_id(int i) { return i < NC ? (uint64_t)i + 1 : EBASE + (uint64_t)(i - NC) + 1; }

/* Take reported words as the result of a spread or a forget: values, and
 * (a forget) the episodes it removed. */
static void model_words(struct model *m, const struct msg *w)
{
    for (int i = 0; i < WORDS_N; i++) {
        uint64_t id = w[i].a;
        if (id <= NC) {
            if (m->cgen[id] && w[i].rc)
                m->cact[id] = w[i].gen;
            continue;
        }
        uint64_t e = id - EBASE;
        if (m->egen[e] && !w[i].rc) { /* forgotten */
            m->egen[e] = 0;
            for (int c = 0; c <= NC; c++)
                m->s[e][c] = -1.0f;
        }
        if (w[i].rc) {
            m->eact[e] = w[i].gen;
            m->estr[e] = (uint32_t)w[i].b;
        }
    }
}

/* Apply op to m; returns the rc the library must give. */
static int model_apply(struct model *m, const struct msg *o)
{
    uint64_t a = o->a, b = o->b;
    switch (o->op) {
    case OP_ADD_C:
        if (m->cgen[a] || (a >= EBASE && m->egen[a - EBASE]))
            return -EEXIST;
        m->cgen[a] = o->gen;
        m->touches[a] = 0;
        m->cact[a] = UNTRACKED;
        return 0;
    case OP_ADD_E:
        if (m->egen[a - EBASE])
            return -EEXIST;
        m->egen[a - EBASE] = o->gen;
        m->etouches[a - EBASE] = 0;
        m->eact[a - EBASE] = m->estr[a - EBASE] = UNTRACKED;
        return 0;
    case OP_REM_C:
        if (!m->cgen[a])
            return -ENOENT;
        m->cgen[a] = 0;
        for (int e = 0; e <= NE; e++)
            m->s[e][a] = -1.0f;
        return 0;
    case OP_REM_E:
        if (!m->egen[a - EBASE])
            return -ENOENT;
        m->egen[a - EBASE] = 0;
        for (int c = 0; c <= NC; c++)
            m->s[a - EBASE][c] = -1.0f;
        return 0;
    case OP_SETC:
        if (!m->cgen[a])
            return -ENOENT;
        m->cgen[a] = o->gen;
        return 0;
    case OP_BIND:
        if (!m->cgen[b] || !m->egen[a - EBASE])
            return -ENOENT;
        if (m->s[a - EBASE][b] >= 0.0f)
            return -EEXIST;
        m->s[a - EBASE][b] = o->f;
        return 0;
    case OP_ADJ: {
        float *s = &m->s[a - EBASE][b];
        if (!m->cgen[b] || !m->egen[a - EBASE] || *s < 0.0f)
            return -ENOENT;
        float x = *s + o->pad; /* pad carries the delta */
        *s = x < 0.0f ? 0.0f : x > 1.0f ? 1.0f : x;
        return 0;
    }
    case OP_UNBIND:
        if (!m->cgen[b] || !m->egen[a - EBASE] || m->s[a - EBASE][b] < 0.0f)
            return -ENOENT;
        m->s[a - EBASE][b] = -1.0f;
        return 0;
    case OP_TOUCH:
        if (a <= NC) {
            if (!m->cgen[a])
                return -ENOENT;
            m->touches[a]++;
        } else {
            if (!m->egen[a - EBASE])
                return -ENOENT;
            m->etouches[a - EBASE]++;
        }
        return 0;
    case OP_DECAY:
        for (int e = 1; e <= NE; e++)
            for (int c = 1; c <= NC; c++)
                if (m->s[e][c] >= 0.0f) {
                    m->s[e][c] *= 0.8f;
                    if (m->s[e][c] < 0.3f)
                        m->s[e][c] = -1.0f;
                }
        return 0;
    default:
        return 0;
    }
}

/* 0 if the store holds exactly m. */
static int model_check(cogmem_store *s, const struct model *m, int verbose)
{
    float v[DIM];
    uint64_t nc = 0, ne = 0, nb = 0;
    for (uint64_t c = 1; c <= NC; c++) {
        int k = cogmem_kind_of(s, c);
        if ((k == COGMEM_CONCEPT) != (m->cgen[c] != 0)) {
            if (verbose)
                fprintf(stderr, "concept %llu: kind %d, model gen %u\n", (unsigned long long)c,
                        k, m->cgen[c]);
            return 1;
        }
        if (!m->cgen[c])
            continue;
        nc++;
        const cogmem_vec *cv;
        CHECK_RC(cogmem_vec_get(s, c, &cv), 0);
        vec_of(c, m->cgen[c], v);
        int same = memcmp(cogmem_vec_data(cv), v, sizeof v) == 0;
        cogmem_vec_put(cv);
        if (!same) {
            if (verbose)
                fprintf(stderr, "concept %llu: vector differs\n", (unsigned long long)c);
            return 1;
        }
        struct msg w;
        words_of(s, c, &w);
        if (m->cact[c] != UNTRACKED && w.gen != m->cact[c]) {
            if (verbose)
                fprintf(stderr, "concept %llu: activation bits %#x, model %#x\n",
                        (unsigned long long)c, w.gen, m->cact[c]);
            return 1;
        }
        cogmem_actr_result ar = {.struct_size = sizeof ar};
        CHECK_RC(cogmem_actr_activation(s, c, NULL, 0, 1, &ar), 0);
        if (ar.presentations != m->touches[c]) {
            if (verbose)
                fprintf(stderr, "concept %llu: %llu presentations, model %llu\n",
                        (unsigned long long)c, (unsigned long long)ar.presentations,
                        (unsigned long long)m->touches[c]);
            return 1;
        }
        uint64_t ids[NE + 1];
        float str[NE + 1];
        size_t n = 0;
        CHECK_RC(cogmem_concept_episodes(s, c, ids, str, NE + 1, &n), 0);
        uint32_t fan;
        CHECK_RC(cogmem_fan_out(s, c, &fan), 0);
        CHECK(fan == n);
        size_t want = 0;
        for (int e = 1; e <= NE; e++)
            want += m->s[e][c] >= 0.0f;
        if (n != want) {
            if (verbose)
                fprintf(stderr, "concept %llu: %zu bindings, model %zu\n",
                        (unsigned long long)c, n, want);
            return 1;
        }
        for (size_t j = 0; j < n; j++) {
            uint64_t e = ids[j] - EBASE;
            if (e < 1 || e > NE || m->s[e][c] != str[j]) {
                if (verbose)
                    fprintf(stderr, "binding (%llu, %llu): %g, model %g\n",
                            (unsigned long long)ids[j], (unsigned long long)c, str[j],
                            e >= 1 && e <= NE ? m->s[e][c] : -2.0f);
                return 1;
            }
        }
        nb += n;
    }
    for (uint64_t e = 1; e <= NE; e++) {
        int k = cogmem_kind_of(s, e + EBASE);
        if ((k == COGMEM_EPISODE) != (m->egen[e] != 0)) {
            if (verbose)
                fprintf(stderr, "episode %llu: kind %d, model gen %u\n",
                        (unsigned long long)(e + EBASE), k, m->egen[e]);
            return 1;
        }
        if (!m->egen[e])
            continue;
        ne++;
        const cogmem_vec *cv;
        CHECK_RC(cogmem_vec_get(s, e + EBASE, &cv), 0);
        vec_of(e + EBASE, m->egen[e], v);
        int same = memcmp(cogmem_vec_data(cv), v, sizeof v) == 0;
        cogmem_vec_put(cv);
        struct cogmem_episode_info ei;
        CHECK_RC(cogmem_episode_info(s, e + EBASE, &ei), 0);
        cogmem_actr_result ar = {.struct_size = sizeof ar};
        CHECK_RC(cogmem_actr_activation(s, e + EBASE, NULL, 0, 1, &ar), 0);
        struct msg w;
        words_of(s, e + EBASE, &w);
        if ((m->eact[e] != UNTRACKED && w.gen != m->eact[e]) ||
            (m->estr[e] != UNTRACKED && (uint32_t)w.b != m->estr[e])) {
            if (verbose)
                fprintf(stderr, "episode %llu: words %#x %#x, model %#x %#x\n",
                        (unsigned long long)(e + EBASE), w.gen, (unsigned)w.b, m->eact[e],
                        m->estr[e]);
            return 1;
        }
        if (!same || ei.time_ns != m->egen[e] || ar.presentations != m->etouches[e]) {
            if (verbose)
                fprintf(stderr, "episode %llu differs\n", (unsigned long long)(e + EBASE));
            return 1;
        }
        uint64_t ids[NC + 1];
        size_t n = 0;
        CHECK_RC(cogmem_episode_concepts(s, e + EBASE, ids, NULL, NC + 1, &n), 0);
        uint32_t fan;
        CHECK_RC(cogmem_fan_in(s, e + EBASE, &fan), 0);
        CHECK(fan == n); /* invariant: fan-in = listing */
        size_t want = 0;
        for (int c = 1; c <= NC; c++)
            want += m->s[e][c] >= 0.0f;
        if (n != want)
            return 1;
    }
    uint64_t cnt;
    CHECK_RC(cogmem_count(s, COGMEM_CONCEPT, &cnt), 0);
    CHECK(cnt == nc); /* invariant: counts = what exists */
    CHECK_RC(cogmem_count(s, COGMEM_EPISODE, &cnt), 0);
    CHECK(cnt == ne);
    CHECK_RC(cogmem_binding_count(s, &cnt), 0);
    CHECK(cnt == nb);
    struct idlist l = {0};
    CHECK_RC(cogmem_foreach(s, COGMEM_ALL_KINDS, state_collect, &l), 0);
    CHECK(l.n == nc + ne); /* invariant: counts = iteration */
    free(l.v);
    return 0;
}

/* ----------------------------------------------------------------- child */

static void send_msg(int fd, const struct msg *m)
{
    if (write(fd, m, sizeof *m) != (ssize_t)sizeof *m)
        _exit(3);
}

static cogmem_store *open_store(const char *dir)
{
    return test_open_store(dir, DIM, COGMEM_DURABLE_SYNC);
}

static void child(const char *dir, int fd, uint64_t seed)
{
    cogmem_store *s = open_store(dir);
    if (!s)
        _exit(2);
    uint64_t x = seed * 2654435761u + 1;
    uint32_t gen = (uint32_t)(seed & 0xffff) * 4096u + 1;
    for (;;) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        struct msg m = {0};
        m.op = 1 + (uint32_t)(x % (OP_N - 1));
        m.gen = gen++;
        uint64_t c = 1 + (x >> 8) % NC, e = EBASE + 1 + (x >> 20) % NE;
        switch (m.op) {
        case OP_ADD_C: case OP_REM_C: case OP_SETC:
            m.a = c;
            break;
        case OP_ADD_E: case OP_REM_E:
            m.a = e;
            break;
        case OP_TOUCH:
            m.a = (x >> 40) & 1 ? c : e;
            break;
        case OP_BIND: case OP_ADJ: case OP_UNBIND:
            m.a = e;
            m.b = c;
            m.f = (float)((x >> 32) % 1000) / 1000.0f;
            m.pad = (float)((int)((x >> 44) % 600) - 300) / 1000.0f;
            break;
        case OP_DECAY:
            if ((x >> 50) % 4) /* rarer: it empties the store */
                continue;
            break;
        case OP_SNAP:
            if ((x >> 50) % 3)
                continue;
            break;
        case OP_SPREAD:
            m.a = c;
            break;
        case OP_FORGET:
            if ((x >> 50) % 4) /* rarer: it removes episodes */
                continue;
            m.b = NE / 2 + (x >> 32) % (NE / 2);
            break;
        }
        m.phase = 0;
        send_msg(fd, &m);
        int rc = 0;
        float v[DIM];
        switch (m.op) {
        case OP_ADD_C:
            vec_of(m.a, m.gen, v);
            rc = cogmem_concept_add(s, m.a, v);
            break;
        case OP_ADD_E:
            vec_of(m.a, m.gen, v);
            rc = cogmem_episode_add(s, m.a, v, m.gen);
            break;
        case OP_REM_C:
            rc = cogmem_concept_remove(s, m.a);
            break;
        case OP_REM_E:
            rc = cogmem_episode_remove(s, m.a);
            break;
        case OP_SETC:
            vec_of(m.a, m.gen, v);
            rc = cogmem_concept_set_centroid(s, m.a, v);
            break;
        case OP_BIND:
            rc = cogmem_bind(s, m.a, m.b, m.f);
            break;
        case OP_ADJ:
            rc = cogmem_binding_adjust(s, m.a, m.b, m.pad, &m.f);
            break;
        case OP_UNBIND:
            rc = cogmem_unbind(s, m.a, m.b);
            break;
        case OP_TOUCH:
            rc = cogmem_touch(s, m.a, 1000000000ull + m.gen);
            break;
        case OP_DECAY: {
            cogmem_decay_params dp;
            cogmem_decay_params_init(&dp);
            dp.model = COGMEM_DECAY_FACTOR;
            dp.factor = 0.8f;
            dp.prune_below = 0.3f;
            rc = cogmem_decay(s, &dp, 0, NULL);
            break;
        }
        case OP_SNAP:
            rc = cogmem_snapshot(s);
            break;
        case OP_SPREAD: {
            cogmem_source src = {m.a, 1.0f};
            cogmem_spread_params sp;
            cogmem_spread_params_init(&sp);
            sp.max_depth = 2;
            sp.store_activation = 1;
            cogmem_hit out[8];
            size_t no = 0;
            rc = cogmem_spread(s, &src, 1, &sp, out, 8, &no);
            break;
        }
        case OP_FORGET: {
            cogmem_forget_params fp;
            cogmem_forget_params_init(&fp);
            fp.now_ns = 2000000000ull + m.gen;
            fp.max_episodes = m.b;
            rc = cogmem_forget(s, &fp, NULL);
            break;
        }
        }
        m.phase = 1;
        m.rc = rc;
        if (m.op == OP_SPREAD || m.op == OP_FORGET) {
            /* The words, then the ack, in one write (under PIPE_BUF, so
             * the parent gets all of it or none). */
            struct msg all[WORDS_N + 1];
            _Static_assert(sizeof all <= PIPE_BUF, "one atomic pipe write");
            for (int i = 0; i < WORDS_N; i++)
                words_of(s, word_id(i), &all[i]);
            all[WORDS_N] = m;
            if (write(fd, all, sizeof all) != (ssize_t)sizeof all)
                _exit(3);
        } else {
            send_msg(fd, &m);
        }
    }
}

/* ---------------------------------------------------------------- parent */

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 200;
    if (getenv("PERSIST_KILL_ROUNDS"))
        rounds = atoi(getenv("PERSIST_KILL_ROUNDS"));
    uint64_t seed = getenv("PERSIST_KILL_SEED") ? strtoull(getenv("PERSIST_KILL_SEED"), 0, 0)
                                                : (uint64_t)time(NULL);
    fprintf(stderr, "kill loop: %d rounds, seed %llu\n", rounds, (unsigned long long)seed);
    char *dir = test_tmpdir("kill");
    struct model *m = malloc(sizeof *m), *alt = malloc(sizeof *alt);
    model_init(m);
    uint64_t acked = 0, pend_present = 0, pend_absent = 0;
    uint64_t r = seed | 1;
    for (int round = 0; round < rounds; round++) {
        int p[2];
        CHECK(pipe(p) == 0);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            child(dir, p[1], seed + (uint64_t)round * 7919u);
        }
        close(p[1]);
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        struct timespec ts = {0, (long)(r % 120000000)}; /* 0..120 ms */
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status;
        CHECK(waitpid(pid, &status, 0) == pid);
        if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
            fprintf(stderr, "round %d: child ended by itself (status %#x)\n", round, status);
            return 1;
        }
        struct msg msg, pending = {0}, words[WORDS_N];
        int have_pending = 0, nwords = 0;
        ssize_t got;
        while ((got = read(p[0], &msg, sizeof msg)) == (ssize_t)sizeof msg) {
            if (msg.phase == 0) {
                pending = msg;
                have_pending = 1;
                continue;
            }
            if (msg.phase == 2) {
                CHECK(nwords < WORDS_N);
                words[nwords++] = msg;
                continue;
            }
            have_pending = 0;
            acked++;
            if (msg.op == OP_SPREAD || msg.op == OP_FORGET) {
                CHECK(nwords == WORDS_N);
                if (msg.rc != 0 && !(msg.op == OP_SPREAD && msg.rc == -ENOENT)) {
                    fprintf(stderr, "round %d: op %u failed: %d\n", round, msg.op, msg.rc);
                    return 1;
                }
                model_words(m, words);
                nwords = 0;
                continue;
            }
            int want = model_apply(m, &msg);
            if (msg.op == OP_ADJ && want == 0) {
                /* The library's result must be the model's. */
                float ms = m->s[msg.a - EBASE][msg.b];
                if (ms != msg.f) {
                    fprintf(stderr, "round %d: adjust gave %g, model %g\n", round, msg.f, ms);
                    return 1;
                }
            }
            if (msg.op != OP_SNAP && msg.op != OP_DECAY && want != msg.rc) {
                fprintf(stderr, "round %d: op %u (%llu, %llu) returned %d, model says %d\n",
                        round, msg.op, (unsigned long long)msg.a, (unsigned long long)msg.b,
                        msg.rc, want);
                return 1;
            }
            if ((msg.op == OP_SNAP || msg.op == OP_DECAY) && msg.rc != 0) {
                fprintf(stderr, "round %d: op %u failed: %d\n", round, msg.op, msg.rc);
                return 1;
            }
        }
        close(p[0]);
        cogmem_store *s = open_store(dir);
        if (!s) {
            fprintf(stderr, "round %d: reopen failed\n", round);
            return 1;
        }
        if (model_check(s, m, 0) == 0) {
            if (have_pending && pending.op != OP_SNAP) {
                *alt = *m;
                if (model_apply(alt, &pending) == 0 && memcmp(alt, m, sizeof *m) != 0)
                    pend_absent++;
            }
        } else {
            int ok = 0;
            if (have_pending) {
                *alt = *m;
                if (pending.op == OP_SPREAD || pending.op == OP_FORGET) {
                    /* Its result is whatever the store holds. */
                    struct msg w[WORDS_N];
                    for (int i = 0; i < WORDS_N; i++)
                        words_of(s, word_id(i), &w[i]);
                    model_words(alt, w);
                } else {
                    model_apply(alt, &pending);
                }
                ok = model_check(s, alt, 0) == 0;
                if (ok) {
                    *m = *alt;
                    pend_present++;
                }
            }
            if (!ok) {
                fprintf(stderr, "round %d: reopened store matches neither the acknowledged "
                                "state nor it plus the call in flight (op %u)\n",
                        round, have_pending ? pending.op : 0);
                model_check(s, m, 1);
                return 1;
            }
        }
        CHECK_RC(cogmem_close(&s), 0);
    }
    fprintf(stderr, "kill loop ok: %d rounds, %llu acknowledged calls, in-flight call "
                    "found applied %llu times, absent %llu times\n",
            rounds, (unsigned long long)acked, (unsigned long long)pend_present,
            (unsigned long long)pend_absent);
    test_rmdir(dir);
    free(dir);
    free(m);
    free(alt);
    return 0;
}
