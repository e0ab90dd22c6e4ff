/* dict.c -- a string-keyed hash table (FNV-1a, chaining, doubling resize). */
#include "epos/dict.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define DICT_INITIAL_SIZE 16

static uint64_t dict_hash(const char *key)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    return h;
}

dict *dict_create(void)
{
    dict *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->table = calloc(DICT_INITIAL_SIZE, sizeof(*d->table));
    if (!d->table) {
        free(d);
        return NULL;
    }
    d->size = DICT_INITIAL_SIZE;
    return d;
}

void dict_free(dict *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->size; i++) {
        dict_entry *e = d->table[i];
        while (e) {
            dict_entry *next = e->next;
            free(e->key);
            free(e);
            e = next;
        }
    }
    free(d->table);
    free(d);
}

static dict_entry **dict_find(const dict *d, const char *key)
{
    dict_entry **pe = &d->table[dict_hash(key) & (d->size - 1)];
    while (*pe && strcmp((*pe)->key, key) != 0)
        pe = &(*pe)->next;
    return pe;
}

void *dict_get(const dict *d, const char *key)
{
    dict_entry *e = *dict_find(d, key);
    return e ? e->val : NULL;
}

static int dict_grow(dict *d)
{
    size_t nsize = d->size * 2;
    dict_entry **nt = calloc(nsize, sizeof(*nt));
    if (!nt)
        return -1;
    for (size_t i = 0; i < d->size; i++) {
        dict_entry *e = d->table[i];
        while (e) {
            dict_entry *next = e->next;
            size_t b = dict_hash(e->key) & (nsize - 1);
            e->next = nt[b];
            nt[b] = e;
            e = next;
        }
    }
    free(d->table);
    d->table = nt;
    d->size = nsize;
    return 0;
}

int dict_set(dict *d, const char *key, void *val)
{
    dict_entry **pe = dict_find(d, key);
    if (*pe) {
        (*pe)->val = val;
        return 0;
    }
    dict_entry *e = malloc(sizeof(*e));
    if (!e)
        return -1;
    e->key = strdup(key);
    if (!e->key) {
        free(e);
        return -1;
    }
    e->val = val;
    e->next = NULL;
    *pe = e;
    d->used++;
    /* A failed grow only makes chains longer; the insert already stands. */
    if (d->used > d->size)
        (void)dict_grow(d);
    return 0;
}

void *dict_del(dict *d, const char *key)
{
    dict_entry **pe = dict_find(d, key);
    dict_entry *e = *pe;
    if (!e)
        return NULL;
    void *val = e->val;
    *pe = e->next;
    free(e->key);
    free(e);
    d->used--;
    return val;
}

void dict_foreach(const dict *d, dict_iter_cb *cb, void *arg)
{
    for (size_t i = 0; i < d->size; i++) {
        dict_entry *e = d->table[i];
        while (e) {
            /* Read next first: the callback may delete the entry it is given. */
            dict_entry *next = e->next;
            if (cb(e->key, e->val, arg))
                return;
            e = next;
        }
    }
}
