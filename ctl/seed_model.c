/* seed_model.c -- the demo region in memory: two orgs, their groups, staff, families and children.
 */
#include <stdlib.h>
#include <string.h>

#include "seed.h"

#define SEED_RNG_START UINT64_C(0x45504f5344454d4f) /* "EPOSDEMO": never change, names follow */

static const seed_org seed_orgs[] = {
    {"МАДОУ «Детский сад № 17» г. Перми", "kindergarten", 0},
    {"МАОУ «СОШ № 42» г. Перми", "school", 0},
};

static const seed_group seed_groups[] = {
    {0, "Солнышко", "group", 0, 2022, 20, 0},    {0, "Ромашка", "group", 0, 2021, 20, 0},
    {0, "Колокольчик", "group", 0, 2020, 20, 0}, {0, "Звёздочки", "group", 0, 2019, 20, 0},
    {1, "1А", "class", 6, 2018, 25, 0},          {1, "5Б", "class", 6, 2014, 25, 0},
    {1, "9В", "class", 6, 2010, 25, 0},
};

/* The staff, in login order: admin1, admin2, then teacher1.. */
static const struct {
    int org;
    const char *role;
    int female;
    int groups[SEED_MAX_BOUND]; /* bound groups, the class first for a class teacher */
    int ngroups;
    int class_of;
} seed_staff[] = {
    {0, "admin", 1, {0}, 0, -1},   /* admin1: заведующая */
    {1, "admin", 0, {0}, 0, -1},   /* admin2: директор */
    {0, "teacher", 1, {0}, 1, -1}, /* teacher1, teacher2: Солнышко */
    {0, "teacher", 1, {0}, 1, -1},
    {0, "teacher", 1, {1}, 1, -1}, /* teacher3, teacher4: Ромашка; teacher3 is a parent too */
    {0, "teacher", 1, {1}, 1, -1},
    {0, "teacher", 1, {2}, 1, -1}, /* teacher5, teacher6: Колокольчик */
    {0, "teacher", 0, {2}, 1, -1},
    {0, "teacher", 1, {3}, 1, -1}, /* teacher7, teacher8: Звёздочки */
    {0, "teacher", 1, {3}, 1, -1},
    {1, "class_teacher", 1, {4}, 1, 4},    /* teacher9: 1А */
    {1, "class_teacher", 1, {5, 6}, 2, 5}, /* teacher10: 5Б, Russian in 5Б and 9В */
    {1, "class_teacher", 0, {6, 5}, 2, 6}, /* teacher11: 9В, mathematics in 9В and 5Б */
    {1, "teacher", 1, {4, 5, 6}, 3, -1},   /* teacher12: English */
    {1, "teacher", 0, {4, 5, 6}, 3, -1},   /* teacher13: physical education */
    {1, "teacher", 1, {4, 5}, 2, -1},      /* teacher14: music */
    {1, "teacher", 0, {5, 6}, 2, -1},      /* teacher15: history */
};

#define SEED_NSTAFF (int)(sizeof(seed_staff) / sizeof(seed_staff[0]))
#define SEED_TEACHER_PARENT 4 /* index of teacher3 in seed_staff and in users */
#define SEED_SIBLING_FAMILIES 10

typedef struct seed_family {
    int surname;
    int father; /* first name index of the father */
    int guardians[2];
    int nguardians;
} seed_family;

typedef struct seed_builder {
    seed_model *m;
    seed_rng rng;
    int nparents;
    int nfamilies;
    int filled[SEED_MAX_GROUPS];
} seed_builder;

void seed_password(const char *login, char *out, size_t len)
{
    snprintf(out, len, "demo-%s", login);
}

static int seed_user_add(seed_builder *b, const char *login, const char *name, int surname)
{
    seed_model *m = b->m;
    if (m->nusers == SEED_MAX_USERS)
        abort(); /* the model is fixed: a programming error, not input */
    seed_user *u = &m->users[m->nusers];
    memset(u, 0, sizeof(*u));
    snprintf(u->login, sizeof(u->login), "%s", login);
    snprintf(u->name, sizeof(u->name), "%s", name);
    snprintf(u->phone, sizeof(u->phone), "+79%02u%07u", seed_rand(&b->rng, 100),
             seed_rand(&b->rng, 10000000));
    u->surname = surname;
    return m->nusers++;
}

static void seed_build_staff(seed_builder *b)
{
    seed_model *m = b->m;
    int teachers = 0, admins = 0;
    for (int i = 0; i < SEED_NSTAFF; i++) {
        char login[24], name[SEED_NAME_LEN];
        int admin = strcmp(seed_staff[i].role, "admin") == 0;
        if (admin)
            snprintf(login, sizeof(login), "admin%d", ++admins);
        else
            snprintf(login, sizeof(login), "teacher%d", ++teachers);
        int surname = seed_surname_pick(&b->rng);
        seed_name_adult(&b->rng, surname, seed_staff[i].female, name, sizeof(name));
        int uid = seed_user_add(b, login, name, surname);
        seed_role *r = &m->roles[m->nroles++];
        r->user = uid;
        r->org = seed_staff[i].org;
        r->role = seed_staff[i].role;
        r->ngroups = seed_staff[i].ngroups;
        memcpy(r->groups, seed_staff[i].groups, sizeof(r->groups));
        r->class_of = seed_staff[i].class_of;
    }
}

/* A new family; the mother is `mother` (a user index) or a new parent account,
 * and every fourth family has a father's account too. */
static void seed_family_new(seed_builder *b, seed_family *f, int mother)
{
    char login[24], name[SEED_NAME_LEN];
    int n = b->nfamilies++;
    memset(f, 0, sizeof(*f));
    f->surname = mother >= 0 ? b->m->users[mother].surname : seed_surname_pick(&b->rng);
    f->father = seed_father_pick(&b->rng);
    if (mother < 0) {
        snprintf(login, sizeof(login), "parent%d", ++b->nparents);
        seed_name_adult(&b->rng, f->surname, 1, name, sizeof(name));
        mother = seed_user_add(b, login, name, f->surname);
    }
    f->guardians[f->nguardians++] = mother;
    if (n % 4 == 1) {
        snprintf(login, sizeof(login), "parent%d", ++b->nparents);
        seed_name_father(&b->rng, f->surname, f->father, name, sizeof(name));
        f->guardians[f->nguardians++] = seed_user_add(b, login, name, f->surname);
    }
}

static int seed_name_taken(const seed_model *m, int org, const char *name)
{
    for (int i = 0; i < m->nchildren; i++)
        if (m->groups[m->children[i].group].org == org && strcmp(m->children[i].name, name) == 0)
            return 1;
    return 0;
}

static void seed_child_add(seed_builder *b, const seed_family *f, int group)
{
    seed_model *m = b->m;
    if (m->nchildren == SEED_MAX_CHILDREN || b->filled[group] >= m->groups[group].size)
        abort(); /* the layout above overfills a group: a programming error */
    seed_child *c = &m->children[m->nchildren];
    memset(c, 0, sizeof(*c));
    int female = (int)seed_rand(&b->rng, 2);
    /* Names identify children across runs (see seed_store): unique per org. */
    do
        seed_name_child(&b->rng, f->surname, f->father, female, c->name, sizeof(c->name));
    while (seed_name_taken(m, m->groups[group].org, c->name));
    snprintf(c->birth_date, sizeof(c->birth_date), "%04d-%02u-%02u", m->groups[group].birth_year,
             1 + seed_rand(&b->rng, 12), 1 + seed_rand(&b->rng, 28));
    c->group = group;
    c->nguardians = f->nguardians;
    memcpy(c->guardians, f->guardians, sizeof(c->guardians));
    b->filled[group]++;
    m->nchildren++;
}

static int seed_child_cmp(const void *pa, const void *pb)
{
    const seed_child *a = pa, *b = pb;
    if (a->group != b->group)
        return a->group - b->group;
    return strcmp(a->name, b->name);
}

static void seed_build_families(seed_builder *b)
{
    seed_model *m = b->m;
    seed_family f;
    /* Brothers and sisters: one in the kindergarten, one at school. */
    for (int i = 0; i < SEED_SIBLING_FAMILIES; i++) {
        seed_family_new(b, &f, -1);
        seed_child_add(b, &f, i % 4);
        seed_child_add(b, &f, 4 + i % 3);
    }
    /* Two families with two pupils at school. */
    for (int i = 0; i < 2; i++) {
        seed_family_new(b, &f, -1);
        seed_child_add(b, &f, 4 + i);
        seed_child_add(b, &f, 5 + i);
    }
    /* A kindergarten teacher whose son or daughter is in the first class. */
    seed_family_new(b, &f, SEED_TEACHER_PARENT);
    seed_child_add(b, &f, 4);
    for (int g = 0; g < m->ngroups; g++) {
        while (b->filled[g] < m->groups[g].size) {
            seed_family_new(b, &f, -1);
            seed_child_add(b, &f, g);
        }
    }
    /* Class lists are alphabetical. */
    qsort(m->children, (size_t)m->nchildren, sizeof(m->children[0]), seed_child_cmp);
}

void seed_model_build(seed_model *m)
{
    seed_builder b;
    memset(m, 0, sizeof(*m));
    memset(&b, 0, sizeof(b));
    b.m = m;
    b.rng.s = SEED_RNG_START;
    m->norgs = (int)(sizeof(seed_orgs) / sizeof(seed_orgs[0]));
    memcpy(m->orgs, seed_orgs, sizeof(seed_orgs));
    m->ngroups = (int)(sizeof(seed_groups) / sizeof(seed_groups[0]));
    memcpy(m->groups, seed_groups, sizeof(seed_groups));
    seed_build_staff(&b);
    seed_build_families(&b);
}
