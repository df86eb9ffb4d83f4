/* libFuzzer target for what mosync reads back from Redis (issue 12 item 19):
 * a cache that anyone with access can write, so outside input like any
 * answer.  The bytes are, in turn, a lease token (ls_token_parse, as the
 * poller and `mosync status` read it), an applied record (parsed as
 * rs_get_json parses a value, then judged as the appliers judge it: same
 * request, older version) and a last-run record (split into HGETALL's field,
 * value list, shown by lr_view).  The poll cursors and the dead-letter index
 * have targets of their own with their modules.  The bytes are also a sealed
 * OAuth token of the token store (sb_open: it must refuse, never crash).
 * Nothing may crash, leak or
 * read out of bounds.  Build and run: `make fuzz`. */
#include "apply.h"
#include "event.h"
#include "lastrun.h"
#include "lease.h"
#include "secretbox.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), holder[64];
    long long fence;
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    ls_token_parse(text, &fence, holder, sizeof(holder));
    ls_token_parse(text, &fence, holder, 2);

    sb_key key;
    char *plain = NULL, why[256];
    size_t plain_len;
    memset(&key, 7, sizeof(key));
    if (sb_open(&key, "mosync:{t}:oauth:mystore:access_token", text, &plain, &plain_len, why,
                sizeof(why)) == MO_OK)
        sb_free(plain);

    json_t *rec = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    (void)apply_same_request(rec,
                             "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
    const char *version = json_string_value(json_object_get(rec, "version"));
    if (version) {
        (void)ev_version_older("2026-10-25T00:50:00Z", version);
        (void)ev_version_older(version, "2026-10-25 02:50:00");
    }
    json_decref(rec);

    json_t *fields = json_array();
    for (char *line = text, *next; fields && line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        json_array_append_new(fields, json_string(line)); /* NULL (not UTF-8): not appended */
    }
    json_t *view = lr_view(fields, 1795867200LL);
    json_decref(view);
    json_decref(fields);
    free(text);
    return 0;
}
