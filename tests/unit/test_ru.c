/* test_ru.c -- Russian forms: a person's gender from the name, names in the genitive and
 * dative, and the plural after a number, on a table of real names of both genders. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "epos/ru.h"

#define M RU_GENDER_MALE
#define F RU_GENDER_FEMALE
#define U RU_GENDER_UNKNOWN

/* Name as written, its gender, genitive («от кого»), dative («кому»). */
static const struct {
    const char *nom;
    ru_gender g;
    const char *gen, *dat;
} names[] = {
    {"Михайлова Ольга Никитична", F, "Михайловой Ольги Никитичны", "Михайловой Ольге Никитичне"},
    {"Михайлов Олег Никитич", M, "Михайлова Олега Никитича", "Михайлову Олегу Никитичу"},
    {"Иванов Иван Иванович", M, "Иванова Ивана Ивановича", "Иванову Ивану Ивановичу"},
    {"Иванова Мария Ивановна", F, "Ивановой Марии Ивановны", "Ивановой Марии Ивановне"},
    {"Соловьёв Дмитрий Юрьевич", M, "Соловьёва Дмитрия Юрьевича", "Соловьёву Дмитрию Юрьевичу"},
    {"Соловьёва Дарья Юрьевна", F, "Соловьёвой Дарьи Юрьевны", "Соловьёвой Дарье Юрьевне"},
    {"Никитин Никита Ильич", M, "Никитина Никиты Ильича", "Никитину Никите Ильичу"},
    {"Никитина Наталья Ильинична", F, "Никитиной Натальи Ильиничны", "Никитиной Наталье Ильиничне"},
    {"Вишневский Андрей Сергеевич", M, "Вишневского Андрея Сергеевича",
     "Вишневскому Андрею Сергеевичу"},
    {"Вишневская Анна Сергеевна", F, "Вишневской Анны Сергеевны", "Вишневской Анне Сергеевне"},
    {"Белецкий Илья Петрович", M, "Белецкого Ильи Петровича", "Белецкому Илье Петровичу"},
    {"Шевченко Тарас Григорьевич", M, "Шевченко Тараса Григорьевича",
     "Шевченко Тарасу Григорьевичу"},
    {"Бондаренко Ксения Олеговна", F, "Бондаренко Ксении Олеговны", "Бондаренко Ксении Олеговне"},
    {"Черных Лев Павлович", M, "Черных Льва Павловича", "Черных Льву Павловичу"},
    {"Седых Любовь Павловна", F, "Седых Любови Павловны", "Седых Любови Павловне"},
    {"Толстой Пётр Андреевич", M, "Толстого Петра Андреевича", "Толстому Петру Андреевичу"},
    {"Толстая Ольга Петровна", F, "Толстой Ольги Петровны", "Толстой Ольге Петровне"},
    {"Гоголь Павел Игоревич", M, "Гоголя Павла Игоревича", "Гоголю Павлу Игоревичу"},
    {"Гоголь Екатерина Павловна", F, "Гоголь Екатерины Павловны", "Гоголь Екатерине Павловне"},
    {"Шмидт Игорь Карлович", M, "Шмидта Игоря Карловича", "Шмидту Игорю Карловичу"},
    {"Шмидт Юлия Карловна", F, "Шмидт Юлии Карловны", "Шмидт Юлии Карловне"},
    {"Берия Георгий Вадимович", M, "Берии Георгия Вадимовича", "Берии Георгию Вадимовичу"},
    {"Сковорода Злата Кирилловна", F, "Сковороды Златы Кирилловны", "Сковороде Злате Кирилловне"},
    {"Цой Виктор Робертович", M, "Цоя Виктора Робертовича", "Цою Виктору Робертовичу"},
    {"Гайдай Леонид Иович", M, "Гайдая Леонида Иовича", "Гайдаю Леониду Иовичу"},
    {"Римский-Корсаков Николай Андреевич", M, "Римского-Корсакова Николая Андреевича",
     "Римскому-Корсакову Николаю Андреевичу"},
    {"Салтыкова-Щедрина Ева Михайловна", F, "Салтыковой-Щедриной Евы Михайловны",
     "Салтыковой-Щедриной Еве Михайловне"},
    {"Горький Максим Алексеевич", M, "Горького Максима Алексеевича",
     "Горькому Максиму Алексеевичу"},
    {"Крайний Савва Ильич", M, "Крайнего Саввы Ильича", "Крайнему Савве Ильичу"},
    {"Дюбуа Анри Жанович", M, "Дюбуа Анри Жановича", "Дюбуа Анри Жановичу"},
    {"Алиев Рашид Гейдар оглы", M, "Алиева Рашида Гейдар оглы", "Алиеву Рашиду Гейдар оглы"},
    {"Мамедова Айгюль Гейдар кызы", F, "Мамедовой Айгюли Гейдар кызы",
     "Мамедовой Айгюли Гейдар кызы"},
    {"Кудымкарова Ульяна Вячеславовна", F, "Кудымкаровой Ульяны Вячеславовны",
     "Кудымкаровой Ульяне Вячеславовне"},
    {"Королёв Фёдор Артёмович", M, "Королёва Фёдора Артёмовича", "Королёву Фёдору Артёмовичу"},
    {"Лебедева Ольга", F, "Лебедевой Ольги", "Лебедевой Ольге"},
    {"Петров Ваня", M, "Петрова Вани", "Петрову Ване"},
    {"Маша", F, "Маши", "Маше"},
    {"Smith John", U, "Smith John", "Smith John"},
    {"Петрова  Саша", F, "Петровой Саши", "Петровой Саше"},
};

static void test_gender_and_cases_of_real_names(void **state)
{
    (void)state;
    char out[200];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (ru_name_gender(names[i].nom) != names[i].g)
            fail_msg("gender of %s: %d, expected %d", names[i].nom, ru_name_gender(names[i].nom),
                     names[i].g);
        assert_true(
            ru_name_decline(names[i].nom, RU_GENDER_UNKNOWN, RU_CASE_GEN, out, sizeof(out)) >= 0);
        if (strcmp(out, names[i].gen) != 0)
            fail_msg("genitive of %s: «%s», expected «%s»", names[i].nom, out, names[i].gen);
        assert_true(
            ru_name_decline(names[i].nom, RU_GENDER_UNKNOWN, RU_CASE_DAT, out, sizeof(out)) >= 0);
        if (strcmp(out, names[i].dat) != 0)
            fail_msg("dative of %s: «%s», expected «%s»", names[i].nom, out, names[i].dat);
    }
}

static void test_ambiguous_names_stay_as_written(void **state)
{
    (void)state;
    char out[100];
    assert_int_equal(ru_name_gender("Саша"), RU_GENDER_UNKNOWN);
    assert_int_equal(ru_name_gender("Женя Ли"), RU_GENDER_UNKNOWN);
    assert_int_equal(ru_name_gender(""), RU_GENDER_UNKNOWN);
    assert_int_equal(ru_name_gender(NULL), RU_GENDER_UNKNOWN);
    ru_name_decline("Ким Саша", RU_GENDER_UNKNOWN, RU_CASE_GEN, out, sizeof(out));
    assert_string_equal(out, "Ким Саша");
    /* A gender given from elsewhere (a field) decides. */
    ru_name_decline("Ким Саша", RU_GENDER_FEMALE, RU_CASE_GEN, out, sizeof(out));
    assert_string_equal(out, "Ким Саши");
    ru_name_decline("Ким Саша", RU_GENDER_MALE, RU_CASE_DAT, out, sizeof(out));
    assert_string_equal(out, "Киму Саше");
    ru_name_decline("  Иванова   Анна  ", RU_GENDER_UNKNOWN, RU_CASE_NOM, out, sizeof(out));
    assert_string_equal(out, "Иванова Анна");
}

static void test_decline_never_overflows(void **state)
{
    (void)state;
    const char *name = "Михайлова Ольга Никитична";
    char out[64];
    int full = ru_name_decline(name, RU_GENDER_UNKNOWN, RU_CASE_GEN, out, sizeof(out));
    assert_true(full > 0);
    for (size_t len = 0; len <= (size_t)full; len++) {
        char small[64];
        memset(small, 'x', sizeof(small));
        assert_int_equal(ru_name_decline(name, RU_GENDER_UNKNOWN, RU_CASE_GEN, small, len), -1);
        if (len)
            assert_int_equal(small[0], '\0');
        assert_int_equal(small[len < sizeof(small) ? len : 0] == 'x' || len == 0, 1);
    }
    assert_int_equal(ru_name_decline(NULL, RU_GENDER_MALE, RU_CASE_GEN, out, sizeof(out)), -1);
    assert_int_equal(ru_name_decline(name, RU_GENDER_MALE, RU_CASE_GEN, NULL, 0), -1);
}

static void test_short_name_for_a_greeting(void **state)
{
    (void)state;
    char out[100];
    assert_int_equal(ru_name_short("Михайлова Ольга Никитична", out, sizeof(out)),
                     (int)strlen("Ольга Никитична"));
    assert_string_equal(out, "Ольга Никитична");
    ru_name_short("Проверочный Сотрудник", out, sizeof(out));
    assert_string_equal(out, "Проверочный Сотрудник");
    ru_name_short("Алиев Рашид Гейдар оглы", out, sizeof(out));
    assert_string_equal(out, "Рашид Гейдар оглы");
    assert_int_equal(ru_name_short("Михайлова Ольга Никитична", out, 10), -1);
}

static void test_plural_forms(void **state)
{
    (void)state;
    static const struct {
        long long n;
        int form;
    } t[] = {{0, 2},   {1, 0},   {2, 1},    {4, 1},  {5, 2},  {10, 2},     {11, 2},  {12, 2},
             {14, 2},  {15, 2},  {20, 2},   {21, 0}, {22, 1}, {25, 2},     {101, 0}, {111, 2},
             {112, 2}, {121, 0}, {1004, 1}, {-1, 0}, {-3, 1}, {1000011, 2}};
    const char *word[3] = {"сообщение", "сообщения", "сообщений"};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (ru_plural(t[i].n) != t[i].form)
            fail_msg("%lld %s: got form %d", t[i].n, word[t[i].form], ru_plural(t[i].n));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gender_and_cases_of_real_names),
        cmocka_unit_test(test_ambiguous_names_stay_as_written),
        cmocka_unit_test(test_decline_never_overflows),
        cmocka_unit_test(test_short_name_for_a_greeting),
        cmocka_unit_test(test_plural_forms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
