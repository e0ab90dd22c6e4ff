/* job_noop.c -- the no-op job: finishes at once (queue benchmarks and tests). */
#include "worker.h"

int job_noop_run(worker_t *w, job_t *job, job_done_cb *done)
{
    (void)w;
    done(job, JOB_OK, NULL);
    return 0;
}
