/* Helpers for the unit tests that need the network or a process around them:
 * a loopback HTTP server with a canned answer (or none at all), a private
 * redis-server, capture of stderr/stdout, and running a call in a thread with
 * a bound on the wait (a bound, never a measurement).  Tests only. */
#ifndef UT_NET_H
#define UT_NET_H

#include <stddef.h>

/* ---- loopback HTTP server --------------------------------------------- */

typedef struct ut_http ut_http;

/* Starts a server on 127.0.0.1 (a free port) in its own thread.  Each
 * complete request (headers plus Content-Length body) is answered with the
 * bytes of `response` (a whole HTTP/1.1 answer; copied); the connection stays
 * open for the next one.  response NULL: connections are accepted and read,
 * never answered.  NULL when the server cannot start. */
ut_http *ut_http_start(const char *response);
int ut_http_port(const ut_http *s);
/* Connections accepted and complete requests read so far. */
int ut_http_connections(ut_http *s);
int ut_http_requests(ut_http *s);
/* Replaces the canned answer (copied) for the following requests. */
void ut_http_set_response(ut_http *s, const char *response);
/* Stops the thread, closes every socket, frees s. */
void ut_http_stop(ut_http *s);

/* A port on 127.0.0.1 where nothing listens (bound, then closed). */
int ut_closed_port(void);

/* ---- private redis-server -------------------------------------------- */

typedef struct ut_redis {
    int pid;
    int port;
    char dir[128];
} ut_redis;

/* Starts redis-server on a free loopback port without persistence; extra
 * (NULL-terminated, may be NULL) is appended to its arguments.  Waits until it
 * listens.  0 on success. */
int ut_redis_start(ut_redis *r, const char *const *extra);
void ut_redis_stop(ut_redis *r);
/* Runs one command on r as its default user (password: NULL for none); 0 when
 * Redis answered without an error reply. */
int ut_redis_cmd(const ut_redis *r, const char *password, const char *const *argv);

/* ---- output capture --------------------------------------------------- */

/* Sends fd (1 or 2) to a temporary file until ut_capture_end(), which returns
 * what was written (malloc'd, NUL-terminated; free it). */
void ut_capture_start(int fd);
char *ut_capture_end(int fd);

/* ---- bounded calls ---------------------------------------------------- */

/* Runs fn(arg) in a thread and waits at most bound_ms for it to return.
 * Returns 1 when it returned.  When it did not, the thread is detached and
 * left running (arg must then stay valid: allocate it and let it leak), and
 * 0 is returned: the test fails, the process goes on. */
int ut_run_bounded(void (*fn)(void *), void *arg, long bound_ms);

/* Non-zero when some substring of `secret` of at least n bytes occurs in text. */
int ut_leaks(const char *text, const char *secret, size_t n);

#endif
