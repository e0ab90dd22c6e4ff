/* ru.h -- Russian forms for text meant for people: the gender of a person from their name,
 * full names declined (genitive, dative), and the plural form after a number. */
#ifndef EPOS_RU_H
#define EPOS_RU_H

#include <stddef.h>

typedef enum ru_gender { RU_GENDER_UNKNOWN = 0, RU_GENDER_MALE, RU_GENDER_FEMALE } ru_gender;

typedef enum ru_case { RU_CASE_NOM = 0, RU_CASE_GEN, RU_CASE_DAT } ru_case;

/* The gender of a person named "Фамилия Имя Отчество" (two words: "Фамилия
 * Имя"; one: a given name): from the patronymic (-ич male, -на female; the
 * Turkic "оглы"/"улы" male, "кызы"/"гызы" female), else the given name
 * (-а/-я female but for Никита, Илья, Ваня…; a consonant male; Любовь…),
 * else the surname (-ова/-ина/-ая female, -ов/-ин/-ий male). Ambiguous
 * names (Саша, Женя) and names in other scripts: RU_GENDER_UNKNOWN. NULL: unknown. */
ru_gender ru_name_gender(const char *full_name);

/* Decline a full name word by word into out (len bytes, NUL-terminated):
 * the surname (-ов/-ин +а, -ова → -овой, -ский → -ского, -ская → -ской,
 * indeclinable -ко, -их/-ых, a vowel, a woman's surname in a consonant),
 * the given name (Ольга → Ольги, Мария → Марии, Лев → Льва, Игорь → Игоря)
 * and the patronymic (-ич +а/+у, -на → -ны/-не; a Turkic one as written).
 * Each part of a hyphenated word is declined alone; words in other scripts
 * stay as they are. gender RU_GENDER_UNKNOWN means ru_name_gender's; when
 * that is unknown too, or for RU_CASE_NOM, the name is copied (spaces
 * collapsed). Returns the length written, or -1 when out is too small (out
 * then holds an empty string) or full_name is NULL. */
int ru_name_decline(const char *full_name, ru_gender gender, ru_case c, char *out, size_t len);

/* "Имя Отчество" of a three-word (or longer) name, for a greeting; the
 * name as it is (spaces collapsed) otherwise. Returns as ru_name_decline. */
int ru_name_short(const char *full_name, char *out, size_t len);

/* Which form of a counted noun follows n: 0 "один" (1, 21, 101: сообщение),
 * 1 "несколько" (2–4, 22–24: сообщения), 2 "много" (0, 5–20, 11–14, 25:
 * сообщений). Negative n as its absolute value. */
int ru_plural(long long n);

#endif
