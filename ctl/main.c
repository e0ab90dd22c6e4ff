/* main.c -- eposctl: global options, configuration, and the command table. */
#include <stdio.h>
#include <string.h>

#include "ctl.h"

/* To add a command: write ctl/<name>.c with an int ctl_cmd_<name>(ctl_ctx *,
 * int, char **), declare it in ctl.h, add one row here. */
static const ctl_command ctl_commands[] = {
    {"migrate", ctl_cmd_migrate, "[--dir DIR]",
     "apply new schema/migrations, then changed schema/functions files"},
    {"seed-demo", ctl_cmd_seed_demo, "[--json]",
     "create the demo region (idempotent); --json prints its users, orgs, groups, children"},
    {"user", ctl_cmd_user,
     "add --login L --name N --email E [--phone P] [--password P] [--role "
     "admin|teacher|class_teacher --org ID]\n"
     "  eposctl user password --login L [--password P]\n"
     "  eposctl user list",
     "create a user, set a password (random when not given, printed), list users"},
    {"queue", ctl_cmd_queue, "stats [--json] | dead [--limit N] [--json] | replay ID|--all",
     "job streams (length, pending, lag), delayed and dead jobs; replay dead jobs"},
    {"roster", ctl_cmd_roster, "import DIR | export DIR",
     "a region's orgs, groups, people and relations from or to OneRoster 1.2 CSV files"},
    {"reminders", ctl_cmd_reminders, "run --org ID [--date YYYY-MM-DD]",
     "re-run an org's timesheet deadline pass for a day on purpose and publish its events"},
};

#define CTL_NCOMMANDS (sizeof(ctl_commands) / sizeof(ctl_commands[0]))

static void ctl_usage(FILE *f)
{
    fprintf(f,
            "usage: eposctl [--config FILE] COMMAND [ARGS]\n\n"
            "Every configuration key may be overridden by an EPOS_* environment variable\n"
            "(the database: ctl_pg_conninfo, else pg_conninfo / EPOS_PG_CONNINFO).\n\ncommands:\n");
    for (size_t i = 0; i < CTL_NCOMMANDS; i++)
        fprintf(f, "  eposctl %s %s\n      %s\n", ctl_commands[i].name, ctl_commands[i].args,
                ctl_commands[i].help);
}

static const ctl_command *ctl_command_find(const char *name)
{
    for (size_t i = 0; i < CTL_NCOMMANDS; i++)
        if (strcmp(ctl_commands[i].name, name) == 0)
            return &ctl_commands[i];
    return NULL;
}

/* Consume the global options before the command; returns the index of the
 * command in argv, or -1 after printing the problem. */
static int ctl_parse_global(int argc, char **argv, ctl_ctx *ctx)
{
    int i = 1;
    while (i < argc && strncmp(argv[i], "--", 2) == 0) {
        if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "eposctl: --config needs a file name\n");
                return -1;
            }
            ctx->config_path = argv[i + 1];
            i += 2;
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            ctx->config_path = argv[i] + 9;
            i++;
        } else if (strcmp(argv[i], "--help") == 0) {
            ctl_usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "eposctl: unknown option %s (see eposctl --help)\n", argv[i]);
            return -1;
        }
    }
    return i;
}

int main(int argc, char **argv)
{
    ctl_ctx ctx;
    char err[512];
    memset(&ctx, 0, sizeof(ctx));

    int cmd_at = ctl_parse_global(argc, argv, &ctx);
    if (cmd_at < 0)
        return CTL_USAGE;
    if (cmd_at == 0)
        return CTL_OK;
    if (cmd_at >= argc) {
        ctl_usage(stderr);
        return CTL_USAGE;
    }
    if (strcmp(argv[cmd_at], "help") == 0) {
        ctl_usage(stdout);
        return CTL_OK;
    }
    const ctl_command *cmd = ctl_command_find(argv[cmd_at]);
    if (!cmd) {
        fprintf(stderr, "eposctl: unknown command '%s' (see eposctl --help)\n", argv[cmd_at]);
        return CTL_USAGE;
    }
    if (config_load(&ctx.cfg, ctx.config_path, err, sizeof(err)) != 0) {
        fprintf(stderr, "eposctl: %s\n", err);
        return CTL_FAIL;
    }
    config_pg_for(&ctx.cfg, "ctl"); /* the schema owner's role: ctl_pg_conninfo */
    int rc = cmd->run(&ctx, argc - cmd_at, argv + cmd_at);
    config_free(&ctx.cfg);
    return rc;
}
