/* cogmem command-line program — a progress bar for steps that take longer
 * than a moment.
 *
 * On a terminal the bar is drawn on stderr and redrawn in place at most ten
 * times a second, but only once the step has run for 0.3 s (quick steps
 * draw nothing); elsewhere (a log, a pipe) nothing is drawn. Single
 * threaded: one bar at a time, updated by the thread that began it.
 */
#ifndef COGMEM_TOOLS_PROGRESS_H
#define COGMEM_TOOLS_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct progress_bar {
    const char *label;
    uint64_t total;
    double t0, last;
    bool enabled, drawn;
};

/* Start a bar for `total` units of work; enabled = false draws nothing. */
void progress_begin(struct progress_bar *p, const char *label,
                    uint64_t total, bool enabled);
/* `done` units are finished (cheap: a clock read every call, a redraw at
 * most every 0.1 s). */
void progress_update(struct progress_bar *p, uint64_t done);
/* Finish: a drawn bar is completed and its line ended. Returns the seconds
 * since progress_begin(). */
double progress_end(struct progress_bar *p);

/* Monotonic seconds, for timing steps. */
double progress_now(void);

#endif /* COGMEM_TOOLS_PROGRESS_H */
