/* ctl.h -- what the eposctl commands share: the command table, option parsing, the database. */
#ifndef EPOS_CTL_H
#define EPOS_CTL_H

#include <libpq-fe.h>
#include <stddef.h>

#include "epos/config.h"

/* Exit codes of every command. */
enum { CTL_OK = 0, CTL_FAIL = 1, CTL_USAGE = 2 };

/* What a command gets: the loaded configuration. */
typedef struct ctl_ctx {
    epos_config cfg;
    const char *config_path; /* --config FILE, or NULL */
} ctl_ctx;

/* A command: argv[0] is the command name, argv[1..] its arguments.
 * Returns the process exit code (CTL_OK, CTL_FAIL, CTL_USAGE). */
typedef int (*ctl_command_fn)(ctl_ctx *ctx, int argc, char **argv);

typedef struct ctl_command {
    const char *name;
    ctl_command_fn run;
    const char *args; /* usage line after the name */
    const char *help; /* one line */
} ctl_command;

/* The commands, one file each; registered in the table in main.c. */
int ctl_cmd_migrate(ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_seed_demo(ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_user(ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_queue(ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_reminders(ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_roster(ctl_ctx *ctx, int argc, char **argv);

/* One "--name VALUE" / "--name=VALUE" option (value != NULL) or "--name"
 * flag (flag != NULL). */
typedef struct ctl_opt {
    const char *name; /* without the dashes */
    const char **value;
    int *flag;
} ctl_opt;

/* Parse argv[first..argc) against opts. Positional arguments are refused.
 * Returns 0, or -1 after printing one line naming the bad argument. */
int ctl_opts_parse(const char *cmd, int argc, char **argv, int first, const ctl_opt *opts,
                   size_t nopts);

/* Connect with cfg.pg_conninfo (client_encoding UTF8, connect_timeout 10 s
 * unless the conninfo says otherwise). On failure prints
 * "eposctl: cannot connect to PostgreSQL (<conninfo without password>): <reason>"
 * and returns NULL. Close with PQfinish(). */
PGconn *ctl_db_connect(const ctl_ctx *ctx);

/* A blocking Redis connection with 5 s timeouts, or NULL after printing one
 * line naming the server. Free with redisFree(). */
struct redisContext;
struct redisContext *ctl_redis(const ctl_ctx *ctx);

/* The one-line message of a failed result (primary message, else the
 * connection's error), written into buf; returns buf. */
const char *ctl_db_error(PGconn *conn, const PGresult *res, char *buf, size_t len);

/* Run a statement without parameters that returns no rows. Returns 0, or -1
 * after printing "eposctl: <what>: <error>". */
int ctl_db_exec(PGconn *conn, const char *sql, const char *what);

/* Run a parameterized statement (text parameters). Returns the result when it
 * succeeded (caller PQclear()s), or NULL after printing "eposctl: <what>: <error>". */
PGresult *ctl_db_query(PGconn *conn, const char *what, const char *sql, int nparams,
                       const char *const *params);

/* Like ctl_db_query for statements returning one bigint: *id is set from
 * row 0, column 0. Returns 1 when set, 0 when no row, -1 on error (printed). */
int ctl_db_query_id(PGconn *conn, const char *what, const char *sql, int nparams,
                    const char *const *params, long long *id);

#endif
