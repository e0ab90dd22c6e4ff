/* roster_csv.c -- OneRoster 1.2 CSV from a roster document: orgs, classes, users, roles,
 * enrollments.
 *
 * The mapping (docs/OPERATIONS.md, "The registry"): an org is an orgs.csv row
 * of type school, its kind and time zone in metadata.epos.* columns; a group
 * is a homeroom class; people and children are users.csv rows, a child's
 * guardians in agentSourcedIds; staff roles are roles.csv rows (administrator,
 * teacher, ext:class_teacher), a child's org a student role; bindings are
 * teacher enrollments (primary = class teacher), a child's group a student
 * enrollment. Names are split family, given, middle (the Russian order). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epos/csv.h"
#include "roster_csv.h"

static const char *const orgs_cols[] = {"sourcedId",
                                        "status",
                                        "dateLastModified",
                                        "name",
                                        "type",
                                        "identifier",
                                        "parentSourcedId",
                                        "metadata.epos.kind",
                                        "metadata.epos.tz",
                                        NULL};
static const char *const classes_cols[] = {"sourcedId",
                                           "status",
                                           "dateLastModified",
                                           "title",
                                           "grades",
                                           "courseSourcedId",
                                           "classCode",
                                           "classType",
                                           "location",
                                           "schoolSourcedId",
                                           "termSourcedIds",
                                           "subjects",
                                           "subjectCodes",
                                           "periods",
                                           "metadata.epos.kind",
                                           "metadata.epos.lessonsPerDay",
                                           NULL};
static const char *const users_cols[] = {"sourcedId",
                                         "status",
                                         "dateLastModified",
                                         "enabledUser",
                                         "username",
                                         "userIds",
                                         "givenName",
                                         "familyName",
                                         "middleName",
                                         "identifier",
                                         "email",
                                         "sms",
                                         "phone",
                                         "agentSourcedIds",
                                         "grades",
                                         "password",
                                         "userMasterIdentifier",
                                         "resourceSourcedIds",
                                         "preferredGivenName",
                                         "preferredMiddleName",
                                         "preferredFamilyName",
                                         "primaryOrgSourcedId",
                                         "pronouns",
                                         "metadata.epos.birthDate",
                                         NULL};
static const char *const roles_cols[] = {
    "sourcedId", "status",  "dateLastModified", "userSourcedId",        "roleType", "role",
    "beginDate", "endDate", "orgSourcedId",     "userProfileSourcedId", NULL};
static const char *const enrollments_cols[] = {"sourcedId",
                                               "status",
                                               "dateLastModified",
                                               "classSourcedId",
                                               "schoolSourcedId",
                                               "userSourcedId",
                                               "role",
                                               "primary",
                                               "beginDate",
                                               "endDate",
                                               NULL};

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* One record: the values in the order of cols, NULL for an empty field. */
static void write_row(FILE *f, const char *const *cols, const char **vals)
{
    for (int i = 0; cols[i]; i++) {
        if (i)
            fputc(',', f);
        csv_write_field(f, vals[i] ? vals[i] : "");
    }
    fputs("\r\n", f);
}

static FILE *open_csv(const char *dir, const char *name, const char *const *cols)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "eposctl: roster export: cannot write %s: %s\n", path, strerror(errno));
        return NULL;
    }
    write_row(f, cols, (const char **)cols);
    return f;
}

/* "Фамилия Имя Отчество" into its three parts (the rest of the words go to middle). */
static void name_split(const char *name, char *buf, size_t len, const char **family,
                       const char **given, const char **middle)
{
    snprintf(buf, len, "%s", name);
    *family = buf;
    *given = *middle = "";
    char *sp = strchr(buf, ' ');
    if (!sp)
        return;
    *sp = '\0';
    *given = sp + 1;
    sp = strchr(sp + 1, ' ');
    if (!sp)
        return;
    *sp = '\0';
    *middle = sp + 1;
}

static int write_orgs_classes(const json_t *doc, const char *dir)
{
    FILE *f = open_csv(dir, "orgs.csv", orgs_cols);
    size_t i;
    json_t *o;
    if (!f)
        return -1;
    json_array_foreach(json_object_get(doc, "orgs"), i, o)
    {
        const char *v[] = {str(o, "ext_id"), "active", NULL, str(o, "name"),
                           "school",         NULL,     NULL, str(o, "kind"),
                           str(o, "tz")};
        write_row(f, orgs_cols, v);
    }
    if (fclose(f) != 0 || !(f = open_csv(dir, "classes.csv", classes_cols)))
        return -1;
    json_array_foreach(json_object_get(doc, "groups"), i, o)
    {
        char lessons[16];
        snprintf(lessons, sizeof(lessons), "%lld",
                 (long long)json_integer_value(json_object_get(o, "lessons_per_day")));
        const char *v[] = {
            str(o, "ext_id"), "active", NULL,          str(o, "name"), NULL, NULL, NULL,
            "homeroom",       NULL,     str(o, "org"), NULL,           NULL, NULL, NULL,
            str(o, "kind"),   lessons};
        write_row(f, classes_cols, v);
    }
    return fclose(f) == 0 ? 0 : -1;
}

/* The org of a group of the document ("" when unknown). */
static const char *group_org(const json_t *doc, const char *group)
{
    size_t i;
    json_t *g;
    json_array_foreach(json_object_get(doc, "groups"), i, g)
    {
        if (strcmp(str(g, "ext_id"), group) == 0)
            return str(g, "org");
    }
    return "";
}

/* The guardians of a child, comma-separated, into buf. */
static void child_agents(const json_t *doc, const char *child, char *buf, size_t len)
{
    size_t i, n = 0;
    json_t *g;
    buf[0] = '\0';
    json_array_foreach(json_object_get(doc, "guardians"), i, g)
    {
        if (strcmp(str(g, "child"), child) == 0 && n < len)
            n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? "," : "", str(g, "person"));
    }
}

static int write_users(const json_t *doc, const char *dir)
{
    FILE *f = open_csv(dir, "users.csv", users_cols);
    size_t i;
    json_t *o;
    char buf[1024], agents[8192];
    const char *fam, *giv, *mid;
    if (!f)
        return -1;
    json_array_foreach(json_object_get(doc, "people"), i, o)
    {
        name_split(str(o, "name"), buf, sizeof(buf), &fam, &giv, &mid);
        const char *v[24] = {
            str(o, "ext_id"), "active", NULL,           "true", NULL, NULL, giv, fam, mid, NULL,
            str(o, "email"),  NULL,     str(o, "phone")};
        write_row(f, users_cols, v);
    }
    json_array_foreach(json_object_get(doc, "children"), i, o)
    {
        name_split(str(o, "name"), buf, sizeof(buf), &fam, &giv, &mid);
        child_agents(doc, str(o, "ext_id"), agents, sizeof(agents));
        const char *v[24] = {str(o, "ext_id"),
                             "active",
                             NULL,
                             "true",
                             NULL,
                             NULL,
                             giv,
                             fam,
                             mid,
                             NULL,
                             NULL,
                             NULL,
                             NULL,
                             agents};
        v[21] = group_org(doc, str(o, "group"));
        v[23] = str(o, "birth_date");
        write_row(f, users_cols, v);
    }
    return fclose(f) == 0 ? 0 : -1;
}

static const char *role_out(const char *role)
{
    return strcmp(role, "admin") == 0     ? "administrator"
           : strcmp(role, "teacher") == 0 ? "teacher"
                                          : "ext:class_teacher";
}

static int write_roles_enrollments(const json_t *doc, const char *dir)
{
    FILE *f = open_csv(dir, "roles.csv", roles_cols);
    size_t i, j;
    json_t *o, *r;
    char id[1024];
    if (!f)
        return -1;
    json_array_foreach(json_object_get(doc, "staff"), i, o)
    {
        json_array_foreach(json_object_get(o, "roles"), j, r)
        {
            snprintf(id, sizeof(id), "role-%s-%s-%s", str(o, "person"), str(o, "org"),
                     json_string_value(r));
            const char *v[] = {id,
                               "active",
                               NULL,
                               str(o, "person"),
                               "primary",
                               role_out(json_string_value(r)),
                               NULL,
                               NULL,
                               str(o, "org"),
                               NULL};
            write_row(f, roles_cols, v);
        }
    }
    json_array_foreach(json_object_get(doc, "children"), i, o)
    {
        const char *org = group_org(doc, str(o, "group"));
        snprintf(id, sizeof(id), "role-%s-%s-student", str(o, "ext_id"), org);
        const char *v[] = {id,   "active", NULL, str(o, "ext_id"), "primary", "student", NULL,
                           NULL, org,      NULL};
        write_row(f, roles_cols, v);
    }
    if (fclose(f) != 0 || !(f = open_csv(dir, "enrollments.csv", enrollments_cols)))
        return -1;
    json_array_foreach(json_object_get(doc, "bindings"), i, o)
    {
        int primary = strcmp(str(o, "role"), "class_teacher") == 0;
        snprintf(id, sizeof(id), "enr-%s-%s-%s", str(o, "group"), str(o, "person"), str(o, "role"));
        const char *v[] = {id,
                           "active",
                           NULL,
                           str(o, "group"),
                           group_org(doc, str(o, "group")),
                           str(o, "person"),
                           "teacher",
                           primary ? "true" : "false",
                           NULL,
                           NULL};
        write_row(f, enrollments_cols, v);
    }
    json_array_foreach(json_object_get(doc, "children"), i, o)
    {
        snprintf(id, sizeof(id), "enr-%s-%s", str(o, "group"), str(o, "ext_id"));
        const char *v[] = {id,
                           "active",
                           NULL,
                           str(o, "group"),
                           group_org(doc, str(o, "group")),
                           str(o, "ext_id"),
                           "student",
                           "false",
                           NULL,
                           NULL};
        write_row(f, enrollments_cols, v);
    }
    return fclose(f) == 0 ? 0 : -1;
}

int roster_csv_write(const json_t *doc, const char *dir)
{
    if (write_orgs_classes(doc, dir) != 0 || write_users(doc, dir) != 0 ||
        write_roles_enrollments(doc, dir) != 0)
        return -1;
    return 0;
}
