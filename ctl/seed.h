/* seed.h -- the demo region of eposctl seed-demo: a deterministic model, stored idempotently. */
#ifndef EPOS_CTL_SEED_H
#define EPOS_CTL_SEED_H

#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>

#define SEED_MAX_ORGS 2
#define SEED_MAX_GROUPS 8
#define SEED_MAX_USERS 256
#define SEED_MAX_ROLES 24
#define SEED_MAX_CHILDREN 192
#define SEED_MAX_BOUND 4
#define SEED_NAME_LEN 128

typedef struct seed_org {
    const char *name;
    const char *kind; /* kindergarten | school */
    long long id;     /* set by seed_store */
} seed_org;

typedef struct seed_group {
    int org; /* index into orgs */
    const char *name;
    const char *kind; /* group | class */
    int lessons_per_day;
    int birth_year; /* of its children */
    int size;       /* children */
    long long id;
} seed_group;

typedef struct seed_user {
    char login[24];
    char name[SEED_NAME_LEN]; /* Фамилия Имя Отчество */
    char phone[16];
    int surname; /* index into the surname table (families reuse it) */
    long long id;
} seed_user;

/* One staff role of a user in an org, with the groups bound to them. */
typedef struct seed_role {
    int user;
    int org;
    const char *role; /* admin | teacher | class_teacher */
    int groups[SEED_MAX_BOUND];
    int ngroups;
    int class_of; /* group index they are class teacher of, or -1 */
} seed_role;

typedef struct seed_child {
    char name[SEED_NAME_LEN];
    char birth_date[11]; /* YYYY-MM-DD */
    int group;
    int guardians[2]; /* user indices */
    int nguardians;
    long long id;
} seed_child;

typedef struct seed_model {
    seed_org orgs[SEED_MAX_ORGS];
    int norgs;
    seed_group groups[SEED_MAX_GROUPS];
    int ngroups;
    seed_user users[SEED_MAX_USERS];
    int nusers;
    seed_role roles[SEED_MAX_ROLES];
    int nroles;
    seed_child children[SEED_MAX_CHILDREN];
    int nchildren;
} seed_model;

/* Names (seed_names.c). A deterministic generator: the same calls in the same
 * order give the same names on every machine. */
typedef struct seed_rng {
    uint64_t s;
} seed_rng;

unsigned seed_rand(seed_rng *r, unsigned n); /* 0..n-1 */
int seed_surname_pick(seed_rng *r);
int seed_father_pick(seed_rng *r);
/* "Фамилия Имя Отчество" of an adult: surname index, female or male, a
 * random first name and a patronymic from a random father's name. */
void seed_name_adult(seed_rng *r, int surname, int female, char *out, size_t len);
/* A father: family surname, the family father's first name, a patronymic. */
void seed_name_father(seed_rng *r, int surname, int father, char *out, size_t len);
/* A child's name: family surname, a child's first name, patronymic from father. */
void seed_name_child(seed_rng *r, int surname, int father, int female, char *out, size_t len);

/* Build the whole region in memory (no ids yet). Always the same model. */
void seed_model_build(seed_model *m);

/* The demo password of a login: "demo-<login>". */
void seed_password(const char *login, char *out, size_t len);

/* Store the model (get-or-create on org names, group names, logins, child
 * names; relations ON CONFLICT DO NOTHING) in one transaction, filling the
 * ids. Existing rows are never changed. Returns 0, or -1 after printing. */
int seed_store(PGconn *conn, seed_model *m);

/* Output (seed_out.c): the JSON of the brief, or a short summary. */
int seed_print_json(const seed_model *m, FILE *f);
void seed_print_summary(const seed_model *m, FILE *f);

#endif
