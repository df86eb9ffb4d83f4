/* libFuzzer target for what `mosync webhooks` reads from a sender: the path
 * (route parsing), the X-No-Mystore-Topic header, and a signature or token
 * header against a body.  The input is "path\ntopic\nheader\nbody".  Nothing
 * may crash, leak or read out of bounds.  Build and run: `make fuzz`. */
#include "webhooks.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *parts[4] = {buf, "", "", ""};
    for (int i = 1; i < 4; i++) {
        char *nl = strchr(parts[i - 1], '\n');
        if (!nl)
            break;
        *nl = '\0';
        parts[i] = nl + 1;
    }
    char source[32], tenant[80];
    if (wh_route_parse(parts[0], source, sizeof(source), tenant, sizeof(tenant)) == 0 &&
        (strlen(source) >= sizeof(source) || strlen(tenant) >= sizeof(tenant)))
        abort();
    (void)wh_mystore_stream(parts[1]);
    size_t blen = size - (size_t)(parts[3] - buf);
    if (parts[3] == buf + size || parts[3] < buf || parts[3] > buf + size)
        blen = 0;
    (void)wh_mystore_signed("fuzz-secret-123", parts[3], blen, parts[2]);
    (void)wh_token_equal("fuzz-token-456", parts[2]);
    free(buf);
    return 0;
}
