/* cogmem command-line program — progress bars (see progress.h). */
#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define BAR_WIDTH 32

double progress_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void progress_begin(struct progress_bar *p, const char *label,
                    uint64_t total, bool enabled)
{
    p->label = label;
    p->total = total ? total : 1;
    p->t0 = p->last = progress_now();
    p->enabled = enabled && isatty(STDERR_FILENO) == 1;
    p->drawn = false;
}

static void draw(struct progress_bar *p, uint64_t done, double t)
{
    unsigned fill = (unsigned)(done >= p->total ? BAR_WIDTH
                               : (double)done * BAR_WIDTH / (double)p->total);
    char bar[BAR_WIDTH + 1];

    for (unsigned i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[BAR_WIDTH] = '\0';
    fprintf(stderr, "\r  %-28s [%s] %3.0f%%  %5.1f s\033[K", p->label, bar,
            100.0 * (double)(done > p->total ? p->total : done) / (double)p->total,
            t - p->t0);
    fflush(stderr);
    p->drawn = true;
}

void progress_update(struct progress_bar *p, uint64_t done)
{
    if (!p->enabled)
        return;
    double t = progress_now();
    if (t - p->t0 < 0.3 || t - p->last < 0.1)
        return;
    p->last = t;
    draw(p, done, t);
}

double progress_end(struct progress_bar *p)
{
    double t = progress_now();
    if (p->drawn) {
        draw(p, p->total, t);
        fputc('\n', stderr);
    }
    return t - p->t0;
}
