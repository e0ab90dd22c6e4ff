/* publish.h -- publish the event frames a SQL function committed, on Redis, exactly as the hub
 * does. */
#ifndef EPOS_PUBLISH_H
#define EPOS_PUBLISH_H

#include <stddef.h>
#include <jansson.h>

#include "worker.h"

/* Publish one committed frame on channel "ev:<topic>" as "<seq> <frame>"
 * (the frame's own "seq"; "- <frame>" for an ephemeral frame without one).
 * Fire and forget: hubs drop what they have seen by seq and fetch a gap
 * from PostgreSQL, so a lost or repeated publish is harmless. Returns 0
 * when the command was sent, -1 when Redis is down, the topic is empty or
 * too long, or memory ran out. */
int publish_frame(rds *r, const char *topic, const char *frame, size_t len);

/* Publish every {"topic","frame"} item of the JSON array frames (items of
 * another shape are skipped). Returns the number sent, -1 when frames is
 * not an array. */
int publish_frames(rds *r, const json_t *frames);

/* Parse a SQL function's result text (a JSON object) and publish its
 * "frames" (none when absent). Returns the number sent, -1 when text is not
 * a JSON object. */
int publish_result(rds *r, const char *text, size_t len);

/* The job outcome a failed SQL call deserves: JOB_FAIL for a refusal or bad
 * data that a retry cannot fix (SQLSTATE EP4xx, class 22), JOB_RETRY for
 * the rest (res NULL: the connection was lost). */
int publish_sql_outcome(const PGresult *res);

/* Read the positive integer field key of the job's JSON payload, as decimal
 * text into out (24 bytes suffice). Returns 0, or -1 when the payload is
 * not an object or the field is missing, not an integer or not positive. */
int publish_payload_id(const job_t *job, const char *key, char *out, size_t len);

/* Run a job that is one SQL call: sql (parameterized, literal text) must
 * return one row whose first column is JSON text; its "frames" are
 * published and the job finishes JOB_OK. A failed call finishes it with
 * publish_sql_outcome; a NULL result text finishes it JOB_RETRY. Returns 0
 * (done will be called), or JOB_RETRY when the query could not be queued
 * (done will not be called). */
int publish_job_sql(worker_t *w, job_t *job, job_done_cb *done, const char *sql, int nparams,
                    const char *const *params);

#endif
