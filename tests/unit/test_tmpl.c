/* test_tmpl.c -- the mail template language: placeholders, filters, Russian helpers, blocks on
 * lines of their own, and every syntax error named with its line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "epos/tmpl.h"

/* Compile src, render it with the JSON text data, compare with want. */
static void expect_render(const char *src, const char *data, const char *want)
{
    char err[200];
    tmpl *t = tmpl_compile(src, strlen(src), err, sizeof(err));
    if (!t)
        fail_msg("%s: %s", src, err);
    json_t *d = data ? json_loads(data, 0, NULL) : NULL;
    assert_true(!data || d);
    char *out = tmpl_render(t, d);
    assert_non_null(out);
    if (strcmp(out, want) != 0)
        fail_msg("%s\n got: «%s»\nwant: «%s»", src, out, want);
    free(out);
    json_decref(d);
    tmpl_free(t);
}

static void expect_error(const char *src, const char *want)
{
    char err[200];
    tmpl *t = tmpl_compile(src, strlen(src), err, sizeof(err));
    if (t)
        fail_msg("%s compiled", src);
    if (!strstr(err, want))
        fail_msg("%s: «%s», expected «%s»", src, err, want);
}

static void test_placeholders_and_filters(void **state)
{
    (void)state;
    expect_render("Здравствуйте, {{name|short}}!", "{\"name\":\"Михайлова Ольга Никитична\"}",
                  "Здравствуйте, Ольга Никитична!");
    expect_render("от {{who|gen}}, {{who|dat}}", "{\"who\":\"Михайлова Ольга Никитична\"}",
                  "от Михайловой Ольги Никитичны, Михайловой Ольге Никитичне");
    expect_render("{{a.b}} {{n}} {{x}}{{nul}}|{{f}}", "{\"a\":{\"b\":\"в\"},\"n\":42,\"nul\":null}",
                  "в 42 |");
    expect_render("{{d|date}} {{t|daytime}} {{bad|date}}",
                  "{\"d\":\"2026-12-05\",\"t\":\"2026-12-05 08:03\",\"bad\":\"завтра\"}",
                  "05.12.2026 05.12 08:03 завтра");
    expect_render("{{l|count}} {{s|count}}", "{\"l\":[1,2,3],\"s\":\"7\"}", "3 7");
    expect_render("{{x}}", NULL, "");
    expect_render("", "{}", "");
    /* Data never becomes template syntax. */
    expect_render("{{x}}", "{\"x\":\"{{y}}\",\"y\":\"нет\"}", "{{y}}");
}

static void test_russian_helpers(void **state)
{
    (void)state;
    const char *src = "{{c}} {{gender c|отмечен|отмечена|: отметка}} {{gender c|пришёл|пришла}}";
    expect_render(src, "{\"c\":\"Петрова Маша Ивановна\"}",
                  "Петрова Маша Ивановна отмечена пришла");
    expect_render(src, "{\"c\":\"Петров Петя Иванович\"}", "Петров Петя Иванович отмечен пришёл");
    expect_render(src, "{\"c\":\"Ким Саша\"}", "Ким Саша : отметка пришёл");
    expect_render(src, "{\"c\":\"Ким Саша\",\"c_gender\":\"f\"}", "Ким Саша отмечена пришла");
    const char *pl = "{{n}} {{plural n|сообщение|сообщения|сообщений}}";
    expect_render(pl, "{\"n\":1}", "1 сообщение");
    expect_render(pl, "{\"n\":3}", "3 сообщения");
    expect_render(pl, "{\"n\":11}", "11 сообщений");
    expect_render(pl, "{\"n\":21}", "21 сообщение");
    expect_render("{{plural l|урок|уроки|уроков}}", "{\"l\":[2,3]}", "уроки");
    expect_render("{{period a b}}", "{\"a\":\"2026-12-05\",\"b\":\"2026-12-05\"}", "05.12.2026");
    expect_render("{{period a b}}", "{\"a\":\"2026-12-05\",\"b\":\"2026-12-07\"}",
                  "с 05.12.2026 по 07.12.2026");
    expect_render("{{join l|, }}.", "{\"l\":[\"Аня\",\"Боря\",3]}", "Аня, Боря, 3.");
    expect_render("{{join l|, }}", "{\"l\":[]}", "");
}

static void test_blocks_on_their_own_lines(void **state)
{
    (void)state;
    const char *src = "Чаты:\n"
                      "{{#each chats}}\n"
                      "  {{#if direct}}\n"
                      "  Личные от {{other|gen}}:\n"
                      "  {{else}}\n"
                      "  Чат «{{title}}»:\n"
                      "  {{/if}}\n"
                      "{{#each messages}}\n"
                      "    {{sender}}: {{text}}{{#if cut}}…{{/if}} ({{url}})\n"
                      "{{/each}}\n"
                      "{{/each}}\n"
                      "{{! the end }}\n"
                      "Конец\n";
    expect_render(src,
                  "{\"url\":\"u\",\"chats\":[{\"direct\":true,\"other\":\"Иванов Иван Иванович\","
                  "\"messages\":[{\"sender\":\"Иванов Иван Иванович\",\"text\":\"раз\"}]},"
                  "{\"direct\":false,\"title\":\"5Б\",\"messages\":[{\"sender\":\"Я\","
                  "\"text\":\"два\",\"cut\":true},{\"sender\":\"Ты\",\"text\":\"три\"}]}]}",
                  "Чаты:\n"
                  "  Личные от Иванова Ивана Ивановича:\n"
                  "    Иванов Иван Иванович: раз (u)\n"
                  "  Чат «5Б»:\n"
                  "    Я: два… (u)\n"
                  "    Ты: три (u)\n"
                  "Конец\n");
    expect_render("{{#unless a}}нет{{else}}да{{/unless}}", "{\"a\":0}", "нет");
    expect_render("{{#if k=news}}Новость{{else}}Событие{{/if}}", "{\"k\":\"news\"}", "Новость");
    expect_render("{{#if k=news}}Новость{{else}}Событие{{/if}}", "{\"k\":\"event\"}", "Событие");
    expect_render(
        "{{#if female c}}она{{/if}}{{#if male c}}он{{/if}}{{#unless known c}}?{{/unless}}",
        "{\"c\":\"Лебедева Ольга\"}", "она");
    expect_render("{{#if a}}x{{/if}}{{#if b}}y{{/if}}{{#if c}}z{{/if}}{{#if d}}w{{/if}}",
                  "{\"a\":[],\"b\":\"\",\"c\":false,\"d\":[0]}", "w");
    expect_render("a\r\n{{#if x}}\r\nb\r\n{{/if}}\r\nc", "{\"x\":1}", "a\r\nb\r\nc");
}

static void test_syntax_errors_name_the_line(void **state)
{
    (void)state;
    expect_error("a\n{{x", "line 2: «{{» without «}}»");
    expect_error("{{#if x}}a", "not closed");
    expect_error("{{#if x}}a{{/each}}", "not closed");
    expect_error("a\n\n{{/if}}", "line 3: «/if» without its opening");
    expect_error("{{else}}", "without its opening");
    expect_error("{{x|upper}}", "unknown filter");
    expect_error("{{gender x|a}}", "forms");
    expect_error("{{plural x|a|b}}", "forms");
    expect_error("{{join x}}", "forms");
    expect_error("{{#while x}}{{/while}}", "unknown block");
    expect_error("{{#if}}{{/if}}", "needs");
    expect_error("{{two words}}", "not a path");
    expect_error("{{period a}}", "two paths");
    char src[2000] = "";
    for (int i = 0; i < 20; i++)
        strcat(src, "{{#if a}}");
    expect_error(src, "too deep");
    assert_null(tmpl_compile(NULL, 0, NULL, 0));
    assert_null(tmpl_render(NULL, NULL));
    tmpl_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_placeholders_and_filters),
        cmocka_unit_test(test_russian_helpers),
        cmocka_unit_test(test_blocks_on_their_own_lines),
        cmocka_unit_test(test_syntax_errors_name_the_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
