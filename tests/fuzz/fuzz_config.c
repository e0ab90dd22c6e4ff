/* fuzz_config.c -- the config file parser (core/config.c): what it accepts
 * is in range and reads back the same after writing it out; what it refuses
 * gets one line naming the file and line. */
#include "core/config.c"

#include "fuzz_util.h"

#define FUZZ_NAME "fuzz.conf"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    /* The environment overrides the file: keep it out of the way. */
    char name[128];
    for (size_t i = 0; i < CONFIG_NKEYS; i++) {
        size_t n = (size_t)snprintf(name, sizeof(name), "EPOS_%s", config_keys[i].name);
        for (size_t j = 5; j < n; j++)
            name[j] = (char)toupper((unsigned char)name[j]);
        unsetenv(name);
    }
    return 0;
}

/* Parse text over the defaults; returns the parser's answer. */
static int parse_text(epos_config *cfg, const char *text, size_t len, char *err, size_t errlen)
{
    char dflt_err[256];
    FUZZ_CHECK(config_load(cfg, NULL, dflt_err, sizeof(dflt_err)) == 0);
    FILE *f = fmemopen((void *)text, len, "r");
    FUZZ_CHECK(f != NULL);
    err[0] = '\0';
    int rc = config_read_stream(cfg, f, FUZZ_NAME, err, errlen);
    fclose(f);
    return rc;
}

/* Every key as "name = value", strings quoted so their spaces survive. */
static char *config_write(const epos_config *cfg, size_t *len)
{
    char *out = NULL;
    FILE *f = open_memstream(&out, len);
    FUZZ_CHECK(f != NULL);
    const char *base = (const char *)cfg;
    for (size_t i = 0; i < CONFIG_NKEYS; i++) {
        const config_key *k = &config_keys[i];
        if (k->type == CFG_STR)
            fprintf(f, "%s = \"%s\"\n", k->name, *(char *const *)(base + k->offset));
        else
            fprintf(f, "%s = %d\n", k->name, *(const int *)(base + k->offset));
    }
    fclose(f);
    return out;
}

static void check_same(const epos_config *a, const epos_config *b)
{
    const char *pa = (const char *)a, *pb = (const char *)b;
    for (size_t i = 0; i < CONFIG_NKEYS; i++) {
        const config_key *k = &config_keys[i];
        if (k->type == CFG_STR) {
            FUZZ_CHECK(strcmp(*(char *const *)(pa + k->offset), *(char *const *)(pb + k->offset)) ==
                       0);
        } else {
            FUZZ_CHECK(*(const int *)(pa + k->offset) == *(const int *)(pb + k->offset));
        }
    }
}

static void check_accepted(const epos_config *cfg)
{
    const char *base = (const char *)cfg;
    for (size_t i = 0; i < CONFIG_NKEYS; i++) {
        const config_key *k = &config_keys[i];
        if (k->type == CFG_STR) {
            FUZZ_CHECK(*(char *const *)(base + k->offset) != NULL);
        } else {
            int v = *(const int *)(base + k->offset);
            FUZZ_CHECK(v >= k->min && v <= k->max);
        }
    }
    /* Written out and read back: the same configuration. */
    size_t len;
    char *text = config_write(cfg, &len), err[512];
    epos_config again;
    int rc = parse_text(&again, text, len, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "re-read failed: %s\n", err);
    FUZZ_CHECK(rc == 0);
    check_same(cfg, &again);
    config_free(&again);
    free(text);
}

static void check_refused(const char *err)
{
    /* One line that says where: "fuzz.conf:<line>: ...". */
    int line = 0, n = 0;
    FUZZ_CHECK(sscanf(err, FUZZ_NAME ":%d: %n", &line, &n) == 1 && n > 0 && line > 0);
    FUZZ_CHECK(err[n] != '\0');
    FUZZ_CHECK(strchr(err, '\n') == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    epos_config cfg;
    char err[512];
    if (size == 0)
        return 0; /* fmemopen wants at least one byte */
    if (parse_text(&cfg, (const char *)data, size, err, sizeof(err)) == 0)
        check_accepted(&cfg);
    else
        check_refused(err);
    config_free(&cfg);
    return 0;
}
