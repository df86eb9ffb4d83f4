/* A tiny unit-test harness: UT_TEST(name) { ... UT_CHECK(cond, "fmt", ...); }
 *
 * Tests register themselves through a constructor, so a new test file needs no
 * edit anywhere else.  `build/unit-tests [filter]` runs every test whose name
 * contains the filter and ends with the line "N passed, N failed". */
#ifndef UNIT_H
#define UNIT_H

#include <stdio.h>

typedef void (*ut_fn)(void);
void ut_register(const char *name, ut_fn fn);
/* Records a failed check of the running test; returns 0 so UT_CHECK reads as an expression. */
int ut_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The directory that holds tests/ (the repository root), from MOSYNC_SRC or ".". */
const char *ut_srcdir(void);

#define UT_TEST(name)                                                                              \
    static void ut_##name(void);                                                                   \
    __attribute__((constructor)) static void ut_reg_##name(void)                                   \
    {                                                                                              \
        ut_register(#name, ut_##name);                                                             \
    }                                                                                              \
    static void ut_##name(void)

#define UT_CHECK(cond, ...) ((cond) ? 1 : ut_fail(__FILE__, __LINE__, __VA_ARGS__))

#endif
