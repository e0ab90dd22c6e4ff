/* mailtext.h -- the subject and body of a mail, rendered from the templates compiled into the
 * worker (workers/templates/<name>.txt, the language of include/epos/tmpl.h).
 *
 * A template file: comment lines starting with '#', then "Subject: <template>", an empty line,
 * and the body template. SQL queues data only; the text lives here. */
#ifndef EPOS_MAILTEXT_H
#define EPOS_MAILTEXT_H

#include <jansson.h>

/* Compile every template (once; later calls return the first result).
 * Returns 0, or -1 with the template's name and the error in err. */
int mailtext_init(char *err, size_t errlen);

/* Render template name with data (an object; NULL as {}) and url (the
 * public address, as {{url}} unless data has its own; NULL as ""): a
 * malloc'd *subject (one line) and *body the caller frees. Returns 0,
 * -ENOENT when there is no such template (or they failed to compile),
 * -ENOMEM. */
int mailtext_render(const char *name, const json_t *data, const char *url, char **subject,
                    char **body);

/* Free the compiled templates (at exit; mailtext_init compiles them again). */
void mailtext_free(void);

#endif
