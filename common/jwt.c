/* JWT claims (see jwt.h). */
#include "jwt.h"

#include <stdlib.h>
#include <string.h>

#define JWT_PAYLOAD_MAX 8192

/* Base64url (JWT) decoding of src into a NUL-terminated dst; 0 on bad input. */
static int jwt_b64url(const char *src, size_t len, char *dst, size_t size)
{
    unsigned int acc = 0;
    int bits = 0;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)src[i], v;
        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= 'a' && c <= 'z')
            v = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            v = c - '0' + 52;
        else if (c == '-' || c == '+')
            v = 62;
        else if (c == '_' || c == '/')
            v = 63;
        else if (c == '=')
            break;
        else
            return 0;
        acc = (acc << 6) | (unsigned int)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n + 1 >= size)
                return 0;
            dst[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    dst[n] = '\0';
    return 1;
}

json_t *jwt_claims(const char *token)
{
    const char *dot1 = token ? strchr(token, '.') : NULL;
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (!dot2 || (size_t)(dot2 - dot1 - 1) > JWT_PAYLOAD_MAX / 3 * 4)
        return NULL;
    char *payload = malloc(JWT_PAYLOAD_MAX + 1);
    if (!payload)
        return NULL;
    json_t *claims = NULL;
    if (jwt_b64url(dot1 + 1, (size_t)(dot2 - dot1 - 1), payload, JWT_PAYLOAD_MAX + 1))
        claims = json_loads(payload, 0, NULL);
    free(payload);
    if (!json_is_object(claims)) {
        json_decref(claims);
        return NULL;
    }
    return claims;
}

/* A claim that is a positive number of seconds (integer or real), else 0. */
static long long jwt_seconds(const json_t *claims, const char *name)
{
    const json_t *v = json_object_get(claims, name);
    double d = json_is_integer(v) ? (double)json_integer_value(v)
               : json_is_real(v)  ? json_real_value(v)
                                  : 0;
    return d > 0 && d < 1e15 ? (long long)d : 0;
}

int jwt_times(const char *token, long long *exp, long long *iat)
{
    json_t *claims = jwt_claims(token);
    *exp = jwt_seconds(claims, "exp");
    *iat = jwt_seconds(claims, "iat");
    json_decref(claims);
    return *exp > 0;
}
