/* test_mailtext.c -- every mail template of workers/templates compiles and renders the exact
 * Russian text of its kind, for a boy and a girl, a man and a woman. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "workers/mailtext.c"

static void expect_mail(const char *name, const char *data, const char *subject, const char *body)
{
    json_t *d = json_loads(data, 0, NULL);
    char *s, *b;
    assert_non_null(d);
    assert_int_equal(mailtext_render(name, d, "http://epos.test/", &s, &b), 0);
    if (strcmp(s, subject) != 0)
        fail_msg("%s subject\n got: «%s»\nwant: «%s»", name, s, subject);
    if (strcmp(b, body) != 0)
        fail_msg("%s body\n got: «%s»\nwant: «%s»", name, b, body);
    free(s);
    free(b);
    json_decref(d);
}

static void test_every_template_compiles(void **state)
{
    (void)state;
    char err[300];
    assert_int_equal(mailtext_init(err, sizeof(err)), 0);
    assert_true(mail_template_count >= 10);
    char *s, *b;
    assert_int_equal(mailtext_render("no.such", NULL, NULL, &s, &b), -ENOENT);
    assert_null(s);
    assert_null(b);
}

static void test_absence_unexplained_by_gender(void **state)
{
    (void)state;
    expect_mail(
        "absence.unexplained",
        "{\"child_name\":\"Петрова Мария Ивановна\",\"group_name\":\"Солнышко\",\"date\":\"2026-12-05\"}",
        "Петрова Мария Ивановна: отсутствие без уведомления 05.12.2026",
        "Здравствуйте!\n\n"
        "05.12.2026 Петрова Мария Ивановна отмечена в табеле «Солнышко» отсутствующей, а "
        "уведомления об отсутствии от родителей нет.\n\n"
        "Если ребёнок отсутствует по уважительной причине, подайте уведомление в ЭПОС, "
        "раздел «Пропуски».\n");
    expect_mail(
        "absence.unexplained",
        "{\"child_name\":\"Петров Пётр Иванович\",\"group_name\":\"Солнышко\",\"date\":\"2026-12-05\"}",
        "Петров Пётр Иванович: отсутствие без уведомления 05.12.2026",
        "Здравствуйте!\n\n"
        "05.12.2026 Петров Пётр Иванович отмечен в табеле «Солнышко» отсутствующим, а "
        "уведомления об отсутствии от родителей нет.\n\n"
        "Если ребёнок отсутствует по уважительной причине, подайте уведомление в ЭПОС, "
        "раздел «Пропуски».\n");
    expect_mail("absence.unexplained",
                "{\"child_name\":\"Ким Саша\",\"group_name\":\"Солнышко\",\"date\":\"2026-12-05\"}",
                "Ким Саша: отсутствие без уведомления 05.12.2026",
                "Здравствуйте!\n\n"
                "05.12.2026 в табеле «Солнышко» у ребёнка Ким Саша стоит отметка «отсутствует», а "
                "уведомления об отсутствии от родителей нет.\n\n"
                "Если ребёнок отсутствует по уважительной причине, подайте уведомление в ЭПОС, "
                "раздел «Пропуски».\n");
}

static void test_absence_corrected_by_gender(void **state)
{
    (void)state;
    expect_mail("absence.corrected",
                "{\"child_name\":\"Петрова Мария Ивановна\",\"date\":\"2026-12-05\","
                "\"by_name\":\"Михайлов Олег Никитич\",\"school\":false}",
                "Петрова Мария Ивановна: отмечена присутствующей 05.12.2026",
                "Здравствуйте!\n\n"
                "Вы сообщали, что Петрова Мария Ивановна будет отсутствовать 05.12.2026. "
                "Воспитатель Михайлов Олег Никитич отметил, что она пришла.\n"
                "Отметка в табеле исправлена.\n");
    expect_mail("absence.corrected",
                "{\"child_name\":\"Петров Пётр Иванович\",\"date\":\"2026-12-05\","
                "\"by_name\":\"Михайлова Ольга Никитична\",\"school\":true}",
                "Петров Пётр Иванович: отмечен присутствующим 05.12.2026",
                "Здравствуйте!\n\n"
                "Вы сообщали, что Петров Пётр Иванович будет отсутствовать 05.12.2026. "
                "Учитель Михайлова Ольга Никитична отметила, что он пришёл.\n"
                "Отметка в табеле исправлена.\n");
}

static void test_absence_notice_and_applied(void **state)
{
    (void)state;
    expect_mail("absence.notice",
                "{\"child_name\":\"Петров Пётр Иванович\",\"parent_name\":\"Михайлова Ольга Никитична\","
                "\"group_name\":\"5Б\",\"from\":\"2026-12-05\",\"to\":\"2026-12-07\",\"lessons\":null,"
                "\"reason\":\"Простуда\"}",
                "Уведомление об отсутствии: Петров Пётр Иванович, с 05.12.2026 по 07.12.2026",
                "Здравствуйте!\n\n"
                "Уведомление об отсутствии от Михайловой Ольги Никитичны: Петров Пётр Иванович "
                "(«5Б») будет отсутствовать с 05.12.2026 по 07.12.2026.\n"
                "Причина: Простуда\n\n"
                "Отметка уже внесена в табель.\n");
    expect_mail("absence.notice",
                "{\"child_name\":\"Петрова Мария Ивановна\",\"parent_name\":\"Петров Иван Сергеевич\","
                "\"group_name\":\"5Б\",\"from\":\"2026-12-05\",\"to\":\"2026-12-05\",\"lessons\":[2,3],"
                "\"reason\":null}",
                "Уведомление об отсутствии: Петрова Мария Ивановна, 05.12.2026, уроки 2, 3",
                "Здравствуйте!\n\n"
                "Уведомление об отсутствии от Петрова Ивана Сергеевича: Петрова Мария Ивановна "
                "(«5Б») будет отсутствовать 05.12.2026 на уроках 2, 3.\n\n"
                "Отметка уже внесена в табель.\n");
    expect_mail(
        "absence.applied",
        "{\"child_name\":\"Петрова Мария Ивановна\",\"from\":\"2026-12-05\",\"to\":\"2026-12-05\","
        "\"lessons\":[4],\"reason\":\"Врач\"}",
        "Заявление об отсутствии получено: Петрова Мария Ивановна, 05.12.2026, урок 4",
        "Здравствуйте!\n\n"
        "Ваше заявление об отсутствии Петровой Марии Ивановны (05.12.2026, урок 4) получено "
        "и отмечено в табеле.\n"
        "Причина: Врач\n");
}

static void test_absence_kept_for_day_off(void **state)
{
    (void)state;
    expect_mail(
        "absence.kept",
        "{\"child_name\":\"Петрова Мария Ивановна\",\"from\":\"2026-12-12\",\"to\":\"2026-12-13\","
        "\"lessons\":null,\"reason\":\"Болеет\",\"kept\":true,\"day_off\":true}",
        "Заявление об отсутствии сохранено: Петрова Мария Ивановна, с 12.12.2026 по 13.12.2026",
        "Здравствуйте!\n\n"
        "Ваше заявление об отсутствии Петровой Марии Ивановны (с 12.12.2026 по 13.12.2026) получено "
        "и сохранено.\n"
        "В эти дни группа не работает (выходной по календарю организации): отметка в табель не "
        "вносится. Если день станет рабочим, отсутствие будет отмечено.\n"
        "Причина: Болеет\n");
    expect_mail(
        "absence.kept",
        "{\"child_name\":\"Петров Иван Сергеевич\",\"from\":\"2026-12-07\",\"to\":\"2026-12-07\","
        "\"lessons\":null,\"reason\":\"\",\"kept\":true,\"day_off\":false}",
        "Заявление об отсутствии сохранено: Петров Иван Сергеевич, 07.12.2026",
        "Здравствуйте!\n\n"
        "Ваше заявление об отсутствии Петрова Ивана Сергеевича (07.12.2026) получено и сохранено.\n"
        "Отметка в табель не внесена: ребёнок уже отмечен педагогом или не зачислен в группу.\n");
}

static void test_reminders_with_plurals(void **state)
{
    (void)state;
    expect_mail(
        "timesheet.reminder",
        "{\"group\":\"Солнышко\",\"date\":\"2026-12-05\",\"deadline\":\"18:00\","
        "\"names\":[\"Петров Пётр Иванович\"]}",
        "Табель «Солнышко» за 05.12.2026 не заполнен",
        "Здравствуйте!\n\n"
        "Срок сдачи табеля (18:00) прошёл, а в табеле «Солнышко» за 05.12.2026 не отмечен 1 "
        "ребёнок: Петров Пётр Иванович.\n\n"
        "Пожалуйста, заполните табель в ЭПОС.\n");
    expect_mail(
        "timesheet.reminder",
        "{\"group\":\"Солнышко\",\"date\":\"2026-12-05\",\"deadline\":\"18:00\","
        "\"names\":[\"А\",\"Б\",\"В\",\"Г\",\"Д\"]}",
        "Табель «Солнышко» за 05.12.2026 не заполнен",
        "Здравствуйте!\n\n"
        "Срок сдачи табеля (18:00) прошёл, а в табеле «Солнышко» за 05.12.2026 не отмечено 5 "
        "детей: А, Б, В, Г, Д.\n\n"
        "Пожалуйста, заполните табель в ЭПОС.\n");
    expect_mail("timesheet.overdue",
                "{\"date\":\"2026-12-05\",\"deadline\":\"18:00\",\"groups\":[{\"name\":\"Зайка\","
                "\"unmarked\":2},{\"name\":\"Солнышко\",\"unmarked\":11},{\"name\":\"Ёлочка\","
                "\"unmarked\":21}]}",
                "Не заполнены табели за 05.12.2026: 3",
                "Здравствуйте!\n\n"
                "Срок сдачи табеля (18:00) прошёл. За 05.12.2026 не заполнены 3 табеля:\n\n"
                "— Зайка: не отмечены 2 ребёнка\n"
                "— Солнышко: не отмечено 11 детей\n"
                "— Ёлочка: не отмечен 21 ребёнок\n");
}

static void test_chat_digest_from_genitive(void **state)
{
    (void)state;
    expect_mail(
        "chat.digest",
        "{\"count\":4,\"chats\":[{\"direct\":true,\"other\":\"Михайлова Ольга Никитична\","
        "\"total\":1,\"more\":false,\"shown\":1,\"messages\":[{\"sender\":\"Михайлова Ольга "
        "Никитична\",\"at\":\"2026-12-05 14:03\",\"text\":\"Добрый день\",\"cut\":false}]},"
        "{\"direct\":true,\"other\":\"Иванов Иван Иванович\",\"total\":2,\"more\":false,"
        "\"shown\":2,\"messages\":[{\"sender\":\"Иванов Иван Иванович\",\"at\":"
        "\"2026-12-05 15:00\",\"text\":\"Раз\"},{\"sender\":\"Иванов Иван Иванович\","
        "\"at\":\"2026-12-05 15:01\",\"text\":\"Два\",\"cut\":true}]},{\"direct\":false,"
        "\"title\":\"5Б\",\"total\":25,\"more\":true,\"shown\":1,\"messages\":[{\"sender\":"
        "\"Лебедева Анна\",\"at\":\"2026-12-06 09:30\",\"text\":\"Всем привет\"}]}]}",
        "Непрочитанные сообщения в ЭПОС",
        "Здравствуйте!\n\n"
        "У вас 4 непрочитанных сообщения в ЭПОС.\n\n"
        "1 сообщение от Михайловой Ольги Никитичны:\n"
        "  Михайлова Ольга Никитична (05.12 14:03): Добрый день\n\n"
        "2 сообщения от Иванова Ивана Ивановича:\n"
        "  Иванов Иван Иванович (05.12 15:00): Раз\n"
        "  Иванов Иван Иванович (05.12 15:01): Два…\n\n"
        "Чат «5Б»: 25 сообщений (последние 1):\n"
        "  Лебедева Анна (06.12 09:30): Всем привет\n\n"
        "Прочитать и ответить: http://epos.test/\n");
}

static void test_news_and_credentials(void **state)
{
    (void)state;
    expect_mail(
        "news",
        "{\"kind\":\"news\",\"event_kind\":null,\"title\":\"Утренник\",\"body\":\"Приходите\","
        "\"event_date\":null,\"org\":\"Детский сад №1\",\"require_ack\":true}",
        "Новость: Утренник",
        "Здравствуйте!\n\nДетский сад №1 — Утренник\n\nПриходите\n\n"
        "Пожалуйста, подтвердите в ЭПОС, что вы ознакомлены.\n\n"
        "Открыть ленту ЭПОС: http://epos.test/\n");
    expect_mail("news",
                "{\"kind\":\"event\",\"event_kind\":\"test\",\"title\":\"Алгебра\",\"body\":\"\","
                "\"event_date\":\"2026-12-10\",\"org\":\"Школа\",\"require_ack\":false}",
                "Контрольная работа 10.12.2026: Алгебра",
                "Здравствуйте!\n\nШкола — Алгебра\n\nДата: 10.12.2026\n\n"
                "Открыть ленту ЭПОС: http://epos.test/\n");
    expect_mail("credentials",
                "{\"name\":\"Михайлова Ольга Никитична\",\"org\":\"Школа\",\"login\":\"olga\","
                "\"link\":\"http://epos.test/#/set-password?t=abc\",\"expires_at\":\"08.12.2026 "
                "10:00\"}",
                "Доступ к ЭПОС",
                "Здравствуйте, Ольга Никитична!\n\n"
                "Для вас создан доступ к ЭПОС (Школа).\n\n"
                "Логин: olga\n\n"
                "Чтобы войти, откройте ссылку и придумайте свой пароль:\n"
                "http://epos.test/#/set-password?t=abc\n\n"
                "Ссылка открывается один раз и действует до 08.12.2026 10:00. Если она не "
                "сработала,\nпопросите администратора выдать доступ заново. Если вы не ждали "
                "этого\nписьма, просто удалите его.\n");
    /* A subject is one line, whatever the data holds. */
    expect_mail("test", "{\"subject\":\"a\\nBcc: x@y\",\"text\":\"b\"}", "a Bcc: x@y", "b\n");
}

static int teardown(void **state)
{
    (void)state;
    mailtext_free();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_template_compiles),
        cmocka_unit_test(test_absence_unexplained_by_gender),
        cmocka_unit_test(test_absence_corrected_by_gender),
        cmocka_unit_test(test_absence_notice_and_applied),
        cmocka_unit_test(test_absence_kept_for_day_off),
        cmocka_unit_test(test_reminders_with_plurals),
        cmocka_unit_test(test_chat_digest_from_genitive),
        cmocka_unit_test(test_news_and_credentials),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
