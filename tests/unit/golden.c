/* Golden-case runner of the pure mappings.  See golden.h. */
#include "golden.h"
#include "unit.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PATH_SIZE  1024
#define ERRSTR_LEN 512

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The case directories under dir, sorted, as a new array of new strings
 * (free each and the array); *n is their count.  NULL when dir cannot be read. */
static char **list_cases(const char *dir, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t cap = 0;

    *n = 0;
    if (d == NULL)
        return NULL;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (*n == cap) {
            size_t newcap = cap ? cap * 2 : 64;
            char **grown = realloc(names, newcap * sizeof *grown);
            if (grown == NULL)
                break;
            names = grown;
            cap = newcap;
        }
        names[*n] = strdup(e->d_name);
        if (names[*n] == NULL)
            break;
        (*n)++;
    }
    closedir(d);
    if (*n > 0)
        qsort(names, *n, sizeof *names, name_cmp);
    return names;
}

/* A new string of v for a failure message (free it); "(null)" for NULL. */
static char *dump(const json_t *v)
{
    char *s = v ? json_dumps(v, JSON_SORT_KEYS | JSON_INDENT(2) | JSON_ENCODE_ANY) : NULL;
    return s ? s : strdup("(null)");
}

/* Loads dir/file; NULL when it does not exist.  A file that exists but does
 * not parse fails the running test. */
static json_t *load(const char *dir, const char *file, int required)
{
    char path[PATH_SIZE];
    json_error_t jerr;

    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (!required && access(path, F_OK) != 0)
        return NULL;
    json_t *v = json_load_file(path, 0, &jerr);
    UT_CHECK(v != NULL, "%s: %s (line %d)", path, jerr.text, jerr.line);
    return v;
}

/* Runs one golden case; 1 when it passes. */
static int run_case(const char *name, const char *dir, golden_map_fn map)
{
    json_t *input = load(dir, "input.json", 1);
    json_t *expected = load(dir, "expected.json", 1);
    json_t *cfg = load(dir, "config.json", 0);
    json_t *out = NULL, *again = NULL;
    char errstr[ERRSTR_LEN] = "";
    char errstr2[ERRSTR_LEN] = "";
    int ok = 0;

    if (input == NULL || expected == NULL)
        goto done;
    mo_err rc = map(input, cfg, &out, errstr, sizeof errstr);
    /* Pure: the same input gives the same answer a second time. */
    mo_err rc2 = map(input, cfg, &again, errstr2, sizeof errstr2);
    const char *want_error = json_string_value(json_object_get(expected, "error"));

    if (want_error != NULL) {
        const char *want_msg = json_string_value(json_object_get(expected, "message_contains"));
        ok = UT_CHECK(rc != MO_OK && strcmp(mo_err_name(rc), want_error) == 0 && out == NULL,
                      "case %s: want error %s, got %s (%s)", name, want_error, mo_err_name(rc),
                      errstr) &&
             UT_CHECK(want_msg != NULL && strstr(errstr, want_msg) != NULL,
                      "case %s: message '%s' lacks '%s'", name, errstr, want_msg ? want_msg : "");
        ok = ok && UT_CHECK(strchr(errstr, '\n') == NULL, "case %s: message not one line", name);
    } else if (!UT_CHECK(rc == MO_OK, "case %s: %s: %s", name, mo_err_name(rc), errstr)) {
        ok = 0;
    } else {
        ok = json_equal(out, expected);
        if (!ok) {
            char *want = dump(expected), *got = dump(out);
            UT_CHECK(0, "case %s: mismatch\n--- expected\n%s\n--- got\n%s", name, want, got);
            free(want);
            free(got);
        }
    }
    ok = ok && UT_CHECK(rc2 == rc && ((out == NULL && again == NULL) || json_equal(out, again)) &&
                            strcmp(errstr, errstr2) == 0,
                        "case %s: second run differs", name);
done:
    json_decref(input);
    json_decref(expected);
    json_decref(cfg);
    json_decref(out);
    json_decref(again);
    return ok;
}

void golden_run(const char *cases_dir, size_t min_cases, golden_map_fn map)
{
    char dir[PATH_SIZE];
    char case_dir[PATH_SIZE * 2];
    size_t n = 0, passed = 0;

    snprintf(dir, sizeof dir, "%s/%s", ut_srcdir(), cases_dir);
    char **names = list_cases(dir, &n);
    UT_CHECK(n >= min_cases, "%s: %zu cases, want at least %zu", dir, n, min_cases);
    for (size_t i = 0; i < n; i++) {
        snprintf(case_dir, sizeof case_dir, "%s/%s", dir, names[i]);
        passed += (size_t)run_case(names[i], case_dir, map);
        free(names[i]);
    }
    free(names);
    UT_CHECK(passed == n, "%zu of %zu golden cases passed", passed, n);
}

/* jansson allocations that fail once the countdown reaches zero. */
static long alloc_countdown = -1;

static void *failing_malloc(size_t size)
{
    if (alloc_countdown == 0)
        return NULL;
    if (alloc_countdown > 0)
        alloc_countdown--;
    return malloc(size);
}

void golden_alloc_failures(const char *case_dir, golden_map_fn map)
{
    char dir[PATH_SIZE];
    char errstr[ERRSTR_LEN];
    int succeeded = 0;

    snprintf(dir, sizeof dir, "%s/%s", ut_srcdir(), case_dir);
    json_t *input = load(dir, "input.json", 1);
    json_t *cfg = load(dir, "config.json", 0);
    if (input == NULL)
        goto done;
    for (long n = 0; n < 10000 && !succeeded; n++) {
        json_t *out = NULL;
        alloc_countdown = n;
        json_set_alloc_funcs(failing_malloc, free);
        mo_err rc = map(input, cfg, &out, errstr, sizeof errstr);
        json_set_alloc_funcs(malloc, free);
        alloc_countdown = -1;
        UT_CHECK(rc == MO_OK || (rc == MO_ERR_NOMEM && out == NULL), "allocation %ld: %s (%s)", n,
                 mo_err_name(rc), errstr);
        succeeded = rc == MO_OK;
        json_decref(out);
    }
    UT_CHECK(succeeded, "never succeeded");
done:
    json_decref(input);
    json_decref(cfg);
}

json_t *golden_jq(const char *text)
{
    char *copy = strdup(text);
    json_t *v = NULL;

    if (copy == NULL)
        return NULL;
    for (char *p = copy; *p; p++) {
        if (*p == '\'')
            *p = '"';
    }
    v = json_loads(copy, JSON_DECODE_ANY, NULL);
    free(copy);
    return v;
}
