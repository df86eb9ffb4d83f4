/* Pure helpers of the Mystore → Ongoing mappings.  See mapping.h. */
#include "mapping.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tz.h"

int mp_absent(const json_t *value)
{
    if (value == NULL || json_is_null(value))
        return 1;
    return json_is_string(value) && json_string_length(value) == 0;
}

/* Checks the decimal number grammar [+-] digits [. digits] [e [+-] digits],
 * with digits on at least one side of the point.  strtod() alone would also
 * take leading blanks, hex, "inf" and "nan". */
static int mp_is_decimal(const char *s)
{
    int digits = 0;

    if (*s == '+' || *s == '-')
        s++;
    while (*s >= '0' && *s <= '9') {
        s++;
        digits++;
    }
    if (*s == '.') {
        s++;
        while (*s >= '0' && *s <= '9') {
            s++;
            digits++;
        }
    }
    if (digits == 0)
        return 0;
    if (*s == 'e' || *s == 'E') {
        int exp_digits = 0;
        s++;
        if (*s == '+' || *s == '-')
            s++;
        while (*s >= '0' && *s <= '9') {
            s++;
            exp_digits++;
        }
        if (exp_digits == 0)
            return 0;
    }
    return *s == '\0';
}

mo_err mp_number(const json_t *value, double *out)
{
    if (json_is_integer(value)) {
        *out = (double)json_integer_value(value);
        return MO_OK;
    }
    if (json_is_real(value)) {
        *out = json_real_value(value);
        return MO_OK;
    }
    if (!json_is_string(value))
        return MO_ERR_INVALID;

    const char *s = json_string_value(value);
    if (strlen(s) != json_string_length(value) || !mp_is_decimal(s))
        return MO_ERR_INVALID; /* embedded NUL or not a decimal number */
    char *end = NULL;
    errno = 0;
    double d = strtod(s, &end);
    if (end == NULL || *end != '\0' || !isfinite(d) || (errno == ERANGE && d != 0.0))
        return MO_ERR_INVALID;
    *out = d;
    return MO_OK;
}

mo_err mp_whole_number(const json_t *value, long *out)
{
    double d;

    if (mp_number(value, &d) != MO_OK)
        return MO_ERR_INVALID;
    /* 2^53: beyond it a double no longer holds every whole number. */
    if (d < 0 || d > 9007199254740992.0 || d != floor(d) || d > (double)LONG_MAX)
        return MO_ERR_INVALID;
    *out = (long)d;
    return MO_OK;
}

mo_err mp_string(const json_t *object, const char *key, const char **out)
{
    const json_t *value = json_is_object(object) ? json_object_get(object, key) : NULL;

    *out = NULL;
    if (mp_absent(value))
        return MO_OK;
    if (!json_is_string(value))
        return MO_ERR_INVALID;
    *out = json_string_value(value);
    return MO_OK;
}

/* A non-empty string value, else NULL. */
static const char *mp_nonempty(const json_t *value)
{
    if (!json_is_string(value) || json_string_length(value) == 0)
        return NULL;
    return json_string_value(value);
}

const char *mp_text(const json_t *value, const char *language)
{
    const char *key;
    const json_t *text;
    const char *first_key = NULL;
    const char *first = NULL;

    if (json_is_string(value))
        return mp_nonempty(value);
    if (!json_is_object(value))
        return NULL;
    if (language == NULL || *language == '\0')
        language = MP_DEFAULT_LANGUAGE;
    if (mp_nonempty(json_object_get(value, language)))
        return mp_nonempty(json_object_get(value, language));

    /* Sorted rather than document order: a JSON object has no order, and the
     * snapshot may have been re-serialised on its way through Kafka. */
    json_object_foreach((json_t *)value, key, text)
    {
        if (mp_nonempty(text) && (first_key == NULL || strcmp(key, first_key) < 0)) {
            first_key = key;
            first = mp_nonempty(text);
        }
    }
    return first;
}

/* Trims ASCII white space: [*start, *end) is the trimmed text. */
static void mp_trim(const char *s, const char **start, const char **end)
{
    const char *e = s + strlen(s);

    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\f' || *s == '\v')
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r' ||
                     e[-1] == '\f' || e[-1] == '\v'))
        e--;
    *start = s;
    *end = e;
}

/* Reads one case-folded unit at *p (before end) and advances *p.  ASCII folds
 * to lower case; a two-byte UTF-8 Latin-1 letter (lead byte 0xC3) folds its
 * upper-case form (U+00C0..U+00DE except ×) to lower case and comes back as
 * 0xC300 | second byte, so it never equals a single byte.  Any other byte is
 * returned as is. */
static unsigned mp_fold_next(const unsigned char **p, const unsigned char *end)
{
    unsigned c = **p;

    (*p)++;
    if (c >= 'A' && c <= 'Z')
        return c + ('a' - 'A');
    if (c == 0xC3 && *p < end && **p >= 0x80 && **p <= 0xBF) {
        unsigned second = **p;
        (*p)++;
        if (second <= 0x9E && second != 0x97)
            second += 0x20;
        return 0xC300u | second;
    }
    return c;
}

int mp_name_eq(const char *a, const char *b)
{
    const char *a0, *a1, *b0, *b1;

    if (a == NULL || b == NULL)
        return 0;
    mp_trim(a, &a0, &a1);
    mp_trim(b, &b0, &b1);
    const unsigned char *pa = (const unsigned char *)a0, *ea = (const unsigned char *)a1;
    const unsigned char *pb = (const unsigned char *)b0, *eb = (const unsigned char *)b1;
    while (pa < ea && pb < eb) {
        if (mp_fold_next(&pa, ea) != mp_fold_next(&pb, eb))
            return 0;
    }
    return pa == ea && pb == eb;
}

/* M5: every officially assigned ISO 3166-1 alpha-2 code (249, as in tzdata's
 * iso3166.tab), sorted. */
static const char mp_iso_codes[][3] = {
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
};

/* M5: English and Norwegian (bokmål, some nynorsk) names of the countries a
 * Norwegian shop ships to most; matched with mp_name_eq(). */
static const struct {
    const char *name;
    const char *iso;
} mp_country_names[] = {
    {"Norway", "NO"},
    {"Norge", "NO"},
    {"Noreg", "NO"},
    {"Sweden", "SE"},
    {"Sverige", "SE"},
    {"Denmark", "DK"},
    {"Danmark", "DK"},
    {"Finland", "FI"},
    {"Iceland", "IS"},
    {"Island", "IS"},
    {"Faroe Islands", "FO"},
    {"Færøyene", "FO"},
    {"Greenland", "GL"},
    {"Grønland", "GL"},
    {"Åland", "AX"},
    {"Aland Islands", "AX"},
    {"Åland Islands", "AX"},
    {"Svalbard and Jan Mayen", "SJ"},
    {"Svalbard og Jan Mayen", "SJ"},
    {"United Kingdom", "GB"},
    {"UK", "GB"},
    {"Great Britain", "GB"},
    {"Storbritannia", "GB"},
    {"Det forente kongerike", "GB"},
    {"England", "GB"},
    {"Scotland", "GB"},
    {"Skottland", "GB"},
    {"Wales", "GB"},
    {"Northern Ireland", "GB"},
    {"Nord-Irland", "GB"},
    {"Germany", "DE"},
    {"Tyskland", "DE"},
    {"Deutschland", "DE"},
    {"Netherlands", "NL"},
    {"The Netherlands", "NL"},
    {"Nederland", "NL"},
    {"Holland", "NL"},
    {"Poland", "PL"},
    {"Polen", "PL"},
    {"France", "FR"},
    {"Frankrike", "FR"},
    {"Spain", "ES"},
    {"Spania", "ES"},
    {"Italy", "IT"},
    {"Italia", "IT"},
    {"United States", "US"},
    {"United States of America", "US"},
    {"USA", "US"},
    {"U.S.A.", "US"},
    {"USA (De forente stater)", "US"},
    {"De forente stater", "US"},
    {"Amerika", "US"},
    {"Belgium", "BE"},
    {"Belgia", "BE"},
    {"Austria", "AT"},
    {"Østerrike", "AT"},
    {"Switzerland", "CH"},
    {"Sveits", "CH"},
    {"Ireland", "IE"},
    {"Irland", "IE"},
    {"Portugal", "PT"},
    {"Luxembourg", "LU"},
    {"Estonia", "EE"},
    {"Estland", "EE"},
    {"Latvia", "LV"},
    {"Lithuania", "LT"},
    {"Litauen", "LT"},
    {"Czech Republic", "CZ"},
    {"Czechia", "CZ"},
    {"Tsjekkia", "CZ"},
    {"Slovakia", "SK"},
    {"Slovenia", "SI"},
    {"Hungary", "HU"},
    {"Ungarn", "HU"},
    {"Croatia", "HR"},
    {"Kroatia", "HR"},
    {"Romania", "RO"},
    {"Bulgaria", "BG"},
    {"Greece", "GR"},
    {"Hellas", "GR"},
    {"Cyprus", "CY"},
    {"Kypros", "CY"},
    {"Malta", "MT"},
    {"Turkey", "TR"},
    {"Türkiye", "TR"},
    {"Tyrkia", "TR"},
    {"Ukraine", "UA"},
    {"Ukraina", "UA"},
    {"Canada", "CA"},
    {"Australia", "AU"},
    {"New Zealand", "NZ"},
    {"Japan", "JP"},
    {"China", "CN"},
    {"Kina", "CN"},
};

const char *mp_errval(const char *s, char *buf, size_t size)
{
    size_t n = 0;
    size_t len = strlen(s);
    int cut = len > size - 1;
    size_t keep = cut ? size - 4 : len;

    while (cut && keep > 0 && ((unsigned char)s[keep] & 0xC0) == 0x80)
        keep--; /* do not split a UTF-8 sequence */
    for (; n < keep; n++)
        buf[n] = ((unsigned char)s[n] < 0x20 || s[n] == 0x7F) ? '?' : s[n];
    if (cut) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = '\0';
    return buf;
}

const char *mp_describe(const json_t *value, char *buf, size_t size)
{
    char inner[64];

    if (value == NULL) {
        snprintf(buf, size, "(absent)");
        return buf;
    }
    switch (json_typeof(value)) {
    case JSON_STRING:
        snprintf(buf, size, "'%s'", mp_errval(json_string_value(value), inner, sizeof inner));
        break;
    case JSON_INTEGER:
    case JSON_REAL:
        snprintf(buf, size, "%g", json_number_value(value));
        break;
    case JSON_TRUE:
        snprintf(buf, size, "true");
        break;
    case JSON_FALSE:
        snprintf(buf, size, "false");
        break;
    case JSON_OBJECT:
        snprintf(buf, size, "(an object)");
        break;
    case JSON_ARRAY:
        snprintf(buf, size, "(an array)");
        break;
    default:
        snprintf(buf, size, "null");
        break;
    }
    return buf;
}

int mp_is_id(const char *s)
{
    size_t n = 0;

    if (s == NULL)
        return 0;
    for (; s[n] != '\0'; n++) {
        if (s[n] < '0' || s[n] > '9' || n == 20)
            return 0;
    }
    return n > 0;
}

/* M4: the one place that knows the unit of Mystore's `weight`; O3: Ongoing
 * weighs in kilograms. */
double mp_weight_kg(double weight, int weight_kg)
{
    double kg = weight_kg ? weight : weight / 1000.0;

    return kg == 0 ? 0 : kg; /* "-0" would otherwise be sent as -0.0 */
}

/* M5: the code of an ISO alpha-2 code in any case, else NULL. */
static const char *mp_iso_lookup(const char *start, const char *end)
{
    char code[3];

    if (end - start != 2)
        return NULL;
    for (int i = 0; i < 2; i++) {
        char c = start[i];
        code[i] = (c >= 'a' && c <= 'z') ? (char)(c - ('a' - 'A')) : c;
    }
    code[2] = '\0';
    for (size_t i = 0; i < sizeof mp_iso_codes / sizeof mp_iso_codes[0]; i++) {
        if (memcmp(mp_iso_codes[i], code, 3) == 0)
            return mp_iso_codes[i];
    }
    return NULL;
}

mo_err mp_country_iso(const char *country, const char **iso, char *errstr, size_t errstr_size)
{
    const char *start, *end;
    char val[80];

    mp_trim(country, &start, &end);
    *iso = mp_iso_lookup(start, end);
    if (*iso != NULL)
        return MO_OK;
    for (size_t i = 0; i < sizeof mp_country_names / sizeof mp_country_names[0]; i++) {
        if (mp_name_eq(country, mp_country_names[i].name)) {
            *iso = mp_country_names[i].iso;
            return MO_OK;
        }
    }
    return mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "unknown country '%s'",
                     mp_errval(country, val, sizeof val));
}

/* M8/M15: the one place that decides whether a status is the configured one. */
int mp_status_matches(const char *status_id, const json_t *status_name, const char *wanted)
{
    const char *w0, *w1, *key;
    const json_t *text;

    if (wanted == NULL)
        return 0;
    mp_trim(wanted, &w0, &w1);
    if (w0 == w1)
        return 0;

    int digits_only = 1;
    for (const char *p = w0; p < w1; p++) {
        if (*p < '0' || *p > '9')
            digits_only = 0;
    }
    if (digits_only) {
        size_t n = (size_t)(w1 - w0);
        return status_id != NULL && strlen(status_id) == n && memcmp(status_id, w0, n) == 0;
    }

    if (json_is_string(status_name))
        return mp_name_eq(json_string_value(status_name), wanted);
    json_object_foreach((json_t *)status_name, key, text)
    {
        if (json_is_string(text) && mp_name_eq(json_string_value(text), wanted))
            return 1;
    }
    return 0;
}

/* Reads n digits at s into *out; 0 on success. */
static int mp_digits(const char *s, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Is s exactly "YYYY-MM-DD HH:MM:SS" with every field in range (no leap
 * second, no 31 April, year 1970..9999)?  Stricter than the conversion
 * below needs, so a malformed time is refused rather than normalised. */
static int mp_valid_local(const char *s)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int year, month, day, hour, minute, second;

    if (strlen(s) != 19 || s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' ||
        s[16] != ':')
        return 0;
    if (mp_digits(s, 4, &year) || mp_digits(s + 5, 2, &month) || mp_digits(s + 8, 2, &day) ||
        mp_digits(s + 11, 2, &hour) || mp_digits(s + 14, 2, &minute) ||
        mp_digits(s + 17, 2, &second))
        return 0;
    if (year < 1970 || month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59)
        return 0;
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    int month_days = days[month - 1] + (month == 2 && leap);
    return day >= 1 && day <= month_days;
}

/* M1 itself (the zone switch, the fold and the gap) lives in common/tz.c,
 * whose one mutex guards every TZ switch in the process; this validates and
 * formats around it. */
mo_err mp_local_to_utc(const char *local, const char *zone, char out[MP_UTC_SIZE], char *errstr,
                       size_t errstr_size)
{
    struct tm utc;
    char val[80], zone_val[64];
    time_t t = (time_t)-1;

    out[0] = '\0';
    if (zone == NULL || *zone == '\0')
        zone = MP_DEFAULT_TIMEZONE;
    if (!mp_valid_local(local))
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size,
                         "'%s' is not a time YYYY-MM-DD HH:MM:SS",
                         mp_errval(local, val, sizeof val));
    mo_err rc = tz_local_to_utc(zone, local, &t);
    if (rc == MO_ERR_NOMEM)
        return mo_seterr(rc, errstr, errstr_size, "out of memory switching TZ");
    if (rc != MO_OK || t == (time_t)-1 || gmtime_r(&t, &utc) == NULL ||
        strftime(out, MP_UTC_SIZE, "%Y-%m-%dT%H:%M:%SZ", &utc) != MP_UTC_SIZE - 1) {
        out[0] = '\0';
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "'%s' cannot be placed in zone %s",
                         mp_errval(local, val, sizeof val),
                         mp_errval(zone, zone_val, sizeof zone_val));
    }
    return MO_OK;
}

/* Orders options by ascending option id, then value id, then position, so
 * the result never depends on qsort's instability. */
static int mp_option_cmp(const void *a, const void *b)
{
    const mp_option *x = *(const mp_option *const *)a;
    const mp_option *y = *(const mp_option *const *)b;

    if (x->option_id != y->option_id)
        return x->option_id < y->option_id ? -1 : 1;
    if (x->value_id != y->value_id)
        return x->value_id < y->value_id ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* A new array of pointers to the n options in ascending option id (article
 * table); NULL with n == 0 too, so check n before treating NULL as NOMEM. */
static const mp_option **mp_options_sorted(const mp_option *options, size_t n)
{
    if (n == 0)
        return NULL;
    const mp_option **sorted = malloc(n * sizeof *sorted);
    if (sorted == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        sorted[i] = &options[i];
    qsort(sorted, n, sizeof *sorted, mp_option_cmp);
    return sorted;
}

/* Article table "articleName": the name, then value names by option id. */
mo_err mp_article_name(const char *name, const mp_option *options, size_t n, char **out)
{
    const mp_option **sorted = mp_options_sorted(options, n);
    size_t len = 0;

    *out = NULL;
    if (n > 0 && sorted == NULL)
        return MO_ERR_NOMEM;
    if (name != NULL)
        len = strlen(name);
    for (size_t i = 0; i < n; i++) {
        const char *v = sorted[i]->value_name;
        if (v != NULL && *v != '\0')
            len += (len > 0) + strlen(v);
    }

    char *s = malloc(len + 1);
    if (s == NULL) {
        free(sorted);
        return MO_ERR_NOMEM;
    }
    size_t at = 0;
    if (name != NULL) {
        memcpy(s, name, strlen(name));
        at = strlen(name);
    }
    for (size_t i = 0; i < n; i++) {
        const char *v = sorted[i]->value_name;
        if (v == NULL || *v == '\0')
            continue;
        if (at > 0)
            s[at++] = ' ';
        memcpy(s + at, v, strlen(v));
        at += strlen(v);
    }
    s[at] = '\0';
    free(sorted);
    *out = s;
    return MO_OK;
}

/* Article table "productCode": osCommerce "812{3}12{7}3648". */
mo_err mp_product_code(const char *product_id, const mp_option *options, size_t n, char **out)
{
    *out = NULL;
    if (product_id == NULL || *product_id == '\0')
        return MO_ERR_INVALID;
    for (const char *p = product_id; *p; p++) {
        if (*p < '0' || *p > '9')
            return MO_ERR_INVALID;
    }
    for (size_t i = 0; i < n; i++) {
        if (options[i].option_id < 0 || options[i].value_id < 0)
            return MO_ERR_INVALID;
    }

    const mp_option **sorted = mp_options_sorted(options, n);
    if (n > 0 && sorted == NULL)
        return MO_ERR_NOMEM;
    /* "{" + 19 digits + "}" + 19 digits per option bounds the length. */
    size_t cap = strlen(product_id) + 1 + n * 40;
    char *s = malloc(cap);
    if (s == NULL) {
        free(sorted);
        return MO_ERR_NOMEM;
    }
    size_t at = strlen(product_id);
    memcpy(s, product_id, at + 1);
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(s + at, cap - at, "{%ld}%ld", sorted[i]->option_id, sorted[i]->value_id);
        at += (size_t)w;
    }
    free(sorted);
    *out = s;
    return MO_OK;
}
