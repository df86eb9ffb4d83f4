"""`mosync admin` (issue 14 groundwork): the operator's web app over HTTP,
driven with urllib (no browser).  A real admin process over real Redis, the
embedded broker and the simulators: login and its refusal, sessions, CSRF,
pause and resume through the page, a dead letter re-driven from the page
and then applied, the needs-reconnect banner, and no secret in any page or
in the process's log.  A peer outside ADMIN_LISTEN's scope cannot be made
over loopback: tests/unit/test_admin.c checks that refusal."""
import json
import os
import random
import re
import string
import subprocess
import urllib.error
import urllib.parse
import urllib.request

from harness import (MOSYNC, OG_PASSWORD, TOKEN, check, env_for, eq, free_port, run_checked,
                     wait_until)
from seedgen import make_seed
from test_ops_dlq import refuse_order, successful_puts
from test_secrets import leaks
from test_tenants import KEY, _process_env, _settings, _tenant

# A refresh token and client secret for the needs-reconnect tenant: never on a page.
CLIENT_SECRET = "cs-admin-Q7W2E9R4"
REFRESH_TOKEN = "rt-admin-Z5X8C1V6"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kw):
        return None  # the test looks at each 303 itself


_OPENER = urllib.request.build_opener(_NoRedirect)


class Admin:
    """A running `mosync admin` and an HTTP client of it."""

    def __init__(self, env, password):
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.pages = []  # every body served, for the secrets check
        e = dict(_process_env(env), ADMIN_LISTEN="127.0.0.1:%d" % self.port,
                 ADMIN_PASSWORD=password, LOG_LEVEL="debug")
        saved = dict(env.env)
        env.env = {k: v for k, v in saved.items() if k != "MOSYNC_TENANT"}
        try:
            self.proc = env.spawn(["admin"], extra_env=e)
        finally:
            env.env = saved
        self.log = self.proc._mosync_log.name
        wait_until(lambda: self._up(), 60, "mosync admin listening")

    def _up(self):
        if self.proc.poll() is not None:
            raise AssertionError("mosync admin exited %s: %s" % (self.proc.returncode,
                                                                 open(self.log).read()[-2000:]))
        try:
            return self.call("GET", "/login")[0] == 200
        except OSError:
            return False

    def call(self, method, path, form=None, cookie=None, headers=None):
        """(status, headers, body text) of one request; redirects are not followed."""
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if cookie:
            req.add_header("Cookie", "mosync_admin=" + cookie)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with _OPENER.open(req, timeout=120) as r:
                out = r.status, r.headers, r.read().decode()
        except urllib.error.HTTPError as e:
            out = e.code, e.headers, e.read().decode()
        self.pages.append(out[2])
        return out

    def login(self, password):
        status, headers, _ = self.call("POST", "/login", {"password": password})
        eq(status, 303, "status of a good login")
        eq(headers["Location"], "/", "where a login leads")
        set_cookie = headers["Set-Cookie"]
        for flag in ("HttpOnly", "SameSite=Strict", "Path=/"):
            check(flag in set_cookie, "the session cookie lacks %s: %s" % (flag, set_cookie))
        check("Secure" not in set_cookie, "Secure without ADMIN_SECURE_COOKIE=on")
        return re.match(r"mosync_admin=([^;]+)", set_cookie).group(1)

    def log_text(self):
        with open(self.log, errors="replace") as f:
            return f.read()


def _csrf(body):
    m = re.search(r'name="csrf" value="([0-9a-f]{64})"', body)
    check(m, "a form without its CSRF token")
    return m.group(1)


def _state(env, name):
    out, _ = _tenant(env, ["show", name, "--json"])
    return json.loads(out)["state"]


def _letters(env, tenant):
    rc, out, err = run_checked([MOSYNC, "dlq", "list", "--json", "--all", "--tenant", tenant],
                               _process_env(env), 120, "dlq list")
    eq(rc, 0, "dlq list exit (%s)" % err.decode()[-500:])
    return [json.loads(l) for l in out.decode().splitlines() if l.startswith("{")]


def _check_page(body, title):
    """What every page has: one h1, a title, the language, the viewport, no script."""
    eq(body.count("<h1"), 1, "h1 elements on %s" % title)
    check('<html lang="en">' in body, "%s: no lang" % title)
    check(re.search(r"<title>[^<]+</title>", body), "%s: no title" % title)
    check('name="viewport"' in body, "%s: no viewport" % title)
    check("<script" not in body, "%s: a script" % title)
    # Every visible field has a label naming it.
    # (the id attribute itself: aria-invalid="..." also ends in id=")
    for field in re.findall(r'<(?:input|select)\s(?![^>]*type="hidden")(?:[^>]*\s)?id="([^"]+)"',
                            body):
        check('<label for="%s"' % field in body, "%s: field %s without a label" % (title, field))


def test_admin_refuses_a_bad_listen_address_and_a_missing_password():
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "KAFKA_BROKERS": "127.0.0.1:1",
            "MOSYNC_SECRET_KEY": KEY}
    cases = [
        ({"ADMIN_PASSWORD": "pw-123456", "ADMIN_LISTEN": "localhost:8080"}, "ADMIN_LISTEN"),
        ({"ADMIN_PASSWORD": "pw-123456", "ADMIN_LISTEN": "127.0.0.1"}, "ADMIN_LISTEN"),
        ({"ADMIN_PASSWORD": "pw-123456", "ADMIN_LISTEN": "127.0.0.1:70000"}, "ADMIN_LISTEN"),
        ({"ADMIN_PASSWORD": "pw-123456", "ADMIN_LISTEN": "::1:8080"}, "ADMIN_LISTEN"),
        ({}, "ADMIN_PASSWORD"),
        ({"ADMIN_PASSWORD": "short"}, "ADMIN_PASSWORD"),
        ({"ADMIN_PASSWORD_FILE": "/nonexistent/admin_password"}, "ADMIN_PASSWORD_FILE"),
    ]
    for extra, name in cases:
        p = subprocess.run([MOSYNC, "admin"], env=dict(base, **extra), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        eq(p.returncode, 2, "exit status with %r" % extra)
        check(name in p.stderr.decode(), "%r: %s not named: %s" % (extra, name, p.stderr.decode()))
        check(b"pw-123456" not in p.stderr, "the password in the message")
    # Without MOSYNC_SECRET_KEY the registry's secrets do not open: named too.
    p = subprocess.run([MOSYNC, "admin"], env={"PATH": base["PATH"], "KAFKA_BROKERS": "x:1",
                                               "ADMIN_PASSWORD": "pw-123456"},
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    eq(p.returncode, 2, "exit status without MOSYNC_SECRET_KEY")
    check(b"MOSYNC_SECRET_KEY" in p.stderr, "MOSYNC_SECRET_KEY not named: %r" % p.stderr)


def test_admin_login_csrf_pause_resume_redrive_and_no_secret_anywhere():
    rng = random.Random()
    password = "PW" + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(18))
    seed = make_seed(orders=4, products=6, seed=141)
    refused = sorted(o["id"] for o in seed["orders"])[0]
    with env_for("admin", seed) as env:
        _tenant(env, ["add", "shop1"], stdin=_settings(env))
        _tenant(env, ["add", "oauth1"], stdin=_settings(
            env, MYSTORE_CLIENT_ID="mosync-admin-test", MYSTORE_CLIENT_SECRET=CLIENT_SECRET,
            MYSTORE_REFRESH_TOKEN=REFRESH_TOKEN))
        # Mystore refused oauth1's refresh token: its token store says so.
        env.redis.cmd("HSET", "mosync:{oauth1}:oauth:mystore", "reconnect_since",
                      "2026-11-28T12:20:11Z", "reconnect_reason", "invalid_grant: token revoked")

        # One of shop1's orders is refused by the warehouse for good: a dead letter.
        refuse_order(env, refused)
        pe = _process_env(env)
        env.run(["poll", "mystore-orders", "--once", "--tenant", "shop1"], extra_env=pe)
        _, s, _ = env.run(["apply", "orders", "--once", "--idle-ms", "2500", "--tenant", "shop1"],
                          extra_env=pe)
        eq((s["created"], s["dead_lettered"]), (3, 1), "(created, dead-lettered) of shop1")
        letter = [l for l in _letters(env, "shop1") if l["state"] == "open"]
        eq(len(letter), 1, "open letters of shop1")
        letter = letter[0]

        admin = Admin(env, password)
        # No session: pages lead to the login, actions are refused and change nothing.
        for path in ("/", "/tenants/shop1"):
            status, headers, _ = admin.call("GET", path)
            eq((status, headers["Location"]), (303, "/login"), "GET %s without a session" % path)
        status, _, _ = admin.call("POST", "/tenants/shop1/pause", {"csrf": "0" * 64})
        eq(status, 403, "a pause without a session")
        eq(_state(env, "shop1"), "active", "state after a pause without a session")
        status, headers, body = admin.call("GET", "/login")
        eq(status, 200, "the login page")
        # Under no-referrer a browser posts every form with "Origin: null",
        # which the Origin check refuses: no login at all (make browser found it).
        eq(headers["Referrer-Policy"], "same-origin", "the login page's Referrer-Policy")
        _check_page(body, "the login page")

        # A wrong password: 401, no cookie, logged without the password.
        status, headers, body = admin.call("POST", "/login", {"password": password[:-1] + "x"})
        eq(status, 401, "status of a wrong password")
        eq(headers["Set-Cookie"], None, "a cookie after a wrong password")
        check("Wrong password" in body and 'aria-invalid="true"' in body,
              "the error next to the field: %s" % body[-800:])
        wait_until(lambda: "login refused" in admin.log_text(), 30, "the refused login logged")

        cookie = admin.login(password)
        status, _, body = admin.call("GET", "/", cookie=cookie)
        eq(status, 200, "the tenants page")
        _check_page(body, "the tenants page")
        for name in ("shop1", "oauth1"):
            check('href="/tenants/%s"' % name in body, "no link to %s" % name)
        status, _, page = admin.call("GET", "/tenants/shop1", cookie=cookie)
        eq(status, 200, "shop1's page")
        _check_page(page, "shop1's page")
        for what in ("Pollers", "Flows", "mystore-orders", "Mystore API budget", "<svg",
                     letter["id"], "Re-drive", "3 in all"):
            check(what in page, "shop1's page lacks %r" % what)
        check("Needs reconnect" not in page, "shop1 needs no reconnect")
        token = _csrf(page)

        # CSRF: none, a wrong one, another site's Origin: 403 and nothing changed.
        for form, headers, what in (
                ({}, None, "no token"),
                ({"csrf": "f" * 64}, None, "a wrong token"),
                ({"csrf": token}, {"Origin": "http://evil.example"}, "another site's Origin")):
            status, _, _ = admin.call("POST", "/tenants/shop1/pause", form, cookie=cookie,
                                      headers=headers)
            eq(status, 403, "a pause with %s" % what)
            eq(_state(env, "shop1"), "active", "state after a pause with %s" % what)
        mark = len(env.ongoing.writes())
        status, _, _ = admin.call("POST", "/tenants/shop1/redrive", {"id": letter["id"]},
                                  cookie=cookie)
        eq(status, 403, "a re-drive without a token")
        eq(_letters(env, "shop1")[0]["state"], "open", "the letter after a refused re-drive")

        # Pause, then resume, through the page: the registry follows.
        status, headers, _ = admin.call("POST", "/tenants/shop1/pause", {"csrf": token},
                                        cookie=cookie)
        eq((status, headers["Location"]), (303, "/tenants/shop1?done=paused"), "pause")
        eq(_state(env, "shop1"), "paused", "state after pause")
        status, _, page = admin.call("GET", "/tenants/shop1?done=paused", cookie=cookie)
        check("Paused:" in page and ">Resume</button>" in page, "the page after pause")
        status, headers, _ = admin.call("POST", "/tenants/shop1/resume", {"csrf": token},
                                        cookie=cookie)
        eq((status, headers["Location"]), (303, "/tenants/shop1?done=resumed"), "resume")
        eq(_state(env, "shop1"), "active", "state after resume")

        # Re-drive from the page once the cause is fixed; the applier then applies it.
        env.ongoing.call("DELETE", "/_sim/fault")
        status, headers, body = admin.call("POST", "/tenants/shop1/redrive",
                                           {"csrf": token, "id": letter["id"]}, cookie=cookie)
        eq(status, 303, "re-drive status (%s)" % body[-500:])
        eq([l["state"] for l in _letters(env, "shop1")], ["redriven"], "the letter's state")
        eq(successful_puts(env, mark), {}, "writes before the applier ran")
        _, s, _ = env.run(["apply", "orders", "--once", "--idle-ms", "2500", "--tenant", "shop1"],
                          extra_env=pe)
        eq(s["created"], 1, "orders the applier created after the re-drive")
        eq(successful_puts(env, mark), {refused: 1}, "the re-driven order written once")
        wait_until(lambda: [l["state"] for l in _letters(env, "shop1")] == ["resolved"], 60,
                   "the letter resolved by the applier")
        status, _, page = admin.call("GET", "/tenants/shop1", cookie=cookie)
        check("4 in all" in page, "the chart counts the re-driven order")
        check("Open dead letters</h2>\n<p class=\"box\">None." in page, "open letters listed")
        status, _, body = admin.call("POST", "/tenants/shop1/redrive",
                                     {"csrf": token, "id": letter["id"]}, cookie=cookie)
        eq(status, 409, "re-drive of a letter no longer open")

        # The needs-reconnect banner.
        status, _, page = admin.call("GET", "/tenants/oauth1", cookie=cookie)
        eq(status, 200, "oauth1's page")
        check("Needs reconnect" in page and "invalid_grant" in page and 'role="alert"' in page,
              "the needs-reconnect banner")
        status, _, _ = admin.call("GET", "/tenants/nosuch", cookie=cookie)
        eq(status, 404, "a tenant that does not exist")

        # Logout: the cookie is cleared, and the old one is worth nothing.
        status, headers, _ = admin.call("POST", "/logout", {"csrf": token}, cookie=cookie)
        eq((status, headers["Location"]), (303, "/login"), "logout")
        check("Max-Age=0" in headers["Set-Cookie"], "the cookie cleared")
        status, headers, _ = admin.call("GET", "/", cookie=cookie)
        eq((status, headers["Location"]), (303, "/login"), "the old cookie after logout")
        status, _, _ = admin.call("POST", "/tenants/shop1/pause", {"csrf": token}, cookie=cookie)
        eq(status, 403, "a pause with the old cookie")
        eq(_state(env, "shop1"), "active", "state after a pause with the old cookie")

        # Guessing: ten wrong passwords in a minute, then even the right one waits.
        for _ in range(9):  # the test's first wrong password was one
            status, headers, _ = admin.call("POST", "/login", {"password": "guess-" + password})
            eq((status, headers["Set-Cookie"]), (401, None), "a wrong password")
        status, headers, body = admin.call("POST", "/login", {"password": password})
        eq((status, headers["Set-Cookie"]), (429, None), "the right password after ten wrong")
        check("wait a minute" in body, "the page says what to do: %s" % body[-600:])

        # No secret in any page served or in the admin's log.
        served = "\n".join(admin.pages)
        log = admin.log_text()
        for secret in (password, TOKEN, OG_PASSWORD, KEY, CLIENT_SECRET, REFRESH_TOKEN):
            eq(leaks(served, secret), [], "pieces of a secret in the pages")
            eq(leaks(log, secret), [], "pieces of a secret in the admin's log")
