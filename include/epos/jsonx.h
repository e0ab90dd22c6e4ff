/* jsonx.h -- typed accessors and encoders on jansson. */
#ifndef EPOS_JSONX_H
#define EPOS_JSONX_H

#include <stddef.h>
#include <jansson.h>

/* Parse a JSON object from buf (jansson also rejects invalid UTF-8). Returns a
 * new reference, or NULL with a short reason in err. */
json_t *jsonx_parse_object(const char *buf, size_t len, char *err, size_t errlen);

/* Typed getters: return 0 and set *out when key holds the right type; -1 when
 * missing; -2 when present with another type. */
int jsonx_str(const json_t *obj, const char *key, const char **out);
int jsonx_int(const json_t *obj, const char *key, long long *out);
int jsonx_bool(const json_t *obj, const char *key, int *out);

/* Compact encoding into a malloc'd string (caller frees), NULL on failure. */
char *jsonx_dump(const json_t *v);

/* 1 when s[0..len) is valid UTF-8 with no NUL byte. */
int jsonx_utf8_valid(const char *s, size_t len);
/* Count of code points of valid UTF-8 s. */
size_t jsonx_utf8_len(const char *s, size_t len);

#endif
