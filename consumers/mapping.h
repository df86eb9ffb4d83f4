/* Pure helpers shared by the mappings between Mystore and Ongoing (orders,
 * articles, deliveries, stock).  Nothing here does I/O: no network, no files
 * written, no Redis, no logging.  Every MODEL.md choice these helpers
 * implement lives in exactly one function or table of mapping.c, whose
 * comment names the choice id, so it can be corrected in one place when a
 * real shop shows otherwise.
 *
 * Ownership: every `const json_t *` and `const char *` argument is borrowed
 * for the duration of the call; returned `const char *` are borrowed from the
 * argument they were read from (or static), and `char **out` results are new
 * heap strings the caller frees with free(). */
#ifndef MP_MAPPING_H
#define MP_MAPPING_H

#include <jansson.h>
#include <stddef.h>

#include "err.h"

/* The language picked from localised texts when none is configured. */
#define MP_DEFAULT_LANGUAGE "no"
/* The shop-local zone when none is configured (M1). */
#define MP_DEFAULT_TIMEZONE "Europe/Oslo"
/* Size of the buffer mp_local_to_utc() writes: "YYYY-MM-DDTHH:MM:SSZ" + NUL. */
#define MP_UTC_SIZE 21

/* Is value absent in the Mystore sense: NULL, JSON null or the empty string?
 * value: borrowed, may be NULL. */
int mp_absent(const json_t *value);

/* Reads a number that Mystore may send as a JSON number or as a numeric
 * string ("299.00", "-1", "2e3").  Strict: the whole string must be a decimal
 * number ("abc", "", "1e", " 1", "0x10", "inf", "1,5" fail) and finite.
 * value: borrowed, may be NULL.  Returns MO_OK and sets *out, or
 * MO_ERR_INVALID (also for NULL, null, booleans, arrays and objects). */
mo_err mp_number(const json_t *value, double *out);

/* Reads a whole, non-negative number (an id such as option_id 7 or "3648")
 * through mp_number().  Returns MO_ERR_INVALID when the number has a fraction,
 * is negative or does not fit a long. */
mo_err mp_whole_number(const json_t *value, long *out);

/* Reads the string member `key` of `object`.  An absent member, JSON null and
 * "" all count as absent: *out = NULL and MO_OK.  Any other non-string value
 * gives MO_ERR_INVALID.  object: borrowed, may be NULL (absent).
 * *out: borrowed from object. */
mo_err mp_string(const json_t *object, const char *key, const char **out);

/* Picks a text from a value that is either a plain string (taken as is) or a
 * localised object keyed by language ({"no": "Genser", "en": "Sweater"}).
 * Takes `language` (MP_DEFAULT_LANGUAGE when NULL or ""), else the first key in
 * byte-wise sorted key order whose value is a non-empty string.  Returns NULL
 * when there is no such text.  value: borrowed, may be NULL; the result is
 * borrowed from value. */
const char *mp_text(const json_t *value, const char *language);

/* Whole-name equality that ignores case and surrounding ASCII white space.
 * Case folding covers ASCII and the upper-case letters of Latin-1 in UTF-8
 * (so Æ Ø Å equal æ ø å, and Ä Ö Ü equal ä ö ü).  a, b: borrowed, NULL equals
 * nothing. */
int mp_name_eq(const char *a, const char *b);

/* Copies s into buf (size >= 4) for a one-line error message: control bytes
 * become '?', and a value too long is cut at a UTF-8 character boundary and
 * ends in "...".  s, buf: borrowed; returns buf. */
const char *mp_errval(const char *s, char *buf, size_t size);

/* Renders a JSON value for a one-line error message into buf and returns
 * buf: a string quoted and cleaned by mp_errval() ('abc'), a number by %g, a
 * boolean as true/false, null as null, an object or array by its kind, and
 * NULL (an absent member) as "(absent)".  value: borrowed, may be NULL. */
const char *mp_describe(const json_t *value, char *buf, size_t size);

/* Is s a Mystore id as the API writes it: 1 to 20 ASCII digits ("812",
 * "116301")?  Such an id has no sign or blank and is safe in a URL path.
 * s: borrowed, NULL is not an id. */
int mp_is_id(const char *s);

/* M4/O3: a Mystore product weight in the shop's unit converted to the
 * kilograms Ongoing wants.  weight_kg 0: the shop weighs in grams
 * (MYSTORE_WEIGHT_UNIT=g, the default), so the weight is divided by 1000;
 * 1: kilograms (MYSTORE_WEIGHT_UNIT=kg), taken as is.  -0 comes back as 0. */
double mp_weight_kg(double weight, int weight_kg);

/* M5: maps a shipping country (ISO 3166-1 alpha-2 code in any case, or an
 * English or Norwegian country name) to its alpha-2 code.  country: borrowed,
 * not NULL.  *iso: static string.  An unknown country gives MO_ERR_INVALID
 * with the value named in errstr. */
mo_err mp_country_iso(const char *country, const char **iso, char *errstr, size_t errstr_size);

/* M8/M15: does an order status match a configured status ("levert",
 * "kansellert", or an override)?  A configured value made of digits only is an
 * id and compares with status_id; any other value is a whole name compared by
 * mp_name_eq() with every language of status_name ("Delvis levert" is not
 * "levert").  status_id: borrowed, may be NULL (unknown); status_name:
 * borrowed localised text (object or string), may be NULL; wanted: borrowed,
 * NULL or "" matches nothing. */
int mp_status_matches(const char *status_id, const json_t *status_name, const char *wanted);

/* M1: converts a shop-local "YYYY-MM-DD HH:MM:SS" in the named zone
 * (MP_DEFAULT_TIMEZONE when NULL or "") to UTC "YYYY-MM-DDTHH:MM:SSZ" in out.
 * The conversion is common/tz.c's tz_local_to_utc(): a wall time that occurs
 * twice (autumn fold) takes the earlier instant; one that does not exist
 * (spring gap) is read with the offset in force before the change (02:30 in
 * Oslo's gap is 01:30Z, i.e. 03:30 summer time).  It switches the process TZ
 * under tz.c's mutex and restores it, so it is deterministic.
 * local, zone: borrowed.  Returns MO_ERR_INVALID for malformed input (also
 * 31 April, second 60) or a year outside 1970..9999, MO_ERR_NOMEM when
 * switching TZ fails. */
mo_err mp_local_to_utc(const char *local, const char *zone, char out[MP_UTC_SIZE], char *errstr,
                       size_t errstr_size);

/* One chosen option of a product variant or order line. */
typedef struct mp_option {
    long option_id;         /* product option, e.g. 7 (colour) */
    long value_id;          /* option value, e.g. 3648 (red) */
    const char *value_name; /* borrowed, NULL or "" when unknown */
} mp_option;

/* Article name (article table, reused for order lines by O4): `name` then
 * each option's value name in ascending option id, separated by one space
 * ("Genser M Rød").  Absent parts are skipped; the result may be "".
 * name: borrowed, may be NULL; options: borrowed array of n (not reordered).
 * *out: new string, caller frees.  Returns MO_OK or MO_ERR_NOMEM. */
mo_err mp_article_name(const char *name, const mp_option *options, size_t n, char **out);

/* osCommerce product code (article table, O4): the product id followed by
 * "{option}value" for each option in ascending option id:
 * "812{3}12{7}3648"; the product id alone without options.  product_id:
 * borrowed, must be digits only (else MO_ERR_INVALID); options: borrowed
 * array of n (not reordered).  *out: new string, caller frees. */
mo_err mp_product_code(const char *product_id, const mp_option *options, size_t n, char **out);

#endif
