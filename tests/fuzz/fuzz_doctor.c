/* libFuzzer target for the parsers of `mosync doctor` (issue 12 item 19):
 * MYSTORE_TOKEN read as a JWT for its scopes (and an OAuth access token for
 * its exp and iat), the rate-limit headers of an
 * answer, and page[size] in a list answer's links.  The first line of the
 * input is the token; every line is also a header line; the whole input is
 * also a list answer (JSON) and a link.  Build and run: `make fuzz`. */
#include "doctor.h"
#include "jwt.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char limit[32], remaining[32], retry_after[32];
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    json_t *scopes = doctor_token_scopes(text);
    json_decref(scopes);
    long long exp, iat; /* the refresh's reading of an access token (common/jwt.c) */
    (void)jwt_times(text, &exp, &iat);
    for (const char *line = (const char *)data, *end = (const char *)data + size; line < end;) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        size_t len = nl ? (size_t)(nl - line) + 1 : (size_t)(end - line);
        doctor_rate_headers(line, len, limit, remaining, retry_after);
        line += len;
    }
    json_t *doc = json_loadb((const char *)data, size, 0, NULL);
    (void)doctor_link_size(doc, "next");
    (void)doctor_link_size(doc, "last");
    json_decref(doc);
    json_t *links = json_pack("{s:{s:s}}", "links", "next", text);
    (void)doctor_link_size(links, "next");
    json_decref(links);
    free(text);
    return 0;
}
