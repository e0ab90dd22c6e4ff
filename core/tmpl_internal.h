/* tmpl_internal.h -- the compiled form of a template, shared by the parser (tmpl.c) and the
 * renderer (tmpl_render.c). */
#ifndef EPOS_TMPL_INTERNAL_H
#define EPOS_TMPL_INTERNAL_H

#include "epos/tmpl.h"

typedef enum tnode_kind {
    TN_TEXT,   /* text */
    TN_VAR,    /* {{path|filter}} */
    TN_GENDER, /* {{gender path|m|f|u}} */
    TN_PLURAL, /* {{plural path|one|few|many}} */
    TN_PERIOD, /* {{period from to}}: path, arg */
    TN_JOIN,   /* {{join path|sep}} */
    TN_IF,     /* {{#if cond}} / {{#unless cond}}: body, other */
    TN_EACH,   /* {{#each path}}: body */
} tnode_kind;

typedef enum tfilter { TF_NONE, TF_GEN, TF_DAT, TF_SHORT, TF_DATE, TF_DAYTIME, TF_COUNT } tfilter;

typedef enum tcond { TC_TRUE, TC_EQUALS, TC_MALE, TC_FEMALE, TC_KNOWN } tcond;

typedef struct tnode tnode;
struct tnode {
    tnode_kind kind;
    char *text;   /* TN_TEXT: the text; else the path */
    char *arg;    /* TN_PERIOD: the second path; TN_JOIN: sep; TN_IF TC_EQUALS: the text */
    char *alt[3]; /* TN_GENDER, TN_PLURAL: the forms (alt[2] may be NULL for gender) */
    tfilter filter;
    tcond cond;
    int negate;   /* {{#unless}} */
    tnode *body;  /* TN_IF: when true; TN_EACH: per item */
    tnode *other; /* TN_IF: {{else}} */
    tnode *next;
};

struct tmpl {
    tnode *root;
};

void tmpl_nodes_free(tnode *n);

#endif
