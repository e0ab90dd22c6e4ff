/* log.c -- one-line logs to stderr: time, level, process name, message. */
#include "epos/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *log_ident = "epos";
static int log_min_level = LOG_LEVEL_INFO;

static const char *const log_level_names[] = {"debug", "info", "warn", "error"};

void log_init(const char *ident, int level)
{
    if (ident)
        log_ident = ident;
    if (level >= LOG_LEVEL_DEBUG && level <= LOG_LEVEL_ERROR)
        log_min_level = level;
}

int log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (name && strcmp(name, log_level_names[i]) == 0)
            return i;
    return -1;
}

int log_enabled(int level)
{
    return level >= log_min_level;
}

void log_write(int level, const char *fmt, ...)
{
    if (level < log_min_level)
        return;
    char line[2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s %s[%d] ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (int)(tv.tv_usec / 1000), log_level_names[level], log_ident, (int)getpid());
    /* A cut prefix (a very long ident) counts what fits, not what it wanted. */
    if (n < 0)
        n = 0;
    else if ((size_t)n > sizeof(line) - 2)
        n = (int)(sizeof(line) - 2);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    /* One write per line so lines of concurrent processes do not interleave. */
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
