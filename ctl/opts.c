/* opts.c -- "--name VALUE" option parsing for the eposctl commands. */
#include <stdio.h>
#include <string.h>

#include "ctl.h"

static const ctl_opt *ctl_opt_find(const ctl_opt *opts, size_t nopts, const char *name, size_t len)
{
    for (size_t i = 0; i < nopts; i++)
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
            return &opts[i];
    return NULL;
}

int ctl_opts_parse(const char *cmd, int argc, char **argv, int first, const ctl_opt *opts,
                   size_t nopts)
{
    for (int i = first; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            fprintf(stderr, "eposctl %s: unexpected argument '%s'\n", cmd, arg);
            return -1;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const ctl_opt *o = ctl_opt_find(opts, nopts, name, len);
        if (!o) {
            fprintf(stderr, "eposctl %s: unknown option '%.*s'\n", cmd, (int)len + 2, arg);
            return -1;
        }
        if (o->flag) {
            if (eq) {
                fprintf(stderr, "eposctl %s: option '--%s' takes no value\n", cmd, o->name);
                return -1;
            }
            *o->flag = 1;
            continue;
        }
        if (eq) {
            *o->value = eq + 1;
        } else if (i + 1 < argc) {
            *o->value = argv[++i];
        } else {
            fprintf(stderr, "eposctl %s: option '--%s' needs a value\n", cmd, o->name);
            return -1;
        }
    }
    return 0;
}
