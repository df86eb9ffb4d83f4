/* libFuzzer target for what `mosync dlq` and the appliers read back from
 * Kafka and Redis: dead-letter headers into a letter, letter ids, the
 * records of mosync.dlq.state folded onto letters, and the values of the
 * Redis index of open letters (dlq_open_parse) with the rule that judges
 * them (dlq_resolves).  Nothing may crash, leak or read out of bounds,
 * whatever the bytes.  Build and run: `make fuzz` (clang). */
#include "dlq_state.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *names[] = {
    "mosync.source",       "mosync.partition",       "mosync.offset",
    "mosync.key",          "mosync.component",       "mosync.error.class",
    "mosync.error",        "mosync.attempts",        "mosync.first.failure",
    "mosync.last.failure", "mosync.value.truncated", "mosync.source.version",
    "mosync.tenant"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dlq_draft d;
    dlq_letters ls;
    int32_t p;
    int64_t o;
    static dlq_open_entry entries[DLQ_OPEN_MAX];
    dlq_draft_init(&d, 0, 1);
    memset(&ls, 0, sizeof(ls));
    /* Every header gets the bytes (not NUL-terminated: as librdkafka hands them). */
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        dlq_letter_header(&d, names[i], (const char *)data, size);
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    dlq_id_parse(text, &p, &o);
    if (dlq_letters_add(&ls, &d) == MO_OK) {
        json_t *rec = json_loadb((const char *)data, size, 0, NULL);
        dlq_letters_fold(&ls, "0:1", rec);
        dlq_letters_fold(&ls, text, rec);
        json_decref(rec);
        dlq_filter f = {.flow = text, .entity = text, .error_class = text, .tenant = "t1"};
        dlq_filter_match(&f, &ls.v[0]);
        dlq_open_entry e;
        char buf[160];
        dlq_open_entry_of(&ls.v[0], &e);
        dlq_open_format(&e, buf, sizeof(buf));
    }
    /* An index value as Redis returns it, judged against an event whose
     * version and re-drive header are the same bytes. */
    int n = dlq_open_parse((const char *)data, size, entries, DLQ_OPEN_MAX);
    dlq_applied a = {.version = text, .redrive_of = text, .partition = 0, .offset = 1};
    dlq_applied b = {.version = text, .partition = 0, .offset = 1, .ts_ms = 1};
    for (int i = 0; i < n; i++) {
        char buf[160];
        dlq_resolves(&entries[i], &a);
        dlq_resolves(&entries[i], &b);
        dlq_open_format(&entries[i], buf, sizeof(buf));
    }
    dlq_letters_free(&ls);
    free(text);
    return 0;
}
