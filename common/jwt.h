/* Reading a JWT's claims (never verifying it: that is the API's job).  An
 * OAuth access token of Mystore is an RS256 JWT (Laravel Passport) with
 * aud, jti, iat, nbf, exp, sub, scopes; mosync reads exp (when to refresh)
 * and `mosync doctor` reads scopes.  The one decoder of both. */
#ifndef MO_JWT_H
#define MO_JWT_H

#include <jansson.h>
#include <stddef.h>

/* The claims (the payload) of token when it is header.payload.signature
 * with a base64url JSON object as payload: new reference, NULL when it is
 * not one.  A payload over 8 KiB is not read.  Pure. */
json_t *jwt_claims(const char *token);

/* The token's exp and iat claims (UTC seconds) into *exp and *iat (0 when
 * absent or not a positive number).  Returns 1 when the token is a JWT with
 * an exp, 0 otherwise.  Pure (the fuzz target of the doctor covers it). */
int jwt_times(const char *token, long long *exp, long long *iat);

#endif
