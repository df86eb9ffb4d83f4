/* Runs the registered unit tests.  See unit.h. */
#include "unit.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define UT_MAX 1024

static struct {
    const char *name;
    ut_fn fn;
} tests[UT_MAX];
static int ntests;
static int failed_checks;

void ut_register(const char *name, ut_fn fn)
{
    if (ntests == UT_MAX) {
        fprintf(stderr, "unit: too many tests\n");
        exit(2);
    }
    tests[ntests].name = name;
    tests[ntests].fn = fn;
    ntests++;
}

int ut_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stdout, "    %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    failed_checks++;
    return 0;
}

const char *ut_srcdir(void)
{
    const char *s = getenv("MOSYNC_SRC");
    return s && *s ? s : ".";
}

int main(int argc, char **argv)
{
    const char *filter = argc > 1 ? argv[1] : NULL;
    int passed = 0, failed = 0;

    for (int i = 0; i < ntests; i++) {
        if (filter && !strstr(tests[i].name, filter))
            continue;
        int before = failed_checks;
        tests[i].fn();
        if (failed_checks == before) {
            printf("ok   %s\n", tests[i].name);
            passed++;
        } else {
            printf("FAIL %s\n", tests[i].name);
            failed++;
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
