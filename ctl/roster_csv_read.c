/* roster_csv_read.c -- a roster document (mode delta) from OneRoster 1.2 CSV files; the mapping is
 * in roster_csv.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epos/csv.h"
#include "roster_csv.h"

/* A file read: its rows and the column index of each header name. */
typedef struct rfile {
    const char *name;
    csv_table t;
    json_t *cols; /* {"header": index} */
} rfile;

static int rfile_load(rfile *f, const char *dir, const char *name, int required)
{
    char path[4096], err[160];
    f->name = name;
    f->cols = json_object();
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *in = fopen(path, "rb");
    if (!in) {
        if (!required && errno == ENOENT)
            return 0;
        fprintf(stderr, "eposctl: roster import: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    char chunk[65536];
    while ((n = fread(chunk, 1, sizeof(chunk), in)) > 0) {
        if (len + n > cap) {
            cap = (len + n) * 2;
            char *b = realloc(buf, cap);
            if (!b) {
                free(buf);
                fclose(in);
                fprintf(stderr, "eposctl: roster import: out of memory\n");
                return -1;
            }
            buf = b;
        }
        memcpy(buf + len, chunk, n);
        len += n;
    }
    fclose(in);
    int rc = csv_parse(buf ? buf : "", len, &f->t, err, sizeof(err));
    free(buf);
    if (rc != 0 || f->t.nrows == 0) {
        fprintf(stderr, "eposctl: roster import: %s: %s\n", path, rc ? err : "no header line");
        return -1;
    }
    for (size_t i = 0; i < f->t.nfields[0]; i++)
        json_object_set_new(f->cols, f->t.rows[0][i], json_integer((json_int_t)i));
    return 0;
}

/* Field col of data row i ("" when the column or the field is missing). */
static const char *fld(const rfile *f, size_t i, const char *col)
{
    json_t *ix = json_object_get(f->cols, col);
    if (!ix || (size_t)json_integer_value(ix) >= f->t.nfields[i])
        return "";
    return f->t.rows[i][json_integer_value(ix)];
}

static int need_cols(const rfile *f, const char *const *cols)
{
    for (; *cols; cols++)
        if (!json_object_get(f->cols, *cols)) {
            fprintf(stderr, "eposctl: roster import: %s has no column %s\n", f->name, *cols);
            return -1;
        }
    return 0;
}

static void set_nonempty(json_t *o, const char *key, const char *v)
{
    if (v[0])
        json_object_set_new(o, key, json_string(v));
}

static void read_orgs_classes(const rfile *orgs, const rfile *classes, json_t *doc)
{
    json_t *a = json_object_get(doc, "orgs");
    for (size_t i = 1; i < orgs->t.nrows; i++) {
        const char *kind = fld(orgs, i, "metadata.epos.kind");
        json_t *o = json_pack("{s:s, s:s, s:s}", "ext_id", fld(orgs, i, "sourcedId"), "name",
                              fld(orgs, i, "name"), "kind", kind[0] ? kind : "school");
        set_nonempty(o, "tz", fld(orgs, i, "metadata.epos.tz"));
        json_array_append_new(a, o);
    }
    a = json_object_get(doc, "groups");
    for (size_t i = 1; i < classes->t.nrows; i++) {
        const char *kind = fld(classes, i, "metadata.epos.kind"), *lessons;
        json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "ext_id", fld(classes, i, "sourcedId"), "org",
                              fld(classes, i, "schoolSourcedId"), "name", fld(classes, i, "title"),
                              "kind", kind[0] ? kind : "class");
        lessons = fld(classes, i, "metadata.epos.lessonsPerDay");
        if (lessons[0]) {
            char *end;
            long n = strtol(lessons, &end, 10);
            /* Not a number: sent as text, the sync rejects the row with its reason. */
            json_object_set_new(o, "lessons_per_day",
                                *end ? json_string(lessons) : json_integer(n));
        }
        json_array_append_new(a, o);
    }
}

/* Staff roles per person and org from roles.csv; students' orgs are implied by their class. */
static void read_roles(const rfile *roles, json_t *doc, json_t *students)
{
    json_t *by = json_object(); /* "person\norg" -> staff row */
    for (size_t i = 1; i < roles->t.nrows; i++) {
        const char *role = fld(roles, i, "role"), *ours = NULL;
        if (strcmp(role, "student") == 0) {
            json_object_set_new(students, fld(roles, i, "userSourcedId"), json_true());
            continue;
        }
        ours = strcmp(role, "administrator") == 0       ? "admin"
               : strcmp(role, "teacher") == 0           ? "teacher"
               : strcmp(role, "ext:class_teacher") == 0 ? "class_teacher"
                                                        : NULL;
        if (!ours || strcmp(fld(roles, i, "status"), "tobedeleted") == 0)
            continue;
        char key[1024];
        snprintf(key, sizeof(key), "%s\n%s", fld(roles, i, "userSourcedId"),
                 fld(roles, i, "orgSourcedId"));
        json_t *row = json_object_get(by, key);
        if (!row) {
            row = json_pack("{s:s, s:s, s:[]}", "person", fld(roles, i, "userSourcedId"), "org",
                            fld(roles, i, "orgSourcedId"), "roles");
            json_object_set_new(by, key, row);
            json_array_append(json_object_get(doc, "staff"), row);
        }
        json_array_append_new(json_object_get(row, "roles"), json_string(ours));
    }
    json_decref(by);
}

/* Teacher enrollments are bindings; a student's enrollment is the child's group. */
static void read_enrollments(const rfile *enr, json_t *doc, json_t *students, json_t *group_of)
{
    for (size_t i = 1; i < enr->t.nrows; i++) {
        const char *role = fld(enr, i, "role"), *user = fld(enr, i, "userSourcedId");
        int ended = strcmp(fld(enr, i, "status"), "tobedeleted") == 0;
        if (strcmp(role, "student") == 0) {
            json_object_set_new(students, user, json_true());
            if (!ended)
                json_object_set_new(group_of, user, json_string(fld(enr, i, "classSourcedId")));
        } else if (strcmp(role, "teacher") == 0) {
            json_t *b = json_pack(
                "{s:s, s:s, s:s}", "person", user, "group", fld(enr, i, "classSourcedId"), "role",
                strcmp(fld(enr, i, "primary"), "true") == 0 ? "class_teacher" : "teacher");
            if (ended)
                json_object_set_new(b, "ended", json_true());
            json_array_append_new(json_object_get(doc, "bindings"), b);
        }
    }
}

static void read_users(const rfile *users, json_t *doc, json_t *students, json_t *group_of)
{
    for (size_t i = 1; i < users->t.nrows; i++) {
        const char *id = fld(users, i, "sourcedId");
        char name[1024];
        const char *parts[3] = {fld(users, i, "familyName"), fld(users, i, "givenName"),
                                fld(users, i, "middleName")};
        size_t n = 0;
        name[0] = '\0';
        for (int k = 0; k < 3; k++)
            if (parts[k][0] && n < sizeof(name))
                n += (size_t)snprintf(name + n, sizeof(name) - n, "%s%s", n ? " " : "", parts[k]);
        if (!json_object_get(students, id)) {
            json_t *p = json_pack("{s:s, s:s}", "ext_id", id, "name", name);
            set_nonempty(p, "email", fld(users, i, "email"));
            set_nonempty(p, "phone", fld(users, i, "phone"));
            json_array_append_new(json_object_get(doc, "people"), p);
            continue;
        }
        json_t *c = json_pack("{s:s, s:s}", "ext_id", id, "name", name);
        json_t *g = json_object_get(group_of, id);
        if (g)
            json_object_set(c, "group", g);
        else
            json_object_set_new(c, "ended", json_true());
        set_nonempty(c, "birth_date", fld(users, i, "metadata.epos.birthDate"));
        json_array_append_new(json_object_get(doc, "children"), c);
        char *agents = strdup(fld(users, i, "agentSourcedIds")), *save = NULL;
        for (char *a = agents ? strtok_r(agents, ",", &save) : NULL; a;
             a = strtok_r(NULL, ",", &save))
            json_array_append_new(json_object_get(doc, "guardians"),
                                  json_pack("{s:s, s:s}", "person", a, "child", id));
        free(agents);
    }
}

json_t *roster_csv_read(const char *dir)
{
    static const char *const need_orgs[] = {"sourcedId", "name", NULL};
    static const char *const need_classes[] = {"sourcedId", "title", "schoolSourcedId", NULL};
    static const char *const need_users[] = {"sourcedId", "givenName", "familyName", NULL};
    static const char *const need_enr[] = {"classSourcedId", "userSourcedId", "role", NULL};
    static const char *const need_roles[] = {"userSourcedId", "role", "orgSourcedId", NULL};
    rfile f[5] = {0};
    json_t *doc = NULL, *students = json_object(), *group_of = json_object();
    if (rfile_load(&f[0], dir, "orgs.csv", 1) || rfile_load(&f[1], dir, "classes.csv", 1) ||
        rfile_load(&f[2], dir, "users.csv", 1) || rfile_load(&f[3], dir, "enrollments.csv", 1) ||
        rfile_load(&f[4], dir, "roles.csv", 0) || need_cols(&f[0], need_orgs) ||
        need_cols(&f[1], need_classes) || need_cols(&f[2], need_users) ||
        need_cols(&f[3], need_enr) || (f[4].t.nrows && need_cols(&f[4], need_roles)))
        goto out;
    doc = json_pack("{s:s, s:[], s:[], s:[], s:[], s:[], s:[], s:[]}", "mode", "delta", "orgs",
                    "groups", "people", "staff", "bindings", "children", "guardians");
    read_orgs_classes(&f[0], &f[1], doc);
    read_roles(&f[4], doc, students);
    read_enrollments(&f[3], doc, students, group_of);
    read_users(&f[2], doc, students, group_of);
out:
    for (int i = 0; i < 5; i++) {
        csv_table_free(&f[i].t);
        json_decref(f[i].cols);
    }
    json_decref(students);
    json_decref(group_of);
    return doc;
}
