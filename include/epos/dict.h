/* dict.h -- a string-keyed hash table with open chaining and incremental-free resize. */
#ifndef EPOS_DICT_H
#define EPOS_DICT_H

#include <stddef.h>

typedef struct dict_entry {
    char *key;
    void *val;
    struct dict_entry *next;
} dict_entry;

typedef struct dict {
    dict_entry **table;
    size_t size; /* buckets, a power of two */
    size_t used;
} dict;

/* Returns NULL on allocation failure. Keys are copied; values are not owned. */
dict *dict_create(void);
void dict_free(dict *d);
void *dict_get(const dict *d, const char *key);
/* Insert or replace. Returns 0, or -1 on allocation failure. */
int dict_set(dict *d, const char *key, void *val);
/* Returns the removed value, or NULL. */
void *dict_del(dict *d, const char *key);

typedef int dict_iter_cb(const char *key, void *val, void *arg); /* nonzero stops */
void dict_foreach(const dict *d, dict_iter_cb *cb, void *arg);

#endif
