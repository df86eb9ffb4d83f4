/* `mosync admin`: the password, the session cookie, the CSRF token, and the
 * checks of a request's peer, cookies and form (see admin.h).  Pure but for
 * the random session ids. */
#include "admin.h"
#include "sha256.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static const char adm_hex[] = "0123456789abcdef";

static void adm_to_hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = adm_hex[b[i] >> 4];
        out[2 * i + 1] = adm_hex[b[i] & 15];
    }
    out[2 * n] = '\0';
}

/* HMAC(key, label NUL extra) as a sub-key: one secret, keys that never
 * meet.  extra (may be NULL) is at most a password (mo_config holds 255
 * bytes). */
static void adm_derive(const sb_key *key, const char *label, const char *extra, uint8_t out[32])
{
    char msg[512];
    int n = snprintf(msg, sizeof(msg), "%s%c%s", label, '\0', extra ? extra : "");
    sha256_hmac(key->bytes, SB_KEY_LEN, msg, n > 0 && (size_t)n < sizeof(msg) ? (size_t)n : 0, out);
    memset(msg, 0, sizeof(msg));
}

void adm_auth_init(adm_auth *a, const sb_key *key, const char *password)
{
    adm_derive(key, "mosync admin session v1", password, a->session_key);
    adm_derive(key, "mosync admin password v1", NULL, a->password_key);
    sha256_hmac(a->password_key, sizeof(a->password_key), password, strlen(password),
                a->password_mac);
}

void adm_auth_wipe(adm_auth *a)
{
    memset(a, 0, sizeof(*a));
}

int adm_password_ok(const adm_auth *a, const char *given, size_t len)
{
    uint8_t mac[32];
    sha256_hmac(a->password_key, sizeof(a->password_key), given, len, mac);
    int ok = sha256_ct_equal(mac, a->password_mac, sizeof(mac));
    memset(mac, 0, sizeof(mac));
    return ok;
}

/* The MAC of "v1.<expiry>.<id>" in hex (ADM_TOKEN_HEX). */
static void adm_session_mac(const adm_auth *a, const char *signed_part, char *hex)
{
    uint8_t mac[32];
    sha256_hmac(a->session_key, sizeof(a->session_key), signed_part, strlen(signed_part), mac);
    adm_to_hex(mac, sizeof(mac), hex);
}

mo_err adm_session_new(const adm_auth *a, time_t now, char *cookie, char *id, char *errstr,
                       size_t errstr_size)
{
    uint8_t raw[16];
    char part[96], mac[ADM_TOKEN_HEX];
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        return mo_seterr(MO_ERR_TRANSIENT, errstr, errstr_size,
                         "no random bytes for a session id: %s", strerror(errno));
    adm_to_hex(raw, sizeof(raw), id);
    snprintf(part, sizeof(part), "v1.%lld.%s", (long long)(now + ADM_SESSION_S), id);
    adm_session_mac(a, part, mac);
    snprintf(cookie, ADM_COOKIE_SIZE, "%s.%s", part, mac);
    return MO_OK;
}

int adm_session_check(const adm_auth *a, const char *value, time_t now, char *id, time_t *expires)
{
    char part[96], mac[ADM_TOKEN_HEX];
    const char *dot = value ? strrchr(value, '.') : NULL;
    if (!dot || strncmp(value, "v1.", 3) || (size_t)(dot - value) >= sizeof(part) ||
        strlen(dot + 1) != ADM_TOKEN_HEX - 1)
        return 0;
    memcpy(part, value, (size_t)(dot - value));
    part[dot - value] = '\0';
    adm_session_mac(a, part, mac);
    if (!sha256_ct_equal(mac, dot + 1, ADM_TOKEN_HEX - 1))
        return 0;
    /* Signed by us, so well-formed: "v1.<expiry>.<id>". */
    char *end;
    long long exp = strtoll(part + 3, &end, 10);
    if (*end != '.' || strlen(end + 1) != ADM_ID_HEX - 1 || exp <= (long long)now)
        return 0;
    memcpy(id, end + 1, ADM_ID_HEX);
    if (expires)
        *expires = (time_t)exp;
    return 1;
}

void adm_csrf_token(const adm_auth *a, const char *id, char *token)
{
    char msg[64];
    uint8_t mac[32];
    snprintf(msg, sizeof(msg), "csrf.%s", id);
    sha256_hmac(a->session_key, sizeof(a->session_key), msg, strlen(msg), mac);
    adm_to_hex(mac, sizeof(mac), token);
}

int adm_csrf_ok(const adm_auth *a, const char *id, const char *token)
{
    char want[ADM_TOKEN_HEX];
    if (!token || strlen(token) != ADM_TOKEN_HEX - 1)
        return 0;
    adm_csrf_token(a, id, want);
    return sha256_ct_equal(want, token, ADM_TOKEN_HEX - 1);
}

/* IPv4 bytes (network order) of 127.0.0.0/8? */
static int adm_v4_loopback(const unsigned char *b)
{
    return b[0] == 127;
}

/* An IPv6 address that is ::1 or an IPv4-mapped loopback (::ffff:127.x.y.z:
 * a dual-stack socket sees IPv4 peers so). */
static int adm_v6_loopback(const unsigned char *b)
{
    static const unsigned char one[16] = {[15] = 1};
    static const unsigned char mapped[12] = {[10] = 0xff, [11] = 0xff};
    return !memcmp(b, one, 16) || (!memcmp(b, mapped, 12) && adm_v4_loopback(b + 12));
}

int adm_addr_loopback(const char *addr)
{
    unsigned char b[16];
    if (inet_pton(AF_INET, addr, b) == 1)
        return adm_v4_loopback(b);
    if (inet_pton(AF_INET6, addr, b) == 1)
        return adm_v6_loopback(b);
    return 0;
}

int adm_peer_allowed(int listen_loopback, const struct sockaddr *peer)
{
    if (!listen_loopback)
        return 1;
    if (peer && peer->sa_family == AF_INET)
        return adm_v4_loopback(
            (const unsigned char *)&((const struct sockaddr_in *)peer)->sin_addr.s_addr);
    if (peer && peer->sa_family == AF_INET6)
        return adm_v6_loopback(
            (const unsigned char *)((const struct sockaddr_in6 *)peer)->sin6_addr.s6_addr);
    return 0; /* unknown: refused */
}

int adm_cookie_get(const char *header, const char *name, char *out, size_t size)
{
    size_t n = strlen(name);
    for (const char *p = header; p && *p;) {
        while (*p == ' ' || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > n && !strncmp(p, name, n) && p[n] == '=') {
            if (len - n - 1 >= size)
                return 0;
            memcpy(out, p + n + 1, len - n - 1);
            out[len - n - 1] = '\0';
            return 1;
        }
        p += len;
    }
    return 0;
}

static int adm_unhex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int adm_form_get(const char *body, const char *name, char *out, size_t size)
{
    size_t n = strlen(name);
    for (const char *p = body; p && *p;) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len >= n && !strncmp(p, name, n) && (len == n || p[n] == '=')) {
            size_t o = 0;
            for (const char *q = p + n + (len > n); q < p + len; q++) {
                int c = (unsigned char)*q;
                if (c == '+') {
                    c = ' ';
                } else if (c == '%') {
                    int hi = q + 2 < p + len ? adm_unhex(q[1]) : -1;
                    int lo = hi >= 0 ? adm_unhex(q[2]) : -1;
                    if (lo < 0)
                        return -1;
                    c = hi * 16 + lo;
                    q += 2;
                }
                if (!c || o + 1 >= size)
                    return -1;
                out[o++] = (char)c;
            }
            out[o] = '\0';
            return 1;
        }
        p += len + (end != NULL);
    }
    return 0;
}
