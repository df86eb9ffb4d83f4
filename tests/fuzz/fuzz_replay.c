/* libFuzzer target for `mosync replay`'s options (issue 12 item 19): the
 * input's lines are argv after the command name (the flow, --from-time T,
 * --to-time T, --from-offset N, --partition P, ...); replay_args_check must
 * accept or refuse every one without crashing.  Build and run: `make fuzz`. */
#include "replay.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ARGS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *argv[FUZZ_ARGS + 1];
    int argc = 0;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    for (char *line = text, *next; line && argc < FUZZ_ARGS; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        argv[argc++] = line;
    }
    argv[argc] = NULL;
    (void)replay_args_check(argc, argv);
    free(text);
    return 0;
}
