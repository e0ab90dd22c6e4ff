/* jsonx.c -- typed accessors, compact encoding and UTF-8 checks on jansson. */
#include "epos/jsonx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *jsonx_parse_object(const char *buf, size_t len, char *err, size_t errlen)
{
    json_error_t je;
    /* JSON_REJECT_DUPLICATES: {"chat":1,"chat":2} must not be read two ways. */
    json_t *v = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (!v) {
        snprintf(err, errlen, "malformed JSON: %s", je.text);
        return NULL;
    }
    if (!json_is_object(v)) {
        snprintf(err, errlen, "expected a JSON object");
        json_decref(v);
        return NULL;
    }
    return v;
}

int jsonx_str(const json_t *obj, const char *key, const char **out)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return -1;
    if (!json_is_string(v))
        return -2;
    *out = json_string_value(v);
    return 0;
}

int jsonx_int(const json_t *obj, const char *key, long long *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return -1;
    if (!json_is_integer(v))
        return -2;
    *out = json_integer_value(v);
    return 0;
}

int jsonx_bool(const json_t *obj, const char *key, int *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return -1;
    if (!json_is_boolean(v))
        return -2;
    *out = json_is_true(v);
    return 0;
}

char *jsonx_dump(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

int jsonx_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p;
        size_t n;
        unsigned min;
        if (c == 0)
            return 0;
        if (c < 0x80) {
            p++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1, min = 0x80, c &= 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2, min = 0x800, c &= 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3, min = 0x10000, c &= 0x07;
        } else {
            return 0;
        }
        if ((size_t)(end - p) <= n)
            return 0;
        for (size_t i = 1; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return 0;
            c = (c << 6) | (p[i] & 0x3F);
        }
        /* Overlong forms, surrogates and values past U+10FFFF are invalid. */
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return 0;
        p += n + 1;
    }
    return 1;
}

size_t jsonx_utf8_len(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            n++;
    return n;
}
