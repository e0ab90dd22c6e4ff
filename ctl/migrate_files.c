/* migrate_files.c -- eposctl migrate's schema files: list, read, checksum, report a failed one. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ctl.h"
#include "migrate.h"

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_lower_word(char c)
{
    return (c >= 'a' && c <= 'z') || is_digit(c) || c == '_';
}

/* migrations: "NNN_word.sql" (three digits, '_', then letters, digits, '_'
 * or '-'); functions: "word.sql" (lowercase letters, digits, '_'). */
static int migrate_name_ok(const char *name, migrate_kind kind)
{
    size_t len = strlen(name);
    if (len < 5 || strcmp(name + len - 4, ".sql") != 0)
        return 0;
    if (kind == MIGRATE_FUNCTIONS) {
        for (size_t i = 0; i < len - 4; i++)
            if (!is_lower_word(name[i]))
                return 0;
        return 1;
    }
    if (len < 9 || !is_digit(name[0]) || !is_digit(name[1]) || !is_digit(name[2]) || name[3] != '_')
        return 0;
    for (size_t i = 4; i < len - 4; i++) {
        char c = name[i];
        if (!(is_lower_word(c) || (c >= 'A' && c <= 'Z') || c == '-'))
            return 0;
    }
    return 1;
}

static int migrate_cmp(const void *a, const void *b)
{
    return strcmp(((const migrate_file *)a)->name, ((const migrate_file *)b)->name);
}

void migrate_set_free(migrate_set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->files[i].name);
        free(s->files[i].sql);
    }
    free(s->files);
    s->files = NULL;
    s->n = 0;
}

const migrate_file *migrate_find(const migrate_set *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->files[i].name, name) == 0)
            return &s->files[i];
    return NULL;
}

/* Read a whole file into a NUL-terminated buffer; *len gets its size.
 * NULL after printing. */
static char *migrate_read(const char *path, size_t *out_len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0;
    if (!f)
        goto fail;
    for (;;) {
        if (cap - len < 4096) {
            char *nb = realloc(buf, cap ? cap * 2 : 65536);
            if (!nb)
                goto fail;
            buf = nb;
            cap = cap ? cap * 2 : 65536;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(f))
        goto fail;
    fclose(f);
    buf[len] = '\0';
    *out_len = len;
    return buf;
fail:
    fprintf(stderr, "eposctl: migrate: cannot read %s: %s\n", path, strerror(errno));
    if (f)
        fclose(f);
    free(buf);
    return NULL;
}

/* Lowercase hex SHA-256 of data into out (65 bytes). Returns 0 or -1. */
static int migrate_sha256(const char *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        return -1;
    for (unsigned int i = 0; i < mdlen; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return 0;
}

/* Read and checksum one file into s. Returns 0, or -1 after printing. */
static int migrate_add(migrate_set *s, const char *dir, const char *name)
{
    char path[4096];
    size_t len = 0;
    if (s->n == MIGRATE_MAX_FILES) {
        fprintf(stderr, "eposctl: migrate: more than %d files in %s\n", MIGRATE_MAX_FILES, dir);
        return -1;
    }
    if (s->n % 64 == 0) {
        migrate_file *nf = realloc(s->files, (s->n + 64) * sizeof(*nf));
        if (!nf)
            goto oom;
        s->files = nf;
    }
    migrate_file *f = &s->files[s->n];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f->sql = migrate_read(path, &len);
    if (!f->sql)
        return -1;
    f->name = strdup(name);
    if (!f->name || migrate_sha256(f->sql, len, f->sum) != 0) {
        free(f->name);
        free(f->sql);
        goto oom;
    }
    s->n++;
    return 0;
oom:
    fprintf(stderr, "eposctl: migrate: out of memory reading %s/%s\n", dir, name);
    return -1;
}

int migrate_scan(const char *dir, migrate_kind kind, int optional, migrate_set *s)
{
    DIR *d = opendir(dir);
    if (!d) {
        if (optional && errno == ENOENT)
            return 0;
        fprintf(stderr, "eposctl: migrate: cannot read schema directory %s: %s\n", dir,
                strerror(errno));
        return -1;
    }
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL)
        if (migrate_name_ok(e->d_name, kind))
            rc = migrate_add(s, dir, e->d_name);
    closedir(d);
    if (rc != 0)
        return rc;
    if (s->n == 0 && !optional) {
        fprintf(stderr, "eposctl: migrate: no NNN_*.sql migration files in %s\n", dir);
        return -1;
    }
    if (s->n)
        qsort(s->files, s->n, sizeof(s->files[0]), migrate_cmp);
    for (size_t i = 1; kind == MIGRATE_NUMBERED && i < s->n; i++) {
        if (strncmp(s->files[i - 1].name, s->files[i].name, 3) == 0) {
            fprintf(stderr, "eposctl: migrate: two migrations numbered %.3s in %s: %s and %s\n",
                    s->files[i].name, dir, s->files[i - 1].name, s->files[i].name);
            return -1;
        }
    }
    return 0;
}

/* 1-based line of the 1-based character position pos of UTF-8 text sql. */
static int migrate_line_of(const char *sql, long pos)
{
    int line = 1;
    long chars = 0;
    for (const unsigned char *p = (const unsigned char *)sql; *p; p++) {
        if ((*p & 0xC0) == 0x80)
            continue;
        if (++chars >= pos)
            break;
        if (*p == '\n')
            line++;
    }
    return line;
}

void migrate_report(PGconn *conn, PGresult *res, const char *label, const char *sql)
{
    char msg[1024];
    ctl_db_error(conn, res, msg, sizeof(msg));
    const char *pos = res ? PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION) : NULL;
    if (pos && sql)
        fprintf(stderr, "eposctl: migrate: %s failed at line %d: %s\n", label,
                migrate_line_of(sql, atol(pos)), msg);
    else
        fprintf(stderr, "eposctl: migrate: %s failed: %s\n", label, msg);
}

int migrate_exec_file(PGconn *conn, const char *label, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY;
    if (!ok)
        migrate_report(conn, res, label, sql);
    PQclear(res);
    return ok ? 0 : -1;
}
