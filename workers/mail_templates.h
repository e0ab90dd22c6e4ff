/* mail_templates.h -- the mail templates of workers/templates, compiled into the worker (the
 * table is generated at build time by cmake/embed_templates.cmake). */
#ifndef EPOS_MAIL_TEMPLATES_H
#define EPOS_MAIL_TEMPLATES_H

#include <stddef.h>

typedef struct mail_template_file {
    const char *name; /* the file name without ".txt", e.g. "absence.notice" */
    const char *text; /* its bytes, NUL-terminated */
    size_t len;       /* without the NUL */
} mail_template_file;

extern const mail_template_file mail_template_files[];
extern const size_t mail_template_count;

#endif
