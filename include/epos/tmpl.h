/* tmpl.h -- a small text template language for mail meant for people: {{placeholders}} filled
 * from JSON data, conditionals, loops, and Russian forms (declined names, gender, plurals).
 *
 * Syntax (a tag alone on its line, but for {{x}} and the inline helpers,
 * takes its whole line with it, so blocks can stand on lines of their own):
 *   {{path}}                 the value at path ("child", "chat.title", "." the
 *                            current item of an {{#each}}); a string as it is, a
 *                            number in digits, nothing for null or missing.
 *                            Names are looked up from the innermost {{#each}} out.
 *   {{path|filter}}          gen / dat: a full name in the genitive / dative
 *                            (ru.h); short: "Имя Отчество"; date: "2026-12-05" →
 *                            "05.12.2026"; daytime: "2026-12-05 14:03" →
 *                            "05.12 14:03"; count: the size of an array.
 *   {{gender path|m|f}}      m or f by the gender of the name at path (a
 *   {{gender path|m|f|u}}    sibling "<key>_gender": "m"/"f" wins); u when it
 *                            is unknown (m when u is not given).
 *   {{plural path|1|2|5}}    the form for the number (or array size) at path:
 *                            сообщение / сообщения / сообщений.
 *   {{period from to}}       "05.12.2026", or "с 05.12.2026 по 07.12.2026".
 *   {{join path|sep}}        the items of an array, sep between them.
 *   {{#if c}}…{{else}}…{{/if}}, {{#unless c}}…{{/unless}}: c is a path (true
 *                            unless missing, null, false, "", 0 or empty),
 *                            path=text (its value is text), or "male path",
 *                            "female path", "known path" (the gender).
 *   {{#each path}}…{{/each}} once per item of the array at path.
 *   {{! comment }}           nothing. */
#ifndef EPOS_TMPL_H
#define EPOS_TMPL_H

#include <stddef.h>

#include <jansson.h>

typedef struct tmpl tmpl;

/* Compile text (len bytes, UTF-8). Returns the template, or NULL with a
 * message naming the line in err (errlen bytes) on a syntax error (an
 * unclosed tag or block, an unknown helper or filter, a stray {{else}} or
 * {{/…}}) or when memory ran out. */
tmpl *tmpl_compile(const char *text, size_t len, char *err, size_t errlen);

/* Render t with data (a JSON object; NULL as {}). Returns a malloc'd
 * NUL-terminated string the caller frees, or NULL when memory ran out. */
char *tmpl_render(const tmpl *t, const json_t *data);

/* Free a compiled template; NULL is ignored. */
void tmpl_free(tmpl *t);

#endif
