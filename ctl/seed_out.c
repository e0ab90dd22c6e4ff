/* seed_out.c -- seed-demo output: the users.json of the brief (§7), or a short summary. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "epos/jsonx.h"
#include "seed.h"

/* Append the ids of the groups of user u's children to gids (distinct, in
 * class-list order) and their ids to cids; returns the org of the first. */
static long long seed_parent_links(const seed_model *m, int u, json_t *gids, json_t *cids)
{
    long long org = 0;
    int seen[SEED_MAX_GROUPS] = {0};
    for (int i = 0; i < m->nchildren; i++) {
        const seed_child *c = &m->children[i];
        if (!(c->guardians[0] == u || (c->nguardians > 1 && c->guardians[1] == u)))
            continue;
        if (!org)
            org = m->orgs[m->groups[c->group].org].id;
        json_array_append_new(cids, json_integer(c->id));
        if (!seen[c->group]++)
            json_array_append_new(gids, json_integer(m->groups[c->group].id));
    }
    return org;
}

static json_t *seed_user_json(const seed_user *u, const char *role, long long org, json_t *gids,
                              json_t *cids)
{
    char password[64];
    seed_password(u->login, password, sizeof(password));
    return json_pack("{s:I,s:s,s:s,s:s,s:s,s:I,s:o,s:o}", "id", (json_int_t)u->id, "login",
                     u->login, "password", password, "role", role, "name", u->name, "org_id",
                     (json_int_t)org, "group_ids", gids, "child_ids", cids);
}

/* One entry per staff role, then one per parent (teacher3 appears twice). */
static int seed_users_json(const seed_model *m, json_t *users)
{
    for (int i = 0; i < m->nroles; i++) {
        const seed_role *r = &m->roles[i];
        json_t *gids = json_array();
        for (int g = 0; g < r->ngroups; g++)
            json_array_append_new(gids, json_integer(m->groups[r->groups[g]].id));
        json_t *e =
            seed_user_json(&m->users[r->user], r->role, m->orgs[r->org].id, gids, json_array());
        if (!e || json_array_append_new(users, e) != 0)
            return -1;
    }
    for (int u = 0; u < m->nusers; u++) {
        json_t *gids = json_array(), *cids = json_array();
        long long org = seed_parent_links(m, u, gids, cids);
        if (!org) {
            json_decref(gids);
            json_decref(cids);
            continue;
        }
        json_t *e = seed_user_json(&m->users[u], "parent", org, gids, cids);
        if (!e || json_array_append_new(users, e) != 0)
            return -1;
    }
    return 0;
}

static int seed_rest_json(const seed_model *m, json_t *orgs, json_t *groups, json_t *children)
{
    for (int i = 0; i < m->norgs; i++)
        if (json_array_append_new(orgs,
                                  json_pack("{s:I,s:s,s:s}", "id", (json_int_t)m->orgs[i].id,
                                            "name", m->orgs[i].name, "kind", m->orgs[i].kind)))
            return -1;
    for (int i = 0; i < m->ngroups; i++) {
        const seed_group *g = &m->groups[i];
        if (json_array_append_new(
                groups, json_pack("{s:I,s:s,s:I,s:s}", "id", (json_int_t)g->id, "name", g->name,
                                  "org_id", (json_int_t)m->orgs[g->org].id, "kind", g->kind)))
            return -1;
    }
    for (int i = 0; i < m->nchildren; i++) {
        const seed_child *c = &m->children[i];
        const seed_group *g = &m->groups[c->group];
        if (json_array_append_new(children,
                                  json_pack("{s:I,s:s,s:I,s:I}", "id", (json_int_t)c->id, "name",
                                            c->name, "group_id", (json_int_t)g->id, "org_id",
                                            (json_int_t)m->orgs[g->org].id)))
            return -1;
    }
    return 0;
}

/* Write {"name":[ one compact element per line ]}: readable, and still one
 * JSON document. Returns 0 or -1. */
static int seed_write_array(FILE *f, const char *name, const json_t *arr, int last)
{
    fprintf(f, "\"%s\": [", name);
    for (size_t i = 0; i < json_array_size(arr); i++) {
        char *s = jsonx_dump(json_array_get(arr, i));
        if (!s)
            return -1;
        fprintf(f, "%s\n  %s", i ? "," : "", s);
        free(s);
    }
    fprintf(f, "\n]%s\n", last ? "" : ",");
    return 0;
}

int seed_print_json(const seed_model *m, FILE *f)
{
    json_t *users = json_array(), *orgs = json_array(), *groups = json_array();
    json_t *children = json_array();
    int rc = -1;
    if (!users || !orgs || !groups || !children || seed_users_json(m, users) != 0 ||
        seed_rest_json(m, orgs, groups, children) != 0)
        goto out;
    fputs("{", f);
    if (seed_write_array(f, "users", users, 0) || seed_write_array(f, "orgs", orgs, 0) ||
        seed_write_array(f, "groups", groups, 0) || seed_write_array(f, "children", children, 1))
        goto out;
    fputs("}\n", f);
    rc = fflush(f) == 0 ? 0 : -1;
out:
    if (rc != 0)
        fprintf(stderr, "eposctl: seed-demo: cannot write the JSON\n");
    json_decref(users);
    json_decref(orgs);
    json_decref(groups);
    json_decref(children);
    return rc;
}

void seed_print_summary(const seed_model *m, FILE *f)
{
    int parents = 0, two = 0;
    fprintf(f, "Demo region ready; every demo password is demo-<login>.\n");
    for (int o = 0; o < m->norgs; o++) {
        int kids = 0;
        for (int i = 0; i < m->nchildren; i++)
            kids += m->groups[m->children[i].group].org == o;
        fprintf(f, "\n%s (%s, id %lld, %d children)\n", m->orgs[o].name, m->orgs[o].kind,
                m->orgs[o].id, kids);
        for (int i = 0; i < m->nroles; i++) {
            const seed_role *r = &m->roles[i];
            if (r->org != o)
                continue;
            fprintf(f, "  %-10s %-14s %s", m->users[r->user].login, r->role,
                    m->users[r->user].name);
            for (int g = 0; g < r->ngroups; g++)
                fprintf(f, "%s%s", g ? ", " : " — ", m->groups[r->groups[g]].name);
            fputc('\n', f);
        }
    }
    for (int u = 0; u < m->nusers; u++) {
        int n = 0;
        for (int i = 0; i < m->nchildren; i++)
            n += m->children[i].guardians[0] == u ||
                 (m->children[i].nguardians > 1 && m->children[i].guardians[1] == u);
        parents += n > 0;
        two += n > 1;
    }
    fprintf(f,
            "\nParents: parent1 … parent%d and teacher3 (%d parents, %d with two children;"
            " parent1 has a child in each org).\n",
            parents - 1, parents, two);
    fprintf(f, "The full list with ids: eposctl seed-demo --json\n");
}
