/* tmpl.c -- compile a mail template into a tree of nodes (the language: include/epos/tmpl.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmpl_internal.h"

#define TMPL_MAX_DEPTH 16 /* nested blocks */

typedef struct tstr {
    const char *s;
    size_t n;
} tstr;

typedef struct tparse {
    const char *src, *end, *p;
    char *err;
    size_t errlen;
    int failed;
} tparse;

static int tstr_is(tstr t, const char *lit)
{
    return t.n == strlen(lit) && memcmp(t.s, lit, t.n) == 0;
}

/* Record the first error, with the line of at. Returns NULL for the callers' convenience. */
static void *tp_fail(tparse *tp, const char *at, const char *fmt, ...)
{
    if (tp->failed++)
        return NULL;
    int line = 1;
    for (const char *q = tp->src; q < at && q < tp->end; q++)
        line += *q == '\n';
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (tp->err && tp->errlen)
        snprintf(tp->err, tp->errlen, "line %d: %s", line, msg);
    return NULL;
}

void tmpl_nodes_free(tnode *n)
{
    while (n) {
        tnode *next = n->next;
        free(n->text);
        free(n->arg);
        for (int i = 0; i < 3; i++)
            free(n->alt[i]);
        tmpl_nodes_free(n->body);
        tmpl_nodes_free(n->other);
        free(n);
        n = next;
    }
}

static tnode *tp_node(tparse *tp, tnode_kind kind, const char *s, size_t n)
{
    tnode *node = calloc(1, sizeof(*node));
    if (!node || !(node->text = strndup(s, n))) {
        free(node);
        return tp_fail(tp, tp->p, "out of memory");
    }
    node->kind = kind;
    return node;
}

/* A path: letters, digits, '_', '.' (alone: the current item). */
static int tp_path_ok(tstr t)
{
    if (!t.n)
        return 0;
    for (size_t i = 0; i < t.n; i++) {
        char c = t.s[i];
        if (!(c == '_' || c == '.' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9')))
            return 0;
    }
    return 1;
}

/* Split t at the first c: the part before in *head, after in *rest (n 0, s NULL when absent). */
static void tstr_cut(tstr t, char c, tstr *head, tstr *rest)
{
    const char *at = memchr(t.s, c, t.n);
    *head = (tstr){t.s, at ? (size_t)(at - t.s) : t.n};
    *rest = at ? (tstr){at + 1, t.n - head->n - 1} : (tstr){NULL, 0};
}

/* {{gender path|m|f[|u]}}, {{plural path|1|2|5}}, {{join path|sep}}: the path, then the forms. */
static tnode *tp_helper(tparse *tp, tnode_kind kind, tstr args, const char *at)
{
    tstr path, rest;
    tstr_cut(args, '|', &path, &rest);
    if (!tp_path_ok(path))
        return tp_fail(tp, at, "a helper needs a path, then |forms");
    tnode *node = tp_node(tp, kind, path.s, path.n);
    int n = 0;
    while (node && rest.s && n < 3) {
        tstr form;
        tstr_cut(rest, '|', &form, &rest);
        if (!(node->alt[n++] = strndup(form.s, form.n)))
            tp_fail(tp, at, "out of memory");
    }
    int want_min = kind == TN_JOIN ? 1 : kind == TN_GENDER ? 2 : 3;
    int want_max = kind == TN_JOIN ? 1 : 3;
    if (node && (rest.s || n < want_min || n > want_max))
        tp_fail(tp, at, "wrong number of |forms (%d to %d)", want_min, want_max);
    if (node && kind == TN_JOIN) {
        node->arg = node->alt[0];
        node->alt[0] = NULL;
    }
    if (tp->failed) {
        tmpl_nodes_free(node);
        return NULL;
    }
    return node;
}

static const struct {
    const char *name;
    tfilter f;
} tp_filters[] = {{"gen", TF_GEN},   {"dat", TF_DAT},         {"short", TF_SHORT},
                  {"date", TF_DATE}, {"daytime", TF_DAYTIME}, {"count", TF_COUNT}};

/* An inline tag: a helper or {{path[|filter]}}. */
static tnode *tp_inline(tparse *tp, tstr t, const char *at)
{
    static const struct {
        const char *word;
        tnode_kind kind;
    } helpers[] = {{"gender", TN_GENDER}, {"plural", TN_PLURAL}, {"join", TN_JOIN}};
    tstr word, args;
    tstr_cut(t, ' ', &word, &args);
    for (size_t i = 0; args.s && i < sizeof(helpers) / sizeof(helpers[0]); i++)
        if (tstr_is(word, helpers[i].word))
            return tp_helper(tp, helpers[i].kind, args, at);
    if (args.s && tstr_is(word, "period")) {
        tstr from, to;
        tstr_cut(args, ' ', &from, &to);
        if (!tp_path_ok(from) || !tp_path_ok(to))
            return tp_fail(tp, at, "period needs two paths");
        tnode *node = tp_node(tp, TN_PERIOD, from.s, from.n);
        if (node && !(node->arg = strndup(to.s, to.n))) {
            tmpl_nodes_free(node);
            return tp_fail(tp, at, "out of memory");
        }
        return node;
    }
    tstr path, filter;
    tstr_cut(t, '|', &path, &filter);
    if (!tp_path_ok(path))
        return tp_fail(tp, at, "not a path or helper: «%.*s»", (int)t.n, t.s);
    tfilter f = TF_NONE;
    if (filter.s) {
        for (size_t i = 0; i < sizeof(tp_filters) / sizeof(tp_filters[0]); i++)
            if (tstr_is(filter, tp_filters[i].name))
                f = tp_filters[i].f;
        if (f == TF_NONE)
            return tp_fail(tp, at, "unknown filter «%.*s»", (int)filter.n, filter.s);
    }
    tnode *node = tp_node(tp, TN_VAR, path.s, path.n);
    if (node)
        node->filter = f;
    return node;
}

/* The condition of {{#if}} / {{#unless}} into node. Returns 0, or -1 after tp_fail. */
static int tp_cond(tparse *tp, tnode *node, tstr c, const char *at)
{
    static const struct {
        const char *word;
        tcond cond;
    } preds[] = {{"male", TC_MALE}, {"female", TC_FEMALE}, {"known", TC_KNOWN}};
    tstr word, rest;
    tstr_cut(c, ' ', &word, &rest);
    tstr path = c;
    node->cond = TC_TRUE;
    for (size_t i = 0; rest.s && i < sizeof(preds) / sizeof(preds[0]); i++) {
        if (tstr_is(word, preds[i].word)) {
            node->cond = preds[i].cond;
            path = rest;
        }
    }
    if (node->cond == TC_TRUE) {
        tstr value;
        tstr_cut(c, '=', &path, &value);
        if (value.s) {
            node->cond = TC_EQUALS;
            if (!(node->arg = strndup(value.s, value.n))) {
                tp_fail(tp, at, "out of memory");
                return -1;
            }
        }
    }
    if (!tp_path_ok(path)) {
        tp_fail(tp, at, "a condition needs a path: «%.*s»", (int)c.n, c.s);
        return -1;
    }
    free(node->text);
    if (!(node->text = strndup(path.s, path.n))) {
        tp_fail(tp, at, "out of memory");
        return -1;
    }
    return 0;
}

/* Is the tag from open to after alone on its line (only blanks around it)? */
static int tp_standalone(const tparse *tp, const char *open, const char *after)
{
    const char *b = open;
    while (b > tp->src && (b[-1] == ' ' || b[-1] == '\t'))
        b--;
    if (b > tp->src && b[-1] != '\n')
        return 0;
    while (after < tp->end && (*after == ' ' || *after == '\t'))
        after++;
    return after == tp->end || *after == '\n' ||
           (*after == '\r' && after + 1 < tp->end && after[1] == '\n');
}

/* Past the blanks and the line end after a standalone tag. */
static const char *tp_skip_line(const tparse *tp, const char *after)
{
    while (after < tp->end && (*after == ' ' || *after == '\t'))
        after++;
    if (after < tp->end && *after == '\r')
        after++;
    return after < tp->end ? after + 1 : after;
}

static tnode *tp_seq(tparse *tp, tstr *stop, int depth);

/* The block after "{{#word cond}}": its body up to the matching close. */
static tnode *tp_block(tparse *tp, tstr t, const char *at, int depth)
{
    tstr word, arg, stop = {NULL, 0};
    tstr_cut((tstr){t.s + 1, t.n - 1}, ' ', &word, &arg);
    int is_each = tstr_is(word, "each");
    if (!is_each && !tstr_is(word, "if") && !tstr_is(word, "unless"))
        return tp_fail(tp, at, "unknown block «%.*s»", (int)word.n, word.s);
    if (depth >= TMPL_MAX_DEPTH)
        return tp_fail(tp, at, "blocks nested too deep");
    if (!arg.s)
        return tp_fail(tp, at, "«#%.*s» needs an argument", (int)word.n, word.s);
    tnode *node = tp_node(tp, is_each ? TN_EACH : TN_IF, arg.s, arg.n);
    if (!node)
        return NULL;
    node->negate = tstr_is(word, "unless");
    if ((is_each && !tp_path_ok(arg)) || (!is_each && tp_cond(tp, node, arg, at) != 0)) {
        tmpl_nodes_free(node);
        return tp_fail(tp, at, "«#%.*s» needs a path", (int)word.n, word.s);
    }
    node->body = tp_seq(tp, &stop, depth + 1);
    if (!is_each && !tp->failed && tstr_is(stop, "else"))
        node->other = tp_seq(tp, &stop, depth + 1);
    if (!tp->failed && (!stop.s || stop.n != word.n + 1 || memcmp(stop.s + 1, word.s, word.n) != 0))
        tp_fail(tp, at, "«#%.*s» is not closed by «/%.*s»", (int)word.n, word.s, (int)word.n,
                word.s);
    if (tp->failed) {
        tmpl_nodes_free(node);
        return NULL;
    }
    return node;
}

/* Nodes up to the end, or up to {{else}} / {{/…}} (returned in *stop). NULL on error or when empty.
 */
static tnode *tp_seq(tparse *tp, tstr *stop, int depth)
{
    tnode *head = NULL, **tail = &head;
    *stop = (tstr){NULL, 0};
    while (!tp->failed) {
        const char *open = memmem(tp->p, (size_t)(tp->end - tp->p), "{{", 2);
        const char *close = open ? memmem(open + 2, (size_t)(tp->end - open - 2), "}}", 2) : NULL;
        if (open && !close) {
            tp_fail(tp, open, "«{{» without «}}»");
            break;
        }
        tstr t = open ? (tstr){open + 2, (size_t)(close - open - 2)} : (tstr){NULL, 0};
        const char *after = open ? close + 2 : tp->end;
        size_t tlen = (size_t)((open ? open : tp->end) - tp->p);
        int block = t.n && (t.s[0] == '#' || t.s[0] == '/' || t.s[0] == '!' || tstr_is(t, "else"));
        if (block && tp_standalone(tp, open, after)) {
            while (tlen && (tp->p[tlen - 1] == ' ' || tp->p[tlen - 1] == '\t'))
                tlen--;
            after = tp_skip_line(tp, after);
        }
        if (tlen && (*tail = tp_node(tp, TN_TEXT, tp->p, tlen)))
            tail = &(*tail)->next;
        tp->p = after;
        if (!open || tp->failed)
            break;
        if (t.n && t.s[0] == '!')
            continue;
        if (t.n && (t.s[0] == '/' || tstr_is(t, "else"))) {
            *stop = t;
            break;
        }
        tnode *node = t.n && t.s[0] == '#' ? tp_block(tp, t, open, depth) : tp_inline(tp, t, open);
        if (node) {
            *tail = node;
            tail = &node->next;
        }
    }
    if (tp->failed) {
        tmpl_nodes_free(head);
        return NULL;
    }
    return head;
}

tmpl *tmpl_compile(const char *text, size_t len, char *err, size_t errlen)
{
    tparse tp = {.src = text, .end = text + len, .p = text, .err = err, .errlen = errlen};
    tstr stop;
    if (err && errlen)
        err[0] = '\0';
    tmpl *t = calloc(1, sizeof(*t));
    if (!t || !text)
        return tp_fail(&tp, text, "out of memory"), free(t), NULL;
    t->root = tp_seq(&tp, &stop, 0);
    if (!tp.failed && stop.s)
        tp_fail(&tp, stop.s, "«%.*s» without its opening", (int)stop.n, stop.s);
    if (tp.failed) {
        tmpl_free(t);
        return NULL;
    }
    return t;
}

void tmpl_free(tmpl *t)
{
    if (!t)
        return;
    tmpl_nodes_free(t->root);
    free(t);
}
