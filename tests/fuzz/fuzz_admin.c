/* libFuzzer target for what `mosync admin` reads from a browser: the Cookie
 * header (the session cookie's value), a form body, and a CSRF token.  The
 * input is "cookie header\nform body".  Nothing may crash, leak or read out
 * of bounds, and a value the key did not sign is never a session.  Build and
 * run: `make fuzz`. */
#include "admin.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static adm_auth auth;
    static int ready;
    if (!ready) {
        sb_key key;
        memset(key.bytes, 0x5a, sizeof(key.bytes));
        adm_auth_init(&auth, &key, "fuzz-password");
        ready = 1;
    }
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *body = strchr(buf, '\n');
    if (body)
        *body++ = '\0';
    char value[ADM_COOKIE_SIZE], id[ADM_ID_HEX], field[512];
    if (adm_cookie_get(buf, "mosync_admin", value, sizeof(value)) &&
        adm_session_check(&auth, value, 0, id, NULL))
        abort(); /* no input forges a MAC */
    for (size_t i = 0; i < 3; i++) {
        static const char *const names[] = {"password", "csrf", "id"};
        if (adm_form_get(body, names[i], field, sizeof(field)) == 1 &&
            strlen(field) >= sizeof(field))
            abort();
    }
    (void)adm_csrf_ok(&auth, "00000000000000000000000000000000", body);
    (void)adm_password_ok(&auth, buf, strlen(buf));
    free(buf);
    return 0;
}
