"""The Mystore simulator's OAuth authorize page (GET/POST /oauth/authorize,
tests/sim/README.md "OAuth 2.0"): a consent page naming the client's shop and
the scopes asked; Allow redirects with a single-use code bound to the client,
the redirect_uri and the scopes granted, Deny with error=access_denied; the
token endpoint answers the granted scopes and checks the redirect_uri; a
shop's /_sim/oauth/grant drops or adds scopes.  Simulator only: no mosync,
Redis or Kafka."""

import base64
import contextlib
import html.parser
import json
import shutil
import tempfile
import urllib.parse

from harness import SHOP, MystoreSim, check, consent_form, eq
from seedgen import make_seed

CLIENT, SECRET = "app-s7", "sec-s7-Qw3"
CALLBACK = "http://127.0.0.1:9/admin/callback"
SCOPES = ["read:orders", "write:orders", "read:order-status", "read:products"]


@contextlib.contextmanager
def sim_with_shop():
    """A Mystore simulator with shop #0 and shop s7, whose OAuth client is
    CLIENT; stopped afterwards (its log kept when the test fails)."""
    workdir = tempfile.mkdtemp(prefix="mosync-e2e-sim-authorize-")
    sim = MystoreSim(workdir, make_seed(orders=1, products=1, seed=71))
    ok = False
    try:
        s7 = sim.add_shop("s7", "tok-s7")
        s7.post("/oauth/clients", {"client_id": CLIENT, "client_secret": SECRET})
        yield sim, s7
        ok = True
    finally:
        sim.stop()
        if ok:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print("(simulator log kept in %s)" % workdir)


def redirect_args(location, base):
    """The query arguments of a redirect to base (checked), as a dict."""
    url = urllib.parse.urlsplit(location)
    eq("%s://%s%s" % (url.scheme, url.netloc, url.path), base, "redirect target")
    args = urllib.parse.parse_qs(url.query, keep_blank_values=True)
    check(all(len(v) == 1 for v in args.values()), "an argument twice: %s" % location)
    return {k: v[0] for k, v in args.items()}


def exchange(sim, code, redirect_uri=CALLBACK):
    form = {"grant_type": "authorization_code", "client_id": CLIENT, "client_secret": SECRET,
            "code": code}
    if redirect_uri is not None:
        form["redirect_uri"] = redirect_uri
    return sim.token(form)


def jwt_scopes(token):
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))["scopes"]


class Outline(html.parser.HTMLParser):
    """What the page's accessibility rests on: the tags seen, lang, title,
    headings, list items and button texts."""

    def __init__(self):
        super().__init__()
        self.tags, self.attrs, self.text = [], {}, {}
        self.stack = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.setdefault(tag, []).append(dict(attrs))
        if tag not in ("input", "meta"):
            self.stack.append(tag)
            self.text.setdefault(tag, []).append("")

    def handle_endtag(self, tag):
        if tag in self.stack:
            while self.stack.pop() != tag:
                pass

    def handle_data(self, data):
        for tag in set(self.stack):
            self.text[tag][-1] += data


def outline(page):
    o = Outline()
    o.feed(page)
    return o


def test_the_consent_page_names_the_shop_and_lists_the_scopes():
    with sim_with_shop() as (sim, s7):
        status, headers, page = sim.authorize_page(CLIENT, CALLBACK, SCOPES, state="st-1")
        eq(status, 200, "the page's status")
        check(headers["Content-Type"].startswith("text/html"), headers["Content-Type"])
        o = outline(page)
        eq(o.attrs["html"][0].get("lang"), "en", "lang")
        eq(len(o.text.get("title", [])), 1, "one title")
        check("s7" in o.text["title"][0], "the title names the shop: %r" % o.text["title"])
        eq(len(o.text.get("main", [])), 1, "one main")
        eq(len(o.text.get("h1", [])), 1, "one h1")
        check("s7" in o.text["h1"][0] and SHOP not in o.text["h1"][0],
              "the heading names the client's shop, s7: %r" % o.text["h1"])
        items = o.text["li"]
        eq(len(items), len(SCOPES), "one list item per scope asked: %r" % items)
        for scope, item in zip(SCOPES, items):
            check(scope in item, "%s listed in %r" % (scope, item))
        eq([b.strip() for b in o.text["button"]], ["Allow", "Deny"], "the buttons")

        # The form carries the request back, the state included.
        form = consent_form(page)
        eq((form["method"], form["action"]), ("post", "/oauth/authorize"), "the form")
        eq(form["fields"], {"client_id": CLIENT, "redirect_uri": CALLBACK,
                            "response_type": "code", "scope": " ".join(SCOPES),
                            "state": "st-1"}, "hidden fields")
        eq(form["buttons"], {"allow": "decision", "deny": "decision"}, "buttons' values")

        # Text from the request is escaped, never markup.
        status, _, page = sim.authorize_page(CLIENT, CALLBACK, ["read:<b>x</b>"],
                                             state='"><script>alert(1)</script>')
        eq(status, 200, "the page with odd input")
        check("<script>" not in page and "<b>x" not in page, "unescaped input: %s" % page)
        eq(consent_form(page)["fields"]["state"], '"><script>alert(1)</script>',
           "the state survives escaping")
        eq(s7.get("/oauth")["consent"]["pages"], 2, "pages shown by s7")
        eq(sim.get("/_sim/oauth")["consent"]["pages"], 0, "shop #0 showed none")


def test_allow_redirects_with_a_code_that_exchanges_once_with_its_redirect_uri():
    with sim_with_shop() as (sim, s7):
        state = "s t&a=te/1"
        args = redirect_args(s7.consent(CLIENT, CALLBACK, SCOPES, state), CALLBACK)
        eq(set(args), {"code", "state"}, "redirect arguments")
        eq(args["state"], state, "state returned as sent")
        code = args["code"]
        listed = s7.get("/oauth")["consent"]
        eq((listed["allowed"], listed["codes_issued"]), (1, 1), "consents counted")
        eq({k: listed["codes"][0][k] for k in ("code", "client_id", "redirect_uri", "scopes",
                                               "used")},
           {"code": code, "client_id": CLIENT, "redirect_uri": CALLBACK, "scopes": SCOPES,
            "used": False}, "the code listed")

        # RFC 6749 4.1.3: another redirect_uri, or none, is refused, and the
        # code stays good for the right one.
        status, body = exchange(sim, code, CALLBACK + "x")
        eq((status, body["error"]), (400, "invalid_grant"), "another redirect_uri")
        status, body = exchange(sim, code, None)
        eq((status, body["error"]), (400, "invalid_grant"), "no redirect_uri")
        status, grant = exchange(sim, code)
        eq(status, 200, "exchanged: %r" % grant)
        eq(grant["scope"], " ".join(SCOPES), "the token answer's scope")
        eq(jwt_scopes(grant["access_token"]), SCOPES, "the JWT's scopes")
        eq(s7.api_call("orders", token=grant["access_token"])[0], 200, "the token works on s7")
        status, body = exchange(sim, code)
        eq((status, body["error"]), (400, "invalid_grant"), "the code a second time")
        check(s7.get("/oauth")["consent"]["codes"][0]["used"], "the code listed as used")

        # A refresh keeps the chain's scopes.
        status, again = sim.token({"grant_type": "refresh_token", "client_id": CLIENT,
                                   "client_secret": SECRET,
                                   "refresh_token": grant["refresh_token"]})
        eq(status, 200, "refreshed: %r" % again)
        eq(again["scope"], " ".join(SCOPES), "the refreshed answer's scope")
        eq(jwt_scopes(again["access_token"]), SCOPES, "the refreshed JWT's scopes")

        # A redirect_uri with a query of its own keeps it.
        with_query = CALLBACK + "?tenant=t1"
        args = redirect_args(s7.consent(CLIENT, with_query, ["read:orders"], "x"), CALLBACK)
        eq((args["tenant"], args["state"]), ("t1", "x"), "the callback's own query kept")
        eq(exchange(sim, args["code"], with_query)[0], 200, "exchanged with that redirect_uri")

        # A code of /_sim/oauth/codes (no consent) still grants everything.
        test_code = s7.post("/oauth/codes", {"client_id": CLIENT})["code"]
        status, grant = exchange(sim, test_code, "http://anything.invalid/")
        eq((status, grant.get("scope")), (200, "*"), "a test code's grant")


def test_deny_redirects_with_access_denied_and_the_state():
    with sim_with_shop() as (sim, s7):
        args = redirect_args(s7.consent(CLIENT, CALLBACK, SCOPES, "st-9", decision="deny"),
                             CALLBACK)
        eq(args, {"error": "access_denied", "state": "st-9"}, "redirect arguments")
        o = s7.get("/oauth")["consent"]
        eq((o["denied"], o["allowed"], o["codes_issued"]), (1, 0, 0), "nothing issued")
        # Without a state the redirect has none.
        args = redirect_args(s7.consent(CLIENT, CALLBACK, SCOPES, None, decision="deny"),
                             CALLBACK)
        eq(args, {"error": "access_denied"}, "redirect arguments without state")


def test_a_shops_grant_setting_drops_and_adds_scopes():
    with sim_with_shop() as (sim, s7):
        sim.post("/_sim/oauth/clients", {"client_id": "app-demo", "client_secret": "sd"})
        eq(s7.grant(drop=["write:orders"], add=["hide:cost"]),
           {"drop": ["write:orders"], "add": ["hide:cost"]}, "the setting")
        code = redirect_args(s7.consent(CLIENT, CALLBACK, SCOPES), CALLBACK)["code"]
        status, grant = exchange(sim, code)
        eq(status, 200, "exchanged: %r" % grant)
        expected = ["read:orders", "read:order-status", "read:products", "hide:cost"]
        eq(grant["scope"].split(" "), expected, "the token answer's scope")
        eq(jwt_scopes(grant["access_token"]), expected, "the JWT's scopes")
        eq(s7.get("/oauth")["consent"]["codes"][0]["scopes"], expected, "the code's scopes")

        # Shop #0 is not touched by s7's setting.
        code = redirect_args(sim.consent("app-demo", CALLBACK, SCOPES), CALLBACK)["code"]
        status, grant = sim.token({"grant_type": "authorization_code", "client_id": "app-demo",
                                   "client_secret": "sd", "code": code,
                                   "redirect_uri": CALLBACK})
        eq((status, grant.get("scope")), (200, " ".join(SCOPES)), "shop #0's grant")

        # {} resets; a bad setting is refused and changes nothing.
        eq(s7.post("/oauth/grant", {}), {"drop": [], "add": []}, "reset")
        for bad in ({"drop": "write:orders"}, {"add": ["two words"]}, {"keep": []}):
            eq(s7.call("POST", "/oauth/grant", bad)[0], 400, "setting %r" % bad)
        eq(s7.get("/oauth/grant"), {"drop": [], "add": []}, "after refused settings")
        code = redirect_args(s7.consent(CLIENT, CALLBACK, SCOPES), CALLBACK)["code"]
        eq(exchange(sim, code)[1]["scope"], " ".join(SCOPES), "everything asked, after reset")


def test_a_bad_request_answers_a_400_page_and_no_redirect():
    with sim_with_shop() as (sim, s7):
        cases = [
            (("nobody", CALLBACK, SCOPES, "s", "code"), "nobody"),
            ((CLIENT, None, SCOPES, "s", "code"), "redirect_uri"),
            ((CLIENT, "ftp://x/cb", SCOPES, "s", "code"), "redirect_uri"),
            ((CLIENT, CALLBACK + "#frag", SCOPES, "s", "code"), "fragment"),
            ((CLIENT, CALLBACK, SCOPES, "s", "token"), "response_type"),
            ((CLIENT, CALLBACK, SCOPES, "s", None), "response_type"),
        ]
        for args, says in cases:
            status, headers, page = sim.authorize_page(*args)
            eq(status, 400, "GET %r" % (args,))
            check(headers.get("Location") is None, "a redirect for %r" % (args,))
            check(headers["Content-Type"].startswith("text/html"), headers["Content-Type"])
            o = outline(page)
            eq(len(o.text.get("h1", [])), 1, "one h1 on the error page")
            check(says in o.text["main"][0], "%r says what is wrong: %r" % (args, o.text["main"]))

        # The form's POST is checked the same way, and needs a decision.
        fields = {"client_id": "nobody", "redirect_uri": CALLBACK, "response_type": "code",
                  "decision": "allow"}
        status, headers, _ = sim.http("POST", "/oauth/authorize", fields)
        eq((status, headers.get("Location")), (400, None), "POST with an unknown client")
        fields["client_id"] = CLIENT
        del fields["decision"]
        status, headers, page = sim.http("POST", "/oauth/authorize", fields)
        eq((status, headers.get("Location")), (400, None), "POST without a decision")
        check("decision" in page, "the page names the decision")
        eq(s7.get("/oauth")["consent"]["codes_issued"], 0, "no code issued")
        eq(s7.get("/oauth")["consent"]["refused"], 6, "s7's refusals")
        eq(sim.get("/_sim/oauth")["consent"]["refused"], 2, "unknown clients count on shop #0")
