/* libFuzzer target for the text mosync writes about outside input: secret
 * masking before cutting, UTF-8 cuts and escapes, URL redaction, and the
 * parsers of times and versions.  Build and run: `make fuzz`. */
#include "event.h"
#include "http.h"
#include "log.h"
#include "mapping.h"
#include "tz.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    char out[300], *s;
    if (!init) {
        lg_add_secret("fuzz-secret-token-7Qz");
        lg_add_secret("secret-token");
        lg_add_secret("p@ss%word\"x");
        init = 1;
    }
    s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';

    lg_quote(s, size, 200, out, sizeof(out));
    lg_quote(s, size, 5, out, 8);
    (void)lg_utf8_cut(s, size, size / 2);
    (void)lg_utf8_valid(s, size);
    char *esc = lg_utf8_escape(s, size);
    free(esc);
    char copy[512];
    size_t n = strlen(s) < sizeof(copy) - 1 ? strlen(s) : sizeof(copy) - 1;
    memcpy(copy, s, n);
    copy[n] = '\0';
    lg_mask_secrets(copy, sizeof(copy));
    (void)hc_url_redact(s, out, sizeof(out));

    long long ms;
    struct tm tm;
    double d;
    const char *iso;
    char errstr[128];
    (void)ev_utc_parse(s, &ms);
    (void)ev_version_older(s, "2026-10-25T00:50:00Z");
    (void)tz_parse_local(s, &tm);
    json_t *str = json_string(s);
    (void)mp_number(str, &d);
    json_decref(str);
    (void)mp_country_iso(s, &iso, errstr, sizeof(errstr));
    free(s);
    return 0;
}
