/* tmpl_render.c -- fill a compiled template from JSON data (the language: include/epos/tmpl.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epos/ru.h"
#include "tmpl_internal.h"

#define TMPL_MAX_SCOPES 18 /* the data, then one per {{#each}} level */
#define TMPL_NAME_MAX 512  /* a declined name longer than this is written as it is */

typedef struct tout {
    char *buf;
    size_t len, cap;
    int oom;
} tout;

typedef struct tscope {
    const json_t *v[TMPL_MAX_SCOPES];
    int n;
} tscope;

static void tout_put(tout *o, const char *s, size_t n)
{
    if (o->oom || !n)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap < o->len + n + 1)
            cap *= 2;
        char *b = realloc(o->buf, cap);
        if (!b) {
            o->oom = 1;
            return;
        }
        o->buf = b;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void tout_str(tout *o, const char *s)
{
    tout_put(o, s, strlen(s));
}

/* Descend from v along the dotted rest of a path. */
static const json_t *tpath_walk(const json_t *v, const char *path)
{
    char key[128];
    while (v && *path) {
        size_t n = strcspn(path, ".");
        if (n == 0 || n >= sizeof(key))
            return NULL;
        memcpy(key, path, n);
        key[n] = '\0';
        v = json_is_object(v) ? json_object_get(v, key) : NULL;
        path += n + (path[n] == '.');
    }
    return v;
}

/* The value at path: "." is the innermost item; the first name is looked up from the innermost
 * scope out. *owner gets the object holding the last name (for its "<name>_gender"). */
static const json_t *tpath_get(const tscope *sc, const char *path, const json_t **owner)
{
    if (owner)
        *owner = NULL;
    if (strcmp(path, ".") == 0)
        return sc->n ? sc->v[sc->n - 1] : NULL;
    size_t first = strcspn(path, ".");
    char key[128];
    if (first >= sizeof(key))
        return NULL;
    memcpy(key, path, first);
    key[first] = '\0';
    for (int i = sc->n - 1; i >= 0; i--) {
        if (!json_is_object(sc->v[i]) || !json_object_get(sc->v[i], key))
            continue;
        const json_t *v = sc->v[i];
        const char *dot = strrchr(path, '.');
        char head[128];
        if (owner && dot && (size_t)(dot - path) < sizeof(head)) {
            memcpy(head, path, (size_t)(dot - path));
            head[dot - path] = '\0';
            *owner = tpath_walk(v, head);
        } else if (owner && !dot) {
            *owner = v;
        }
        return tpath_walk(v, path);
    }
    return NULL;
}

/* A scalar as text into buf (len bytes); "" for null, objects and arrays. */
static const char *tvalue_text(const json_t *v, char *buf, size_t len)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v))
        snprintf(buf, len, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, len, "%g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(buf, len, "%s", json_is_true(v) ? "true" : "false");
    else
        buf[0] = '\0';
    return buf;
}

static long long tvalue_number(const json_t *v)
{
    if (json_is_array(v))
        return (long long)json_array_size(v);
    if (json_is_object(v))
        return (long long)json_object_size(v);
    if (json_is_integer(v))
        return (long long)json_integer_value(v);
    if (json_is_real(v))
        return (long long)json_real_value(v);
    return json_is_string(v) ? atoll(json_string_value(v)) : 0;
}

static int tvalue_truthy(const json_t *v)
{
    if (!v || json_is_null(v) || json_is_false(v))
        return 0;
    if (json_is_string(v))
        return json_string_length(v) > 0;
    if (json_is_array(v) || json_is_object(v) || json_is_number(v))
        return tvalue_number(v) != 0;
    return 1;
}

/* The gender of the person named at path: a sibling "<name>_gender" ("m"/"f"), else the name. */
static ru_gender tgender(const tscope *sc, const char *path)
{
    const json_t *owner;
    const json_t *v = tpath_get(sc, path, &owner);
    const char *last = strrchr(path, '.');
    char key[160];
    snprintf(key, sizeof(key), "%s_gender", last ? last + 1 : path);
    const char *g = json_string_value(json_object_get(owner, key));
    if (g && (*g == 'm' || *g == 'f'))
        return *g == 'm' ? RU_GENDER_MALE : RU_GENDER_FEMALE;
    return ru_name_gender(json_string_value(v));
}

/* "YYYY-MM-DD…" → "DD.MM.YYYY" (date) or "DD.MM HH:MM" (daytime); other text as it is. */
static void tout_date(tout *o, const char *s, int with_time)
{
    int y, mo, d, h, mi;
    char buf[32];
    if (with_time && sscanf(s, "%4d-%2d-%2d%*1[ T]%2d:%2d", &y, &mo, &d, &h, &mi) == 5)
        snprintf(buf, sizeof(buf), "%02d.%02d %02d:%02d", d, mo, h, mi);
    else if (!with_time && sscanf(s, "%4d-%2d-%2d", &y, &mo, &d) == 3)
        snprintf(buf, sizeof(buf), "%02d.%02d.%04d", d, mo, y);
    else
        buf[0] = '\0';
    tout_str(o, buf[0] ? buf : s);
}

static void tout_var(tout *o, const tscope *sc, const tnode *n)
{
    char num[40], name[TMPL_NAME_MAX];
    const json_t *v = tpath_get(sc, n->text, NULL);
    const char *s = tvalue_text(v, num, sizeof(num));
    int r = -1;
    switch (n->filter) {
    case TF_GEN:
    case TF_DAT:
        r = ru_name_decline(s, tgender(sc, n->text),
                            n->filter == TF_GEN ? RU_CASE_GEN : RU_CASE_DAT, name, sizeof(name));
        break;
    case TF_SHORT:
        r = ru_name_short(s, name, sizeof(name));
        break;
    case TF_DATE:
    case TF_DAYTIME:
        tout_date(o, s, n->filter == TF_DAYTIME);
        return;
    case TF_COUNT:
        snprintf(num, sizeof(num), "%lld", tvalue_number(v));
        s = num;
        break;
    case TF_NONE:
        break;
    }
    tout_str(o, r >= 0 ? name : s);
}

static void tout_join(tout *o, const tscope *sc, const tnode *n)
{
    char num[40];
    const json_t *a = tpath_get(sc, n->text, NULL);
    for (size_t i = 0; json_is_array(a) && i < json_array_size(a); i++) {
        if (i)
            tout_str(o, n->arg);
        tout_str(o, tvalue_text(json_array_get(a, i), num, sizeof(num)));
    }
}

static void tout_period(tout *o, const tscope *sc, const tnode *n)
{
    char b1[40], b2[40];
    const char *from = tvalue_text(tpath_get(sc, n->text, NULL), b1, sizeof(b1));
    const char *to = tvalue_text(tpath_get(sc, n->arg, NULL), b2, sizeof(b2));
    if (!*to || strcmp(from, to) == 0) {
        tout_date(o, from, 0);
        return;
    }
    tout_str(o, "с ");
    tout_date(o, from, 0);
    tout_str(o, " по ");
    tout_date(o, to, 0);
}

static int tcond_holds(const tscope *sc, const tnode *n)
{
    char num[40];
    int r = 0;
    switch (n->cond) {
    case TC_TRUE:
        r = tvalue_truthy(tpath_get(sc, n->text, NULL));
        break;
    case TC_EQUALS:
        r = strcmp(tvalue_text(tpath_get(sc, n->text, NULL), num, sizeof(num)), n->arg) == 0;
        break;
    case TC_MALE:
        r = tgender(sc, n->text) == RU_GENDER_MALE;
        break;
    case TC_FEMALE:
        r = tgender(sc, n->text) == RU_GENDER_FEMALE;
        break;
    case TC_KNOWN:
        r = tgender(sc, n->text) != RU_GENDER_UNKNOWN;
        break;
    }
    return n->negate ? !r : r;
}

static void tout_nodes(tout *o, tscope *sc, const tnode *n)
{
    for (; n && !o->oom; n = n->next) {
        switch (n->kind) {
        case TN_TEXT:
            tout_str(o, n->text);
            break;
        case TN_VAR:
            tout_var(o, sc, n);
            break;
        case TN_GENDER: {
            ru_gender g = tgender(sc, n->text);
            tout_str(o, g == RU_GENDER_FEMALE                 ? n->alt[1]
                        : g == RU_GENDER_UNKNOWN && n->alt[2] ? n->alt[2]
                                                              : n->alt[0]);
            break;
        }
        case TN_PLURAL:
            tout_str(o, n->alt[ru_plural(tvalue_number(tpath_get(sc, n->text, NULL)))]);
            break;
        case TN_PERIOD:
            tout_period(o, sc, n);
            break;
        case TN_JOIN:
            tout_join(o, sc, n);
            break;
        case TN_IF:
            tout_nodes(o, sc, tcond_holds(sc, n) ? n->body : n->other);
            break;
        case TN_EACH: {
            const json_t *a = tpath_get(sc, n->text, NULL);
            if (!json_is_array(a) || sc->n >= TMPL_MAX_SCOPES)
                break;
            for (size_t i = 0; i < json_array_size(a); i++) {
                sc->v[sc->n++] = json_array_get(a, i);
                tout_nodes(o, sc, n->body);
                sc->n--;
            }
            break;
        }
        }
    }
}

char *tmpl_render(const tmpl *t, const json_t *data)
{
    tout o = {0};
    if (!t)
        return NULL;
    json_t *empty = data ? NULL : json_object();
    tscope sc = {.v = {data ? data : empty}, .n = 1};
    if (sc.v[0])
        tout_nodes(&o, &sc, t->root);
    else
        o.oom = 1;
    json_decref(empty);
    if (!o.oom && !o.buf)
        o.buf = strdup("");
    if (o.oom) {
        free(o.buf);
        return NULL;
    }
    return o.buf;
}
