/* mailtext.c -- render a mail's subject and body from the compiled-in templates (see mailtext.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epos/tmpl.h"
#include "mail_templates.h"
#include "mailtext.h"

typedef struct mailtext_entry {
    const char *name;
    tmpl *subject, *body;
} mailtext_entry;

static mailtext_entry *entries; /* one per mail_template_files[], compiled */
static int init_rc = 1;         /* 1: not tried yet */

/* Split one template file into its subject and body templates. Returns 0, or -1 with err. */
static int mailtext_compile(const mail_template_file *f, mailtext_entry *e, char *err,
                            size_t errlen)
{
    const char *p = f->text, *end = f->text + f->len;
    int line = 1;
    while (p < end && *p == '#') { /* the comments at the top */
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        p = nl ? nl + 1 : end;
        line++;
    }
    static const char prefix[] = "Subject: ";
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if ((size_t)(end - p) < sizeof(prefix) - 1 || memcmp(p, prefix, sizeof(prefix) - 1) != 0 ||
        !nl || nl + 1 >= end || nl[1] != '\n') {
        snprintf(err, errlen, "%s: line %d must be \"Subject: …\", then an empty line", f->name,
                 line);
        return -1;
    }
    char msg[200];
    const char *s = p + sizeof(prefix) - 1;
    e->name = f->name;
    e->subject = tmpl_compile(s, (size_t)(nl - s), msg, sizeof(msg));
    if (!e->subject) {
        snprintf(err, errlen, "%s: the subject, %s", f->name, msg);
        return -1;
    }
    e->body = tmpl_compile(nl + 2, (size_t)(end - nl - 2), msg, sizeof(msg));
    if (!e->body) {
        snprintf(err, errlen, "%s: the body (from line %d), %s", f->name, line + 2, msg);
        return -1;
    }
    return 0;
}

void mailtext_free(void)
{
    for (size_t i = 0; entries && i < mail_template_count; i++) {
        tmpl_free(entries[i].subject);
        tmpl_free(entries[i].body);
    }
    free(entries);
    entries = NULL;
    init_rc = 1;
}

int mailtext_init(char *err, size_t errlen)
{
    char scratch[300];
    if (!err || !errlen) {
        err = scratch;
        errlen = sizeof(scratch);
    }
    err[0] = '\0';
    if (init_rc != 1)
        return init_rc;
    entries = calloc(mail_template_count + 1, sizeof(*entries));
    init_rc = entries ? 0 : -1;
    if (!entries)
        snprintf(err, errlen, "out of memory");
    for (size_t i = 0; init_rc == 0 && i < mail_template_count; i++)
        init_rc = mailtext_compile(&mail_template_files[i], &entries[i], err, errlen);
    if (init_rc != 0) {
        mailtext_free();
        init_rc = -1;
    }
    return init_rc;
}

int mailtext_render(const char *name, const json_t *data, const char *url, char **subject,
                    char **body)
{
    *subject = *body = NULL;
    if (mailtext_init(NULL, 0) != 0 || !name)
        return -ENOENT;
    const mailtext_entry *e = NULL;
    for (size_t i = 0; i < mail_template_count; i++)
        if (strcmp(entries[i].name, name) == 0)
            e = &entries[i];
    if (!e)
        return -ENOENT;
    /* The data with {{url}} added, never changing the caller's object. */
    json_t *ctx = json_is_object(data) ? json_copy((json_t *)data) : json_object();
    if (!ctx || (!json_object_get(ctx, "url") &&
                 json_object_set_new(ctx, "url", json_string(url ? url : "")) != 0)) {
        json_decref(ctx);
        return -ENOMEM;
    }
    *subject = tmpl_render(e->subject, ctx);
    *body = tmpl_render(e->body, ctx);
    json_decref(ctx);
    if (!*subject || !*body) {
        free(*subject);
        free(*body);
        *subject = *body = NULL;
        return -ENOMEM;
    }
    /* One line, whatever the data held. */
    for (char *c = *subject; *c; c++)
        if (*c == '\n' || *c == '\r' || *c == '\t')
            *c = ' ';
    return 0;
}
