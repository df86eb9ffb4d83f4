/* libFuzzer target for what `mosync dlq` and the appliers read back from
 * Kafka: dead-letter headers into a letter, letter ids, and the records of
 * mosync.dlq.state folded onto letters.  Nothing may crash, leak or read out
 * of bounds, whatever the bytes.  Build and run: `make fuzz` (clang). */
#include "dlq_state.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *names[] = {
    "mosync.source",        "mosync.partition",    "mosync.offset",         "mosync.key",
    "mosync.component",     "mosync.error.class",  "mosync.error",          "mosync.attempts",
    "mosync.first.failure", "mosync.last.failure", "mosync.value.truncated"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dlq_letter l;
    dlq_letters ls;
    int32_t p;
    int64_t o;
    memset(&l, 0, sizeof(l));
    memset(&ls, 0, sizeof(ls));
    /* Every header gets the bytes (not NUL-terminated: as librdkafka hands them). */
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        dlq_letter_header(&l, names[i], (const char *)data, size);
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    dlq_id_parse(text, &p, &o);
    l.partition = 0;
    l.offset = 1;
    snprintf(l.id, sizeof(l.id), "0:1");
    if (dlq_letters_add(&ls, &l) == MO_OK) {
        json_t *rec = json_loadb((const char *)data, size, 0, NULL);
        dlq_letters_fold(&ls, "0:1", rec);
        dlq_letters_fold(&ls, text, rec);
        json_decref(rec);
        dlq_filter f = {.flow = text, .entity = text, .error_class = text, .tenant = "t1"};
        dlq_filter_match(&f, &ls.v[0]);
    }
    dlq_letters_free(&ls);
    free(text);
    return 0;
}
