/* users.c -- eposctl user add|password|list: accounts and credentials from the command line. */
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "ctl.h"
#include "epos/auth.h"

#define USER_PASSWORD_MIN 8
#define USER_RANDOM_PASSWORD_LEN 14
#define USER_LOGIN_MAX 80
#define USER_FIELD_MAX 256

/* Lower-case login in place and check it against users.login's CHECK:
 * [a-z0-9] then up to 63 of [a-z0-9._@-]. Returns 0 or -1 (printed). */
static int user_login_normalize(char *login, size_t len, const char *in)
{
    size_t n = strlen(in);
    if (n == 0 || n >= len || n > 64)
        goto bad;
    for (size_t i = 0; i <= n; i++) {
        char c = in[i];
        login[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    for (size_t i = 0; i < n; i++) {
        char c = login[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || !strchr("._@-", c)))
            goto bad;
    }
    return 0;
bad:
    fprintf(stderr,
            "eposctl user: invalid login '%s' (1-64 of a-z 0-9 . _ @ -, starting with "
            "a letter or digit)\n",
            in);
    return -1;
}

/* Use the given password (checked) or make a random one into buf.
 * *generated tells which. Returns 0 or -1 (printed). */
static int user_password_pick(const char *given, char *buf, size_t len, int *generated)
{
    *generated = given == NULL;
    if (given) {
        if (strlen(given) < USER_PASSWORD_MIN || strlen(given) >= len) {
            fprintf(stderr, "eposctl user: the password must have %d to %zu characters\n",
                    USER_PASSWORD_MIN, len - 1);
            return -1;
        }
        memcpy(buf, given, strlen(given) + 1);
        return 0;
    }
    if (auth_random_text(buf, USER_RANDOM_PASSWORD_LEN) != 0) {
        fprintf(stderr, "eposctl user: cannot generate a random password\n");
        return -1;
    }
    return 0;
}

/* The normalized login, the password (given or random) and its hash; the
 * buffers are USER_LOGIN_MAX, USER_FIELD_MAX, USER_FIELD_MAX bytes.
 * Returns 0 or -1 (printed). */
static int user_credentials(const char *login_in, const char *given, char *login, char *password,
                            char *hash, int *generated)
{
    if (user_login_normalize(login, USER_LOGIN_MAX, login_in) != 0 ||
        user_password_pick(given, password, USER_FIELD_MAX, generated) != 0)
        return -1;
    if (auth_hash_password(password, hash, USER_FIELD_MAX) == 0)
        return 0;
    fprintf(stderr, "eposctl user: password hashing failed\n");
    return -1;
}

static int user_audit(PGconn *conn, const char *action, long long uid, const char *login)
{
    char object[64];
    snprintf(object, sizeof(object), "user:%lld", uid);
    const char *p[3] = {action, object, login};
    PGresult *res = ctl_db_query(conn, "user: audit log",
                                 "INSERT INTO audit_log (action, object, detail)"
                                 " VALUES ($1, $2, jsonb_build_object('login', $3::text,"
                                 " 'via', 'eposctl'))",
                                 3, p);
    int rc = res ? 0 : -1;
    PQclear(res);
    return rc;
}

/* Inside user_insert's transaction: refuse a taken login or an unknown org
 * with a clear message (the constraints would refuse them too, less clearly).
 * Returns 0 or -1 (printed). */
static int user_check_new(PGconn *conn, const char *login, const char *org)
{
    long long other = 0;
    const char *pl[1] = {login};
    int taken =
        ctl_db_query_id(conn, "user add", "SELECT id FROM users WHERE login = $1", 1, pl, &other);
    if (taken == 1)
        fprintf(stderr, "eposctl user add: login '%s' is taken (user %lld)\n", login, other);
    if (taken != 0)
        return -1;
    if (!org)
        return 0;
    const char *po[1] = {org};
    int found =
        ctl_db_query_id(conn, "user add", "SELECT id FROM orgs WHERE id::text = $1", 1, po, &other);
    if (found == 0)
        fprintf(stderr, "eposctl user add: no org with id '%s'\n", org);
    return found == 1 ? 0 : -1;
}

/* Insert the user (and the role) in one transaction. Returns the id or -1. */
static long long user_insert(PGconn *conn, const char *login, const char *name, const char *email,
                             const char *phone, const char *hash, int must_change, const char *role,
                             const char *org)
{
    long long id = -1;
    const char *p[6] = {login, name, email, phone, hash, must_change ? "true" : "false"};
    if (ctl_db_exec(conn, "BEGIN", "user add") != 0)
        return -1;
    if (user_check_new(conn, login, role ? org : NULL) != 0)
        goto fail;
    if (ctl_db_query_id(conn, "user add",
                        "INSERT INTO users (login, full_name, email, phone, password_hash,"
                        " must_change_password) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                        6, p, &id) != 1)
        goto fail;
    if (role) {
        char uid[32];
        snprintf(uid, sizeof(uid), "%lld", id);
        const char *rp[3] = {uid, org, role};
        PGresult *res = ctl_db_query(conn, "user add: role",
                                     "INSERT INTO staff_roles (user_id, org_id, role)"
                                     " VALUES ($1, $2, $3)",
                                     3, rp);
        if (!res)
            goto fail;
        PQclear(res);
    }
    if (user_audit(conn, "user.add", id, login) != 0 || ctl_db_exec(conn, "COMMIT", "user add"))
        goto fail;
    return id;
fail:
    PQclear(PQexec(conn, "ROLLBACK"));
    return -1;
}

static int user_add(ctl_ctx *ctx, int argc, char **argv)
{
    const char *login_in = NULL, *name = NULL, *email = NULL, *phone = NULL, *given = NULL;
    const char *role = NULL, *org = NULL;
    const ctl_opt opts[] = {{"login", &login_in, NULL}, {"name", &name, NULL},
                            {"email", &email, NULL},    {"phone", &phone, NULL},
                            {"password", &given, NULL}, {"role", &role, NULL},
                            {"org", &org, NULL}};
    char login[USER_LOGIN_MAX], password[USER_FIELD_MAX], hash[USER_FIELD_MAX];
    int generated = 0;

    if (ctl_opts_parse("user add", argc, argv, 2, opts, sizeof(opts) / sizeof(opts[0])) != 0)
        return CTL_USAGE;
    if (!login_in || !name || !email) {
        fprintf(stderr, "eposctl user add: --login, --name and --email are required\n");
        return CTL_USAGE;
    }
    if (!role != !org || (role && strcmp(role, "admin") && strcmp(role, "teacher") &&
                          strcmp(role, "class_teacher"))) {
        fprintf(stderr,
                "eposctl user add: --role admin|teacher|class_teacher goes with --org ID\n");
        return CTL_USAGE;
    }
    if (user_credentials(login_in, given, login, password, hash, &generated) != 0)
        return CTL_FAIL;

    PGconn *conn = ctl_db_connect(ctx);
    if (!conn)
        return CTL_FAIL;
    /* A generated password is a first-login credential: it must be changed. */
    long long id = user_insert(conn, login, name, email, phone, hash, generated, role, org);
    PQfinish(conn);
    if (id < 0)
        return CTL_FAIL;
    printf("created user %lld %s\n", id, login);
    if (generated)
        printf("password: %s\n", password);
    return CTL_OK;
}

/* Tell the hubs (channel ctl) to recheck the user's open WebSockets: those of
 * the revoked sessions close with 4401. Best effort: without Redis the
 * sockets stay until they reconnect, and say so. */
static void user_refresh_sockets(const ctl_ctx *ctx, long long id)
{
    redisContext *c = ctl_redis(ctx);
    redisReply *r = c ? redisCommand(c, "PUBLISH ctl refresh:%lld", id) : NULL;
    if (!r)
        fprintf(stderr, "eposctl: open connections of the user close when they reconnect\n");
    freeReplyObject(r);
    redisFree(c);
}

static int user_password(ctl_ctx *ctx, int argc, char **argv)
{
    const char *login_in = NULL, *given = NULL;
    const ctl_opt opts[] = {{"login", &login_in, NULL}, {"password", &given, NULL}};
    char login[USER_LOGIN_MAX], password[USER_FIELD_MAX], hash[USER_FIELD_MAX];
    int generated = 0, rc = CTL_FAIL;
    long long id = 0;

    if (ctl_opts_parse("user password", argc, argv, 2, opts, 2) != 0)
        return CTL_USAGE;
    if (!login_in) {
        fprintf(stderr, "eposctl user password: --login is required\n");
        return CTL_USAGE;
    }
    if (user_credentials(login_in, given, login, password, hash, &generated) != 0)
        return CTL_FAIL;
    PGconn *conn = ctl_db_connect(ctx);
    if (!conn)
        return CTL_FAIL;
    const char *p[3] = {login, hash, generated ? "true" : "false"};
    if (ctl_db_exec(conn, "BEGIN", "user password") != 0)
        goto out;
    int found = ctl_db_query_id(conn, "user password",
                                "UPDATE users SET password_hash = $2, must_change_password = $3"
                                " WHERE login = $1 RETURNING id",
                                3, p, &id);
    if (found == 0)
        fprintf(stderr, "eposctl user password: no user with login '%s'\n", login);
    if (found != 1)
        goto out;
    /* A new password ends the sessions opened with the old one. */
    char uid[32];
    snprintf(uid, sizeof(uid), "%lld", id);
    const char *sp[1] = {uid};
    PGresult *res = ctl_db_query(conn, "user password: revoking sessions",
                                 "UPDATE sessions SET revoked_at = now()"
                                 " WHERE user_id = $1 AND revoked_at IS NULL",
                                 1, sp);
    int revoked = res != NULL;
    PQclear(res);
    if (!revoked || user_audit(conn, "user.password", id, login) != 0 ||
        ctl_db_exec(conn, "COMMIT", "user password") != 0)
        goto out;
    printf("password of %s changed\n", login);
    if (generated)
        printf("password: %s\n", password);
    user_refresh_sockets(ctx, id);
    rc = CTL_OK;
out:
    PQfinish(conn);
    return rc;
}

static int user_list(ctl_ctx *ctx, int argc, char **argv)
{
    if (ctl_opts_parse("user list", argc, argv, 2, NULL, 0) != 0)
        return CTL_USAGE;
    PGconn *conn = ctl_db_connect(ctx);
    if (!conn)
        return CTL_FAIL;
    PGresult *res = ctl_db_query(
        conn, "user list",
        "SELECT u.id, u.login, coalesce(u.email, ''), u.full_name,"
        "       CASE WHEN u.disabled THEN 'disabled' ELSE coalesce((SELECT string_agg("
        "         r.role || '@' || r.org_id, ',') FROM epos_user_roles(u.id) r), '-') END"
        "  FROM users u ORDER BY u.id",
        0, NULL);
    if (res) {
        printf("%-6s %-16s %-32s %-32s %s\n", "id", "login", "roles@org", "email", "name");
        for (int r = 0; r < PQntuples(res); r++)
            printf("%-6s %-16s %-32s %-32s %s\n", PQgetvalue(res, r, 0), PQgetvalue(res, r, 1),
                   PQgetvalue(res, r, 4), PQgetvalue(res, r, 2), PQgetvalue(res, r, 3));
    }
    int rc = res ? CTL_OK : CTL_FAIL;
    PQclear(res);
    PQfinish(conn);
    return rc;
}

int ctl_cmd_user(ctl_ctx *ctx, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "";
    if (strcmp(sub, "add") == 0)
        return user_add(ctx, argc, argv);
    if (strcmp(sub, "password") == 0)
        return user_password(ctx, argc, argv);
    if (strcmp(sub, "list") == 0)
        return user_list(ctx, argc, argv);
    fprintf(stderr, "eposctl user: expected add, password or list (see eposctl --help)\n");
    return CTL_USAGE;
}
