/* libFuzzer target for the time zone files mosync reads (issue 12 item 19):
 * the bytes as a TZif file (tz_zone_parse, then offsets at instants from the
 * far past to the far future, past the table into the footer's rule), and as
 * a POSIX TZ rule string.  Build and run: `make fuzz`. */
#include "tz.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const long long at[] = {LLONG_MIN,    -4102444800LL, 0,        1792888200LL,
                                   1800000000LL, 3812920200LL,  LLONG_MAX};
    char errstr[256];
    tz_zone *z = NULL;
    if (tz_zone_parse(data, size, &z, errstr, sizeof(errstr)) == MO_OK) {
        for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++)
            (void)tz_zone_offset(z, at[i]);
        tz_zone_free(z);
    }
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    long off;
    for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++)
        (void)tz_posix_offset(text, at[i], &off);
    free(text);
    return 0;
}
