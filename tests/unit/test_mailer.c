/* test_mailer.c -- the mailer against real SMTP servers: delivery, refusals, TLS, close. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <jansson.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "workers/mime.c"
#include "workers/mailer.c"
#include "workers/mailer_session.c"

#define PYTHON "/usr/bin/python3"
#define SMTP_SINK "/usr/sbin/smtp-sink"

/* The SMTP servers of the tests, one script: it binds an ephemeral port and
 * prints it once it listens, so the test waits on that line, not a sleep.
 *   mailbox DIR            every mail into the maildir DIR
 *   rcpt "CODE TEXT"       every RCPT TO answered with that reply
 *   auth USER PASS DIR     AUTH required (no TLS), mail into DIR
 *   tls CERT KEY DIR       STARTTLS required, mail into DIR
 *   dump DIR               print the maildir's mails, decoded, as JSON lines */
static const char smtpd_py[] =
    "import asyncio, json, mailbox, ssl, sys\n"
    "from email.header import decode_header, make_header\n"
    "def dump(d):\n"
    "    for key, msg in mailbox.Maildir(d, create=False).items():\n"
    "        h = lambda n: None if msg[n] is None else str(make_header(decode_header(msg[n])))\n"
    "        print(json.dumps({'mid': msg['Message-ID'], 'subject': h('Subject'), 'to': h('To'),\n"
    "            'from': h('From'), 'kind': h('X-EPOS-Kind'), 'ctype': msg['Content-Type'],\n"
    "            'cte': msg['Content-Transfer-Encoding'], 'rcpt': msg['X-RcptTo'],\n"
    "            'env_from': msg['X-MailFrom'], 'date': msg['Date'],\n"
    "            'body': msg.get_payload(decode=True).decode('utf-8')}))\n"
    "mode = sys.argv[1]\n"
    "if mode == 'dump':\n"
    "    dump(sys.argv[2]); sys.exit(0)\n"
    "from aiosmtpd.smtp import SMTP, AuthResult\n"
    "from aiosmtpd.handlers import Mailbox\n"
    "class Refuse:\n"
    "    async def handle_RCPT(self, server, session, envelope, address, options):\n"
    "        return sys.argv[2]\n"
    "def check(server, session, envelope, mechanism, data):\n"
    "    return AuthResult(success=(data.login == sys.argv[2].encode()\n"
    "                               and data.password == sys.argv[3].encode()))\n"
    "loop = asyncio.new_event_loop()\n"
    "asyncio.set_event_loop(loop)\n"
    "if mode == 'mailbox':\n"
    "    h = Mailbox(sys.argv[2]); make = lambda: SMTP(h, loop=loop)\n"
    "elif mode == 'rcpt':\n"
    "    h = Refuse(); make = lambda: SMTP(h, loop=loop)\n"
    "elif mode == 'tls':\n"
    "    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)\n"
    "    ctx.load_cert_chain(sys.argv[2], sys.argv[3])\n"
    "    h = Mailbox(sys.argv[4])\n"
    "    make = lambda: SMTP(h, loop=loop, tls_context=ctx, require_starttls=True)\n"
    "else:\n"
    "    h = Mailbox(sys.argv[4])\n"
    "    make = lambda: SMTP(h, loop=loop, auth_required=True, auth_require_tls=False,\n"
    "                        authenticator=check)\n"
    "srv = loop.run_until_complete(loop.create_server(make, '127.0.0.1', 0))\n"
    "print(srv.sockets[0].getsockname()[1], flush=True)\n"
    "loop.run_forever()\n";

static char tmpdir[64];
static char script[128];

/* --- servers --- */

typedef struct server {
    pid_t pid;
    int port;
} server;

/* Start the script in a mode; returns once it listens. */
static server server_start(const char *a1, const char *a2, const char *a3, const char *a4)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    server s = {.pid = fork()};
    assert_true(s.pid >= 0);
    if (s.pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* a crashed test leaves no server behind */
        char log[128];
        snprintf(log, sizeof(log), "%s/server.log", tmpdir);
        FILE *err = fopen(log, "a");
        if (err)
            dup2(fileno(err), 2); /* aiosmtpd's warnings, kept for a failing run */
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl(PYTHON, PYTHON, "-W", "ignore", script, a1, a2, a3, a4, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%d", &s.port), 1);
    fclose(f);
    return s;
}

static void server_stop(server *s)
{
    int st;
    kill(s->pid, SIGTERM);
    waitpid(s->pid, &st, 0);
}

/* A port nothing listens on (bound, then released). */
static int port_unused(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* --- the loop side --- */

typedef struct result {
    int calls, status, code;
    char detail[200];
    char mid[80];
} result;

static void on_done(const mail_t *m, int status, int code, const char *detail, void *arg)
{
    result *r = arg;
    r->calls++;
    r->status = status;
    r->code = code;
    snprintf(r->detail, sizeof(r->detail), "%s", detail);
    snprintf(r->mid, sizeof(r->mid), "%s", m->message_id);
    assert_null(m->body);
}

static void on_closed(void *arg)
{
    (*(int *)arg)++;
}

static epos_config config_for(int port)
{
    epos_config c = {0};
    c.smtp_host = "127.0.0.1";
    c.smtp_port = port;
    c.mail_from = "ЭПОС <noreply@epos.local>";
    return c;
}

static const mime_header kind_header[] = {{"X-EPOS-Kind", "absence.notice"}};

static void mail_fill(mail_t *m, char *mid, size_t midlen, char *subject, size_t sublen, int i)
{
    snprintf(mid, midlen, "<absence.%d.7@epos.local>", i);
    snprintf(subject, sublen, "Уведомление №%d: Петров Ваня не придёт в группу «Солнышко»", i);
    *m = (mail_t){
        .to_addr = "maria@example.org",
        .to_name = "Иванова Мария Петровна",
        .subject = subject,
        .body = "Здравствуйте!\nРодитель сообщил об отсутствии.\nЭПОС\n",
        .message_id = mid,
        .headers = kind_header,
        .nheaders = 1,
    };
}

/* Send n mails, run the loop until every callback ran (the mailer holds the
 * loop only while mail is outstanding), close, and prove no handle is left. */
static void run_batch(const epos_config *cfg, int threads, int n, result *res, mailer_stats *st)
{
    uv_loop_t loop;
    int closed = 0;
    assert_int_equal(uv_loop_init(&loop), 0);
    mailer_t *m = mailer_create(&loop, cfg, threads);
    assert_non_null(m);
    for (int i = 0; i < n; i++) {
        char mid[80], subject[200];
        mail_t mail;
        mail_fill(&mail, mid, sizeof(mid), subject, sizeof(subject), i);
        assert_int_equal(mailer_send(m, &mail, on_done, &res[i]), 0);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    for (int i = 0; i < n; i++)
        assert_int_equal(res[i].calls, 1);
    if (st)
        mailer_stats_get(m, st);
    mailer_close(m, on_closed, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(closed, 1);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* --- tests --- */

static void test_classify(void **state)
{
    int which;
    assert_int_equal(mailer_classify(250, 250, 250, &which), MAIL_SENT);
    assert_int_equal(which, 3);
    assert_int_equal(mailer_classify(250, 550, 554, &which), MAIL_PERMFAIL);
    assert_int_equal(which, 2);
    assert_int_equal(mailer_classify(250, 451, 503, &which), MAIL_TEMPFAIL);
    assert_int_equal(which, 2);
    assert_int_equal(mailer_classify(550, 0, 0, &which), MAIL_PERMFAIL);
    assert_int_equal(which, 1);
    assert_int_equal(mailer_classify(530, 0, 0, &which), MAIL_TEMPFAIL);
    assert_int_equal(mailer_classify(250, 250, 552, &which), MAIL_PERMFAIL);
    assert_int_equal(mailer_classify(250, 250, 421, &which), MAIL_TEMPFAIL);
    assert_int_equal(mailer_classify(250, 250, 354, &which), MAIL_TEMPFAIL); /* cut after DATA */
    assert_int_equal(mailer_classify(250, 250, 0, &which), MAIL_TEMPFAIL);
    assert_int_equal(mailer_classify(0, 0, 0, &which), MAIL_TEMPFAIL);
    assert_int_equal(which, 0);
}

/* The maildir's mails as parsed by Python's email package. */
static json_t *maildir_dump(const char *dir)
{
    char cmd[512], line[8192];
    snprintf(cmd, sizeof(cmd), "%s %s dump %s", PYTHON, script, dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    json_t *all = json_array();
    while (fgets(line, sizeof(line), p)) {
        json_t *j = json_loads(line, 0, NULL);
        assert_non_null(j);
        json_array_append_new(all, j);
    }
    assert_int_equal(pclose(p), 0);
    return all;
}

static void test_delivers_russian_mail_over_shared_sessions(void **state)
{
    enum { N = 20 };
    char dir[128];
    snprintf(dir, sizeof(dir), "%s/maildir", tmpdir);
    server s = server_start("mailbox", dir, NULL, NULL);
    epos_config cfg = config_for(s.port);
    result res[N] = {{0}};
    mailer_stats st;
    run_batch(&cfg, 2, N, res, &st);
    for (int i = 0; i < N; i++) {
        assert_int_equal(res[i].status, MAIL_SENT);
        assert_int_equal(res[i].code, 250);
    }
    assert_int_equal(st.attempts, N);
    assert_int_equal(st.sent, N);
    assert_true(st.sessions < N); /* connections were reused */
    assert_true(st.max_batch >= 2);
    print_message("20 mails in %llu sessions, at most %llu per session\n",
                  (unsigned long long)st.sessions, (unsigned long long)st.max_batch);

    json_t *all = maildir_dump(dir);
    server_stop(&s);
    assert_int_equal(json_array_size(all), N);
    int seen[N] = {0};
    size_t k;
    json_t *msg;
    json_array_foreach(all, k, msg)
    {
        int i = -1;
        char expect[200];
        sscanf(json_string_value(json_object_get(msg, "mid")), "<absence.%d.7@epos.local>", &i);
        assert_true(i >= 0 && i < N);
        seen[i]++;
        snprintf(expect, sizeof(expect),
                 "Уведомление №%d: Петров Ваня не придёт в группу «Солнышко»", i);
        assert_string_equal(json_string_value(json_object_get(msg, "subject")), expect);
        assert_string_equal(json_string_value(json_object_get(msg, "to")),
                            "Иванова Мария Петровна <maria@example.org>");
        assert_string_equal(json_string_value(json_object_get(msg, "from")),
                            "ЭПОС <noreply@epos.local>");
        assert_string_equal(json_string_value(json_object_get(msg, "kind")), "absence.notice");
        assert_string_equal(json_string_value(json_object_get(msg, "ctype")),
                            "text/plain; charset=UTF-8");
        assert_string_equal(json_string_value(json_object_get(msg, "rcpt")), "maria@example.org");
        assert_string_equal(json_string_value(json_object_get(msg, "env_from")),
                            "noreply@epos.local");
        assert_string_equal(json_string_value(json_object_get(msg, "body")),
                            "Здравствуйте!\r\nРодитель сообщил об отсутствии.\r\nЭПОС\r\n");
    }
    for (int i = 0; i < N; i++)
        assert_int_equal(seen[i], 1); /* each arrived exactly once */
    json_decref(all);
}

static void test_server_down_is_temporary(void **state)
{
    epos_config cfg = config_for(port_unused());
    result res[5] = {{0}};
    mailer_stats st;
    run_batch(&cfg, 2, 5, res, &st);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(res[i].status, MAIL_TEMPFAIL);
        assert_int_equal(res[i].code, 0);
        assert_non_null(strstr(res[i].detail, "refused"));
    }
    assert_int_equal(st.tempfail, 5);
}

static void refused_rcpt(const char *reply, int status, int code)
{
    server s = server_start("rcpt", reply, NULL, NULL);
    epos_config cfg = config_for(s.port);
    result res[3] = {{0}};
    run_batch(&cfg, 1, 3, res, NULL);
    server_stop(&s);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(res[i].status, status);
        assert_int_equal(res[i].code, code);
        assert_non_null(strstr(res[i].detail, reply));
    }
}

static void test_rcpt_550_is_permanent(void **state)
{
    refused_rcpt("550 5.1.1 No such user here", MAIL_PERMFAIL, 550);
}

static void test_rcpt_451_is_temporary(void **state)
{
    refused_rcpt("451 4.3.0 Try again later", MAIL_TEMPFAIL, 451);
}

static void test_auth(void **state)
{
    char dir[128];
    snprintf(dir, sizeof(dir), "%s/authdir", tmpdir);
    server s = server_start("auth", "mailer", "секрет-42", dir);
    epos_config cfg = config_for(s.port);
    cfg.smtp_user = "mailer";
    cfg.smtp_password = "секрет-42";
    result ok[2] = {{0}};
    run_batch(&cfg, 1, 2, ok, NULL);
    cfg.smtp_password = "wrong";
    result bad[2] = {{0}};
    run_batch(&cfg, 1, 2, bad, NULL);
    json_t *all = maildir_dump(dir);
    server_stop(&s);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(ok[i].status, MAIL_SENT);
        /* Our settings, not the mail: temporary. (aiosmtpd drops the
         * connection after a refused AUTH LOGIN; a server that answers 535
         * and then 530 to MAIL FROM gets the same status.) */
        assert_int_equal(bad[i].status, MAIL_TEMPFAIL);
    }
    assert_int_equal(json_array_size(all), 2);
    json_decref(all);
}

static void test_starttls_required_but_not_offered(void **state)
{
    char dir[128];
    snprintf(dir, sizeof(dir), "%s/tlsdir", tmpdir);
    server s = server_start("mailbox", dir, NULL, NULL);
    epos_config cfg = config_for(s.port);
    cfg.smtp_starttls = 2;
    result res[2] = {{0}};
    run_batch(&cfg, 1, 2, res, NULL);
    json_t *all = maildir_dump(dir);
    server_stop(&s);
    for (int i = 0; i < 2; i++)
        assert_int_equal(res[i].status, MAIL_TEMPFAIL);
    assert_int_equal(json_array_size(all), 0); /* nothing went out in the clear */
    json_decref(all);
}

/* Certificates are checked against OpenSSL's store (SSL_CERT_FILE here),
 * the name by libesmtp. Several sessions: with libesmtp 1.1.0's own context
 * the second crashed, and with TLS 1.3 one in a few quit after EHLO. */
static void test_starttls(void **state)
{
    char cmd[1024], dir[128], cert[128], key[128], other[128];
    snprintf(dir, sizeof(dir), "%s/tlsmail", tmpdir);
    snprintf(cert, sizeof(cert), "%s/cert.pem", tmpdir);
    snprintf(key, sizeof(key), "%s/key.pem", tmpdir);
    snprintf(other, sizeof(other), "%s/other.pem", tmpdir);
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost "
             "-addext subjectAltName=DNS:localhost -keyout %s -out %s 2>/dev/null",
             key, cert);
    if (system(cmd) != 0)
        skip();
    /* A CA that did not sign the server's certificate. */
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=other "
             "-keyout %s.key -out %s 2>/dev/null",
             other, other);
    assert_int_equal(system(cmd), 0);
    server s = server_start("tls", cert, key, dir);
    epos_config cfg = config_for(s.port);
    cfg.smtp_host = "localhost";
    cfg.smtp_starttls = 1;
    setenv("SSL_CERT_FILE", other, 1);
    result untrusted[2] = {{0}};
    run_batch(&cfg, 1, 2, untrusted, NULL);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(untrusted[i].status, MAIL_TEMPFAIL);
        assert_string_equal(untrusted[i].detail, "smtp: server certificate not trusted");
    }

    setenv("SSL_CERT_FILE", cert, 1);
    cfg.smtp_starttls = 2;
    result trusted[2] = {{0}};
    run_batch(&cfg, 1, 2, trusted, NULL);
    result again[2] = {{0}};
    run_batch(&cfg, 1, 2, again, NULL);
    unsetenv("SSL_CERT_FILE");
    json_t *all = maildir_dump(dir);
    server_stop(&s);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(trusted[i].status, MAIL_SENT);
        assert_int_equal(again[i].status, MAIL_SENT);
    }
    assert_int_equal(json_array_size(all), 4);
    json_decref(all);
}

static void test_refusals_and_close(void **state)
{
    uv_loop_t loop;
    int closed = 0;
    epos_config cfg = config_for(port_unused());
    assert_int_equal(uv_loop_init(&loop), 0);
    cfg.mail_from = "no address here";
    assert_null(mailer_create(&loop, &cfg, 1));
    cfg.mail_from = "ЭПОС <noreply@epos.local>";
    mailer_t *m = mailer_create(&loop, &cfg, 3);
    assert_non_null(m);

    char mid[80], subject[200];
    mail_t mail;
    result res[30] = {{0}};
    mail_fill(&mail, mid, sizeof(mid), subject, sizeof(subject), 0);
    mail.to_addr = "maria@example.org\r\nRCPT TO:<x@y>";
    assert_int_equal(mailer_send(m, &mail, on_done, &res[0]), -EINVAL);
    mail.to_addr = "maria@example.org";
    mail.message_id = NULL;
    assert_int_equal(mailer_send(m, &mail, on_done, &res[0]), -EINVAL);
    mail.message_id = mid;
    mail.from = "Учитель <bad address>";
    assert_int_equal(mailer_send(m, &mail, on_done, &res[0]), -EINVAL);
    mail.from = "Учитель <teacher@epos.local>";
    for (int i = 0; i < 30; i++)
        assert_int_equal(mailer_send(m, &mail, on_done, &res[i]), 0);
    /* Closed in the same loop turn: nothing reached a thread yet. */
    mailer_close(m, on_closed, &closed);
    assert_int_equal(mailer_send(m, &mail, on_done, &res[0]), -ESHUTDOWN);
    assert_int_equal(res[0].calls, 0); /* never called back from inside a call */
    uv_run(&loop, UV_RUN_DEFAULT);
    for (int i = 0; i < 30; i++) {
        assert_int_equal(res[i].calls, 1);
        assert_int_equal(res[i].status, MAIL_TEMPFAIL);
        assert_string_equal(res[i].detail, "mailer closing");
    }
    assert_int_equal(closed, 1);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* Throughput against Postfix's smtp-sink: measured and printed, not asserted. */
static void sink_run(int port, int threads, int n)
{
    epos_config cfg = config_for(port);
    result *res = calloc((size_t)n, sizeof(*res));
    mailer_stats st;
    struct timeval t0, t1;
    gettimeofday(&t0, NULL);
    run_batch(&cfg, threads, n, res, &st);
    gettimeofday(&t1, NULL);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_usec - t0.tv_usec) / 1e6;
    print_message("smtp-sink: %d mails, %d threads: %.3f s, %.0f mails/s, %llu sessions\n", n,
                  threads, s, n / s, (unsigned long long)st.sessions);
    for (int i = 0; i < n; i++)
        assert_int_equal(res[i].status, MAIL_SENT);
    free(res);
}

static void test_throughput_smtp_sink(void **state)
{
    if (access(SMTP_SINK, X_OK) != 0)
        skip();
    int port = port_unused();
    char addr[32];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        execl(SMTP_SINK, SMTP_SINK, "-u", "nobody", addr, "256", (char *)NULL);
        _exit(127);
    }
    /* smtp-sink tells nobody when it listens: probe until it accepts. */
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    for (int tries = 0;; tries++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        int ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
        close(fd);
        if (ok)
            break;
        assert_true(tries < 500);
        usleep(10000);
    }
    sink_run(port, 1, 2000);
    sink_run(port, 4, 5000);
    sink_run(port, 8, 5000);
    int st;
    kill(pid, SIGTERM);
    waitpid(pid, &st, 0);
}

static int setup(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_mailer.XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(script, sizeof(script), "%s/smtpd.py", tmpdir);
    FILE *f = fopen(script, "w");
    if (!f)
        return -1;
    fputs(smtpd_py, f);
    fclose(f);
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_delivers_russian_mail_over_shared_sessions),
        cmocka_unit_test(test_server_down_is_temporary),
        cmocka_unit_test(test_rcpt_550_is_permanent),
        cmocka_unit_test(test_rcpt_451_is_temporary),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_starttls_required_but_not_offered),
        cmocka_unit_test(test_starttls),
        cmocka_unit_test(test_refusals_and_close),
        cmocka_unit_test(test_throughput_smtp_sink),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
