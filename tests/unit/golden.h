/* Golden cases of the pure mappings, shared by the test_map_*.c files.
 *
 * A case is a directory tests/cases/<mapping>/<case>/ holding input.json,
 * expected.json (the mapping's result, or {"error": "invalid",
 * "message_contains": "..."}) and an optional config.json whose meaning each
 * mapping's adapter decides. */
#ifndef GOLDEN_H
#define GOLDEN_H

#include <jansson.h>
#include <stddef.h>

#include "common/err.h"

/* Adapts one mapping to the runner: maps input with the settings of config
 * (NULL when the case has no config.json: all defaults).  input, config:
 * borrowed; *out: a new reference on MO_OK, NULL otherwise; errstr: the
 * mapping's reason. */
typedef mo_err (*golden_map_fn)(const json_t *input, const json_t *config, json_t **out,
                                char *errstr, size_t errstr_size);

/* Runs every case under ut_srcdir()/cases_dir in name order through map, as
 * checks of the running test: the result must equal expected.json (or fail
 * with the expected error class and a one-line message containing
 * message_contains), and a second run must give the same answer (purity).
 * Also checks that there are at least min_cases cases. */
void golden_run(const char *cases_dir, size_t min_cases, golden_map_fn map);

/* Fails each jansson allocation of map on case_dir's input (relative to
 * ut_srcdir(), with its config.json when there is one) in turn, curl's
 * "torture": every run must answer MO_OK, or MO_ERR_NOMEM with *out NULL,
 * leak nothing (checked by the ASan build), and one run must succeed. */
void golden_alloc_failures(const char *case_dir, golden_map_fn map);

/* Parses JSON written with single quotes (readable in C source); a new
 * reference, NULL when it does not parse. */
json_t *golden_jq(const char *text);

#endif
