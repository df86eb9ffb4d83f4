/* libFuzzer target for the configuration: the input is lines NAME=VALUE
 * that become the environment, then cfg_load reads and validates it (with
 * every "need"), and REDIS_URL is parsed as a URL.  Bad values must be refused
 * with a message, never crash.  Build and run: `make fuzz`. */
#include "config.h"
#include "log.h"
#include "store.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

extern char **environ;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), errstr[512];
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    clearenv();
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        char *eq = strchr(line, '=');
        if (!eq || eq == line)
            continue;
        *eq = '\0';
        setenv(line, eq + 1, 1);
        rs_url url;
        (void)rs_url_parse(eq + 1, &url, errstr, sizeof(errstr));
    }
    mo_config cfg;
    if (cfg_load(&cfg, CFG_NEED_KAFKA | CFG_NEED_REDIS | CFG_NEED_MYSTORE | CFG_NEED_ONGOING,
                 errstr, sizeof(errstr)) == MO_OK)
        cfg_free(&cfg);
    lg_forget_secrets(); /* each input registers its own */
    free(text);
    return 0;
}
