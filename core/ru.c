/* ru.c -- Russian forms of people's names and counted nouns (see include/epos/ru.h). */
#include "epos/ru.h"

#include <string.h>

#define RU_MAX_WORDS 8

typedef enum ru_role { RU_SURNAME, RU_GIVEN, RU_PATRONYMIC } ru_role;

typedef struct ru_word {
    const char *s;
    size_t n;
} ru_word;

/* Men's given names in -а/-я (a given name in -а/-я is otherwise a woman's). */
static const char *const ru_male_in_a[] = {
    "Никита", "Илья", "Савва", "Фома",  "Лука",   "Кузьма", "Данила", "Гаврила", "Ваня",
    "Петя",   "Миша", "Гоша",  "Дима",  "Паша",   "Лёша",   "Алёша",  "Серёжа",  "Коля",
    "Толя",   "Вова", "Юра",   "Гриша", "Лёва",   "Стёпа",  "Федя",   "Вася",    "Костя",
    "Митя",   "Витя", "Тёма",  "Боря",  "Гена",   "Лёня",   "Сеня",   "Игорёша", "Яша",
    "Ерёма",  "Фока", "Рома",  "Тима",  "Егорка", NULL};
/* Given names either may carry. */
static const char *const ru_either[] = {"Саша", "Женя", "Валя", "Слава", "Шура", "Сева", NULL};
/* Women's given names in -ь (one in -ь is otherwise a man's: Игорь). */
static const char *const ru_female_in_soft[] = {"Любовь", "Нинель", "Рахиль", "Эсфирь", "Юдифь",
                                                "Айгюль", "Асель",  "Гузель", "Руфь",   "Адель",
                                                "Гюль",   "Мираль", NULL};
/* Men's given names whose stem loses a vowel: Лев → Льва. */
static const struct {
    const char *nom, *stem;
} ru_fleeting[] = {{"Лев", "Льв"}, {"Павел", "Павл"}, {"Пётр", "Петр"}};
#define RU_NFLEETING (sizeof(ru_fleeting) / sizeof(ru_fleeting[0]))

static int ru_ends(const char *w, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && memcmp(w + n - k, suffix, k) == 0;
}

static int ru_ends_any(const char *w, size_t n, const char *const *suffixes)
{
    for (; *suffixes; suffixes++)
        if (ru_ends(w, n, *suffixes))
            return 1;
    return 0;
}

static int ru_is(const char *w, size_t n, const char *const *names)
{
    for (; *names; names++)
        if (strlen(*names) == n && memcmp(*names, w, n) == 0)
            return 1;
    return 0;
}

/* Does the word end in a Cyrillic letter (U+0400..U+04FF: lead 0xD0..0xD3)? */
static int ru_cyrillic(const char *w, size_t n)
{
    if (n < 2)
        return 0;
    unsigned char lead = (unsigned char)w[n - 2];
    return lead >= 0xD0 && lead <= 0xD3 && ((unsigned char)w[n - 1] & 0xC0) == 0x80;
}

/* The vowels after which a word does not decline (Шевченко, Гёте, Ли). */
static const char *const ru_open_vowels[] = {"о", "е", "ё", "и", "у", "ю", "э", "ы", NULL};
/* Foreign surnames in a vowel and -а stay as written (Дюбуа, Гарсиа). */
static const char *const ru_foreign_a[] = {"уа", "оа", "иа", "еа", "юа", NULL};
/* -а after г, к, х and the hushing letters takes -и, not -ы (Ольги). */
static const char *const ru_soft_a[] = {"га", "ка", "ха", "жа", "ша", "ча", "ща", NULL};

/* The ending of a word in -а or -я, stem = all but the last letter. */
static const char *ru_end_a(const char *w, size_t n, ru_case c)
{
    if (ru_ends(w, n, "ия"))
        return "и"; /* Мария → Марии, both cases */
    if (ru_ends(w, n, "я"))
        return c == RU_CASE_GEN ? "и" : "е";
    if (c == RU_CASE_DAT)
        return "е";
    return ru_ends_any(w, n, ru_soft_a) ? "и" : "ы";
}

/* A man's surname: how many bytes of w to keep, the ending in *end. */
static size_t ru_surname_male(const char *w, size_t n, ru_case c, const char **end)
{
    int gen = c == RU_CASE_GEN;
    static const char *const keep[] = {"их", "ых", NULL};
    if (ru_ends_any(w, n, ru_open_vowels) || ru_ends_any(w, n, keep) ||
        ru_ends_any(w, n, ru_foreign_a))
        return n;
    /* Adjectival (-ский, -ой, -ый), but not a short one like Цой. */
    if (n > 6 && (ru_ends(w, n, "ий") || ru_ends(w, n, "ый") || ru_ends(w, n, "ой"))) {
        static const char *const hard[] = {"гий", "кий", "хий", "жий", "ший",
                                           "чий", "щий", "ций", NULL};
        int soft = ru_ends(w, n, "ий") && !ru_ends_any(w, n, hard);
        *end = soft ? (gen ? "его" : "ему") : (gen ? "ого" : "ому");
        return n - 4;
    }
    if (ru_ends(w, n, "ь") || ru_ends(w, n, "й")) {
        *end = gen ? "я" : "ю";
        return n - 2;
    }
    if (ru_ends(w, n, "а") || ru_ends(w, n, "я")) {
        *end = ru_end_a(w, n, c);
        return n - 2;
    }
    *end = gen ? "а" : "у"; /* a consonant: Иванов, Шмидт */
    return n;
}

/* A woman's surname (one in a consonant does not decline: Черных, Шмидт). */
static size_t ru_surname_female(const char *w, size_t n, ru_case c, const char **end)
{
    static const char *const possessive[] = {"ова", "ева", "ёва", "ина", "ына", NULL};
    static const char *const hushing[] = {"жая", "шая", "чая", "щая", NULL};
    if (ru_ends_any(w, n, possessive)) {
        *end = "ой";
        return n - 2;
    }
    if (ru_ends_any(w, n, ru_foreign_a))
        return n;
    if (ru_ends(w, n, "ая") || ru_ends(w, n, "яя")) {
        *end = ru_ends(w, n, "яя") || ru_ends_any(w, n, hushing) ? "ей" : "ой";
        return n - 4;
    }
    if (ru_ends(w, n, "а") || ru_ends(w, n, "я")) {
        *end = ru_end_a(w, n, c);
        return n - 2;
    }
    return n;
}

static size_t ru_given(const char *w, size_t n, ru_gender g, ru_case c, const char **end)
{
    int gen = c == RU_CASE_GEN;
    if (ru_ends_any(w, n, ru_open_vowels))
        return n;
    if (ru_ends(w, n, "а") || ru_ends(w, n, "я")) {
        *end = ru_end_a(w, n, c);
        return n - 2;
    }
    if (ru_ends(w, n, "ь")) {
        *end = g == RU_GENDER_FEMALE ? "и" : (gen ? "я" : "ю");
        return n - 2;
    }
    if (g == RU_GENDER_FEMALE)
        return n;
    if (ru_ends(w, n, "й")) { /* Сергей, Дмитрий */
        *end = gen ? "я" : "ю";
        return n - 2;
    }
    *end = gen ? "а" : "у";
    return n;
}

static size_t ru_patronymic(const char *w, size_t n, ru_gender g, ru_case c, const char **end)
{
    if (g == RU_GENDER_MALE && ru_ends(w, n, "ич")) {
        *end = c == RU_CASE_GEN ? "а" : "у";
        return n;
    }
    if (g == RU_GENDER_FEMALE && ru_ends(w, n, "на")) {
        *end = c == RU_CASE_GEN ? "ы" : "е";
        return n - 2;
    }
    return n;
}

/* Append the declined word (no hyphens in it) to out at *at. Returns 0, or -1 when full. */
static int ru_put_word(const char *w, size_t n, ru_role role, ru_gender g, ru_case c, char *out,
                       size_t len, size_t *at)
{
    const char *end = "", *stem = w;
    size_t keep = n;
    if (c != RU_CASE_NOM && g != RU_GENDER_UNKNOWN && ru_cyrillic(w, n)) {
        if (role == RU_SURNAME)
            keep = g == RU_GENDER_MALE ? ru_surname_male(w, n, c, &end)
                                       : ru_surname_female(w, n, c, &end);
        else if (role == RU_GIVEN)
            keep = ru_given(w, n, g, c, &end);
        else
            keep = ru_patronymic(w, n, g, c, &end);
        for (size_t i = 0; role == RU_GIVEN && g == RU_GENDER_MALE && i < RU_NFLEETING; i++) {
            if (strlen(ru_fleeting[i].nom) == n && memcmp(ru_fleeting[i].nom, w, n) == 0) {
                stem = ru_fleeting[i].stem;
                keep = strlen(stem);
            }
        }
    }
    size_t e = strlen(end);
    if (*at + keep + e >= len)
        return -1;
    memcpy(out + *at, stem, keep);
    memcpy(out + *at + keep, end, e);
    *at += keep + e;
    return 0;
}

/* Split s on spaces into at most RU_MAX_WORDS words (the rest joins the last). */
static size_t ru_split(const char *s, ru_word *words)
{
    size_t nw = 0;
    while (*s) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s)
            break;
        const char *b = s;
        while (*s && (nw == RU_MAX_WORDS - 1 || (*s != ' ' && *s != '\t')))
            s++;
        size_t n = (size_t)(s - b);
        while (n && (b[n - 1] == ' ' || b[n - 1] == '\t'))
            n--;
        words[nw].s = b;
        words[nw++].n = n;
    }
    return nw;
}

static ru_gender ru_given_gender(const char *w, size_t n)
{
    if (!ru_cyrillic(w, n) || ru_is(w, n, ru_either))
        return RU_GENDER_UNKNOWN;
    if (ru_is(w, n, ru_male_in_a))
        return RU_GENDER_MALE;
    if (ru_ends(w, n, "а") || ru_ends(w, n, "я") || ru_is(w, n, ru_female_in_soft))
        return RU_GENDER_FEMALE;
    return ru_ends_any(w, n, ru_open_vowels) ? RU_GENDER_UNKNOWN : RU_GENDER_MALE;
}

static ru_gender ru_surname_gender(const char *w, size_t n)
{
    static const char *const female[] = {"ова", "ева", "ёва", "ина", "ына", "ая", "яя", NULL};
    static const char *const male[] = {"ов", "ев", "ёв",   "ин",   "ын",
                                       "ий", "ый", "ской", "цкой", NULL};
    if (ru_ends_any(w, n, female))
        return RU_GENDER_FEMALE;
    return ru_ends_any(w, n, male) ? RU_GENDER_MALE : RU_GENDER_UNKNOWN;
}

/* The Turkic patronymic's last word: 1 male, 2 female, 0 none. */
static int ru_turkic(const ru_word *w)
{
    static const char *const son[] = {"оглы", "улы", "уулу", NULL};
    static const char *const daughter[] = {"кызы", "гызы", "кизи", NULL};
    return ru_is(w->s, w->n, son) ? 1 : ru_is(w->s, w->n, daughter) ? 2 : 0;
}

static ru_gender ru_words_gender(const ru_word *words, size_t nw)
{
    if (nw >= 3) {
        int t = ru_turkic(&words[nw - 1]);
        if (t)
            return t == 1 ? RU_GENDER_MALE : RU_GENDER_FEMALE;
        if (ru_ends(words[2].s, words[2].n, "ич"))
            return RU_GENDER_MALE;
        if (ru_ends(words[2].s, words[2].n, "вна") || ru_ends(words[2].s, words[2].n, "чна") ||
            ru_ends(words[2].s, words[2].n, "шна"))
            return RU_GENDER_FEMALE;
    }
    if (nw == 1)
        return ru_given_gender(words[0].s, words[0].n);
    if (nw >= 2) {
        ru_gender g = ru_given_gender(words[1].s, words[1].n);
        if (g != RU_GENDER_UNKNOWN)
            return g;
        return ru_surname_gender(words[0].s, words[0].n);
    }
    return RU_GENDER_UNKNOWN;
}

ru_gender ru_name_gender(const char *full_name)
{
    ru_word words[RU_MAX_WORDS];
    return full_name ? ru_words_gender(words, ru_split(full_name, words)) : RU_GENDER_UNKNOWN;
}

/* Append one word, each hyphenated part declined alone (Римский-Корсаков). */
static int ru_put(const ru_word *w, ru_role role, ru_gender g, ru_case c, char *out, size_t len,
                  size_t *at)
{
    const char *p = w->s, *e = w->s + w->n;
    for (;;) {
        const char *h = memchr(p, '-', (size_t)(e - p));
        const char *stop = h ? h : e;
        if (ru_put_word(p, (size_t)(stop - p), role, g, c, out, len, at) != 0)
            return -1;
        if (!h)
            return 0;
        if (*at + 1 >= len)
            return -1;
        out[(*at)++] = '-';
        p = h + 1;
    }
}

/* Write the words of full_name from the surname (short 0) or, when there
 * are three or more, from the given name (short 1), declined to case c. */
static int ru_write(const char *full_name, ru_gender gender, ru_case c, int short_form, char *out,
                    size_t len)
{
    ru_word words[RU_MAX_WORDS];
    if (!out || !len)
        return -1;
    out[0] = '\0';
    if (!full_name)
        return -1;
    size_t nw = ru_split(full_name, words), at = 0;
    ru_gender g = gender != RU_GENDER_UNKNOWN ? gender : ru_words_gender(words, nw);
    /* Words past the patronymic and a whole Turkic patronymic stay as written. */
    int turkic = nw >= 3 && ru_turkic(&words[nw - 1]);
    for (size_t i = short_form && nw >= 3 ? 1 : 0; i < nw; i++) {
        ru_role role = i == 0 && nw > 1 ? RU_SURNAME : i <= 1 ? RU_GIVEN : RU_PATRONYMIC;
        ru_case wc = (i >= 2 && turkic) || i > 2 ? RU_CASE_NOM : c;
        if (at > 0) {
            if (at + 1 >= len)
                goto full;
            out[at++] = ' ';
        }
        if (ru_put(&words[i], role, g, wc, out, len, &at) != 0)
            goto full;
    }
    out[at] = '\0';
    return (int)at;
full:
    out[0] = '\0';
    return -1;
}

int ru_name_decline(const char *full_name, ru_gender gender, ru_case c, char *out, size_t len)
{
    return ru_write(full_name, gender, c, 0, out, len);
}

int ru_name_short(const char *full_name, char *out, size_t len)
{
    return ru_write(full_name, RU_GENDER_UNKNOWN, RU_CASE_NOM, 1, out, len);
}

int ru_plural(long long n)
{
    unsigned long long a = n < 0 ? 0ULL - (unsigned long long)n : (unsigned long long)n;
    unsigned long long tens = a % 100, ones = a % 10;
    if (tens >= 11 && tens <= 14)
        return 2;
    if (ones == 1)
        return 0;
    return ones >= 2 && ones <= 4 ? 1 : 2;
}
