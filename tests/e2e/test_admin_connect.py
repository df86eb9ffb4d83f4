"""`mosync admin` Connect and the OAuth callback (issue 14 step 1), over HTTP
with urllib (no browser): the warehouse's credentials checked against the
Ongoing simulator, the redirect to the Mystore simulator's authorize page,
the consent, the callback's code exchange and scope check, and the tenant in
the registry.  Every refusal (wrong WMS password, consent denied, a missing
or a "hide" scope, a forged or reused state, a replayed code) ends on a page
and stores nothing: no tenant, no pending connection left in Redis.  No
secret in any page or in the admin's log."""
import json
import random
import re
import string
import urllib.parse

from harness import OG_PASSWORD, OG_USER, SHOP, TOKEN, check, env_for, eq
from seedgen import make_seed
from test_admin import Admin, _check_page, _csrf
from test_secrets import leaks
from test_tenants import _process_env, _tenant

CLIENT_ID = "mosync-connect-test"
CLIENT_SECRET = "cs-Q9Z3X7V1-H4J8K2L6"
SCOPES_NEEDED = ("read:orders write:orders read:order-products read:order-product-attributes "
                 "read:order-totals read:order-status write:order-status-history read:products "
                 "write:products read:product-variants write:product-variants "
                 "read:product-options read:product-option-values").split()


def _start(env):
    """The admin with an OAuth client the Mystore simulator knows; (admin,
    password, cookie)."""
    rng = random.Random()
    password = "PW" + "".join(rng.choice(string.ascii_uppercase + string.digits)
                              for _ in range(18))
    env.mystore.post("/_sim/oauth/clients", {"client_id": CLIENT_ID,
                                             "client_secret": CLIENT_SECRET})
    env.env.update(MYSTORE_AUTH_URL=env.mystore.base, ADMIN_MYSTORE_CLIENT_ID=CLIENT_ID,
                   ADMIN_MYSTORE_CLIENT_SECRET=CLIENT_SECRET)
    admin = Admin(env, password)
    return admin, password, admin.login(password)


def _form(env, name, **over):
    f = {"tenant": name, "ongoing_url": env.ongoing.base + "/wh", "ongoing_user": OG_USER,
         "ongoing_password": OG_PASSWORD, "goods_owner": "1", "shop": SHOP,
         "mystore_url": env.mystore.base, "mystore_token": ""}
    f.update(over)
    return f


def _post_connect(admin, cookie, form):
    status, _, body = admin.call("GET", "/connect", cookie=cookie)
    eq(status, 200, "the Connect page")
    _check_page(body, "the Connect page")
    return admin.call("POST", "/connect", dict(form, csrf=_csrf(body)), cookie=cookie)


def _authorize(admin, cookie, form):
    """POSTs the form; returns the authorize redirect's query (a dict)."""
    status, headers, body = _post_connect(admin, cookie, form)
    eq(status, 302, "status of a good Connect form (%s)" % body[-600:])
    loc = headers["Location"]
    check(loc.startswith(admin.env_auth + "/oauth/authorize?"), "the redirect: %s" % loc)
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(loc).query))
    eq((q["client_id"], q["response_type"], q["redirect_uri"]),
       (CLIENT_ID, "code", admin.base + "/oauth/callback"), "the authorize parameters")
    eq(q["scope"].split(), SCOPES_NEEDED, "the scopes asked")
    check(len(q["state"]) == 32, "a state of 128 bits: %r" % q["state"])
    check(OG_PASSWORD not in loc, "the WMS password in the redirect")
    return q


def _consent(env, q, decision="allow"):
    """The simulator's consent; the callback's path and query on the admin."""
    loc = env.mystore.consent(q["client_id"], q["redirect_uri"], q["scope"].split(), q["state"],
                              decision)
    u = urllib.parse.urlparse(loc)
    return u.path + "?" + u.query


def _tenants(env):
    out, _ = _tenant(env, ["list", "--json"])
    return out


def _pending(env):
    return env.redis.cmd("KEYS", "mosync:{*}:admin:connect:*") or []


def _nothing_stored(env, name, what):
    check(name not in _tenants(env), "%s: a tenant %s was stored" % (what, name))
    eq(_pending(env), [], "%s: pending connections left" % what)


def _exchanged(env):
    return env.mystore.get("/_sim/oauth")["codes_exchanged"]


def test_connect_through_consent_creates_the_tenant_with_its_tokens():
    with env_for("admin-connect", make_seed(orders=3, products=4, seed=142)) as env:
        admin, password, cookie = _start(env)
        admin.env_auth = env.mystore.base
        status, _, body = admin.call("GET", "/", cookie=cookie)
        check('href="/connect"' in body, "no link to Connect on the tenants page")

        q = _authorize(admin, cookie, _form(env, "shop-a"))
        eq(len(_pending(env)), 1, "pending connections while Mystore asks")
        check(not _tenants(env).count("shop-a"), "a tenant before the consent")
        before = _exchanged(env)
        callback = _consent(env, q)
        # The browser comes back from another site: no session cookie (SameSite=Strict).
        status, headers, body = admin.call("GET", callback)
        eq(status, 200, "the callback's answer (%s)" % body[-600:])
        # A page, not a redirect: the link's click is same-site, so the
        # session cookie comes back with it.
        check('href="/tenants/shop-a/tune"' in body and "Shop connected" in body,
              "the callback's page leads to Fine-tune: %s" % body[-800:])
        _check_page(body, "the callback's page")
        eq(_exchanged(env) - before, 1, "codes exchanged at the token endpoint")
        eq(_pending(env), [], "pending connections after the callback")

        out, _ = _tenant(env, ["show", "shop-a", "--json"])
        rec = json.loads(out)
        eq(rec["state"], "connecting", "the new tenant's state")
        s = rec["settings"]
        for k, v in {"ONGOING_API_URL": env.ongoing.base + "/wh", "ONGOING_USER": OG_USER,
                     "ONGOING_GOODS_OWNER_ID": "1", "MYSTORE_SHOP": SHOP,
                     "MYSTORE_API_URL": env.mystore.base, "MYSTORE_AUTH_URL": env.mystore.base,
                     "MYSTORE_CLIENT_ID": CLIENT_ID, "STOCK_SYNC": "off"}.items():
            eq(str(s.get(k)).lower() if k == "STOCK_SYNC" else s.get(k), v, "setting %s" % k)
        for k in ("ONGOING_PASSWORD", "MYSTORE_CLIENT_SECRET", "MYSTORE_REFRESH_TOKEN",
                  "MYSTORE_TOKEN"):
            check(s.get(k) not in (None, ""), "secret %s not stored" % k)
        status, _, body = admin.call("GET", "/tenants/shop-a/tune?done=connected", cookie=cookie)
        eq(status, 200, "the new tenant's Fine-tune page")
        check("Connected" in body, "no word of the connection on the Fine-tune page")

        # The stored tokens work: resumed (Activate is to come), a poll of the
        # tenant reads the shop's orders with them.
        _tenant(env, ["resume", "shop-a"])
        _, stats, _ = env.run(["poll", "mystore-orders", "--once", "--tenant", "shop-a"],
                              extra_env=_process_env(env))
        eq(stats.get("orders_emitted"), 3, "orders the new tenant's poll published (%s)" % stats)

        # A pasted personal access token instead of OAuth: checked, then stored as it is.
        status, _, body = _post_connect(admin, cookie, _form(env, "shop-b",
                                                            mystore_token="wrong-token-123"))
        eq(status, 400, "a refused token")
        check("Mystore refused this token" in body, "the token's error: %s" % body[-800:])
        check("shop-b" not in _tenants(env), "a tenant with a refused token")
        status, headers, body = _post_connect(admin, cookie, _form(env, "shop-b",
                                                                  mystore_token=TOKEN))
        eq((status, headers["Location"]), (303, "/tenants/shop-b/tune?done=connected"),
           "a good pasted token (%s)" % body[-600:])
        eq(json.loads(_tenant(env, ["show", "shop-b", "--json"])[0])["state"], "connecting",
           "state of the token tenant")

        issued = env.mystore.get("/_sim/oauth/issued")
        secrets = [OG_PASSWORD, CLIENT_SECRET, TOKEN, password]
        for pair in issued if isinstance(issued, list) else issued.get("issued", []):
            secrets += [v for k, v in pair.items() if "token" in k and isinstance(v, str)]
        check(len(secrets) > 4, "no token issued to look for: %r" % issued)
        text = "\n".join(admin.pages)
        log = admin.log_text()
        for sec in secrets:
            eq(leaks(text, sec), [], "a secret in a page")
            eq(leaks(log, sec), [], "a secret in the admin's log")


def test_connect_refusals_store_nothing():
    with env_for("admin-connect-no", make_seed(orders=2, products=2, seed=143)) as env:
        admin, password, cookie = _start(env)
        admin.env_auth = env.mystore.base
        wrong = "Wx" + "".join(random.choice(string.ascii_letters) for _ in range(14))

        # Wrong WMS password: the form again, the message next to the password.
        status, _, body = _post_connect(admin, cookie,
                                        _form(env, "w1", ongoing_password=wrong))
        eq(status, 400, "a wrong WMS password")
        check("The warehouse refused this user or password" in body and
              'id="ongoing_password_error"' in body, "the message: %s" % body[-1200:])
        check('value="w1"' in body, "the form keeps what was typed")
        check(wrong not in body, "the typed password written back")
        _nothing_stored(env, "w1", "wrong WMS password")

        # A field left empty and a goods owner that is no number: errors next to them.
        status, _, body = _post_connect(admin, cookie, _form(env, "w2", ongoing_user="",
                                                            goods_owner="x1"))
        eq(status, 400, "a form with bad fields")
        check('id="ongoing_user_error"' in body and 'id="goods_owner_error"' in body,
              "errors next to the fields: %s" % body[-1500:])
        _nothing_stored(env, "w2", "bad fields")

        # A goods owner that is not the user's: the warehouse's 400 next to the field.
        status, _, body = _post_connect(admin, cookie, _form(env, "w3", goods_owner="77"))
        eq(status, 400, "a goods owner not the user's")
        check('id="goods_owner_error"' in body and "HTTP 400" in body,
              "the goods owner's error: %s" % body[-1500:])
        _nothing_stored(env, "w3", "a goods owner not the user's")

        # Consent denied at Mystore.
        q = _authorize(admin, cookie, _form(env, "d1"))
        status, _, body = admin.call("GET", _consent(env, q, "deny"))
        eq(status, 403, "a denied consent")
        check("Mystore access was not granted; start again" in body and 'href="/connect"' in body,
              "the denied page: %s" % body[-800:])
        _nothing_stored(env, "d1", "consent denied")

        # A missing scope, then a hide scope: a page naming it.
        shop = env.mystore.shop(SHOP)
        for drop, add, named in ((["write:orders"], [], "write:orders"),
                                 ([], ["hide:cost"], "hide:cost")):
            shop.grant(drop=drop, add=add)
            q = _authorize(admin, cookie, _form(env, "s1"))
            status, _, body = admin.call("GET", _consent(env, q))
            eq(status, 403, "a grant lacking %s" % named)
            check(named in body and "Nothing was stored" in body, "the page: %s" % body[-800:])
            _nothing_stored(env, "s1", "grant %s" % named)
        shop.grant()

        # A forged state, and a state used once already (reused): 400, nothing stored.
        status, _, body = admin.call("GET", "/oauth/callback?code=abc&state=" + "0" * 32)
        eq(status, 400, "a forged state")
        check("This link is no longer valid; start again" in body, "the page: %s" % body[-800:])
        q = _authorize(admin, cookie, _form(env, "r1"))
        callback = _consent(env, q)
        admin.call("GET", "/oauth/callback?error=access_denied&state=" + q["state"])
        before = _exchanged(env)
        status, _, body = admin.call("GET", callback)
        eq(status, 400, "a reused state")
        eq(_exchanged(env), before, "a code exchanged for a reused state")
        _nothing_stored(env, "r1", "reused state")

        # A replayed code: a new state, but a code spent already; Mystore refuses it.
        q1 = _authorize(admin, cookie, _form(env, "c1"))
        code = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(_consent(env, q1)).query))["code"]
        status, _, _ = admin.call("GET", "/oauth/callback?code=%s&state=%s" % (code, q1["state"]))
        eq(status, 200, "the first use of the code (the \"Shop connected\" page)")
        _tenant(env, ["remove", "c1", "--yes"])
        q2 = _authorize(admin, cookie, _form(env, "c1"))
        status, _, body = admin.call("GET", "/oauth/callback?code=%s&state=%s" % (code, q2["state"]))
        eq(status, 502, "a replayed code")
        check("Mystore refused the authorization code" in body and "invalid_grant" in body,
              "the page: %s" % body[-800:])
        _nothing_stored(env, "c1", "replayed code")

        text = "\n".join(admin.pages)
        log = admin.log_text()
        check(code not in log and q2["state"] not in log, "a code or a state in the admin's log")
        for sec in (OG_PASSWORD, wrong, CLIENT_SECRET, password):
            eq(leaks(text, sec), [], "a secret in a page")
            eq(leaks(log, sec), [], "a secret in the admin's log")


def test_connect_with_an_ongoing_customer_id():
    """O8: a customer id (digits) in "Warehouse system" becomes
    ADMIN_ONGOING_CUSTOMER_URL with {id} replaced, checked with the WMS user
    like a typed URL; without that setting the field says to type the URL,
    and nothing is stored."""
    with env_for("admin-customer-id", make_seed(orders=2, products=2, seed=144)) as env:
        admin, _, cookie = _start(env)
        status, _, body = _post_connect(admin, cookie, _form(env, "cid0", ongoing_url="4711",
                                                             mystore_token=TOKEN))
        eq(status, 400, "a customer id without ADMIN_ONGOING_CUSTOMER_URL")
        check(re.search(r'id="ongoing_url_error" class="error">This installation cannot look up '
                        r'a customer id', body), "the error next to the field: %s" % body[-900:])
        _nothing_stored(env, "cid0", "a customer id without the setting")

        env.env["ADMIN_ONGOING_CUSTOMER_URL"] = env.ongoing.base + "/customers/{id}"
        admin2, password2, cookie2 = _start(env)
        status, headers, body = _post_connect(admin2, cookie2, _form(
            env, "cid1", ongoing_url="4711", mystore_token=TOKEN))
        eq((status, headers.get("Location")), (303, "/tenants/cid1/tune?done=connected"),
           "a customer id with the setting (%s)" % body[-600:])
        rec = json.loads(_tenant(env, ["show", "cid1", "--json"])[0])
        eq(rec["settings"]["ONGOING_API_URL"], env.ongoing.base + "/customers/4711",
           "the system URL made of the customer id")
        status, _, body = _post_connect(admin2, cookie2, _form(
            env, "cid2", ongoing_url="4711", ongoing_password="wrong-pw-x1", mystore_token=TOKEN))
        eq(status, 400, "a customer id with a wrong WMS password")
        _nothing_stored(env, "cid2", "a wrong password behind a customer id")


def test_reconnect_from_the_banner_renews_the_tokens():
    """A tenant whose refresh token Mystore refused needs reconnect: its page
    says so with a Reconnect button, which goes through Mystore's consent
    again and renews only its tokens; the tenant then reads the shop again."""
    with env_for("admin-reconnect", make_seed(orders=2, products=2, seed=145)) as env:
        admin, password, cookie = _start(env)
        admin.env_auth = env.mystore.base
        q = _authorize(admin, cookie, _form(env, "re1"))
        status, _, _ = admin.call("GET", _consent(env, q))
        eq(status, 200, "the callback")
        _tenant(env, ["resume", "re1"])
        pe = _process_env(env)
        poll = ["poll", "mystore-orders", "--once", "--tenant", "re1"]
        env.run(poll, extra_env=pe)
        # Mystore refuses the chain: revoked, and the access token expired.
        check(env.mystore.post("/_sim/oauth/revoke", {"client_id": CLIENT_ID})["revoked"] >= 1,
              "a refresh token revoked")
        env.mystore.post("/_sim/oauth/expire", {"client_id": CLIENT_ID})
        env.run(poll, extra_env=pe, expect_rc=None)
        before = json.loads(_tenant(env, ["show", "re1", "--json"])[0])

        status, _, body = admin.call("GET", "/tenants/re1", cookie=cookie)
        eq(status, 200, "the tenant page")
        _check_page(body, "the tenant page needing reconnect")
        check("Needs reconnect" in body and 'action="/tenants/re1/reconnect"' in body,
              "no reconnect banner with its button: %s" % body[:3000])
        # Without its CSRF token: refused, no pending connection.
        status, _, _ = admin.call("POST", "/tenants/re1/reconnect", {}, cookie=cookie)
        eq(status, 403, "a reconnect without its CSRF token")
        eq(_pending(env), [], "pending connections after a refused reconnect")

        status, headers, _ = admin.call("POST", "/tenants/re1/reconnect", {"csrf": _csrf(body)},
                                        cookie=cookie)
        eq(status, 302, "the reconnect's redirect to Mystore")
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(headers["Location"]).query))
        eq(q["scope"].split(), SCOPES_NEEDED, "the scopes asked again")
        status, _, body = admin.call("GET", _consent(env, q))
        eq(status, 200, "the reconnect's callback (%s)" % body[-600:])
        check("Shop reconnected" in body and 'href="/tenants/re1"' in body, "the page")
        after = json.loads(_tenant(env, ["show", "re1", "--json"])[0])
        eq({k: v for k, v in after["settings"].items() if not k.startswith("MYSTORE_")},
           {k: v for k, v in before["settings"].items() if not k.startswith("MYSTORE_")},
           "the warehouse settings after a reconnect")
        eq(after["state"], "active", "the state after a reconnect")
        eq(_pending(env), [], "pending connections after the reconnect")
        env.run(poll, extra_env=pe)  # exit 0: the shop read with the new tokens
        status, _, body = admin.call("GET", "/tenants/re1", cookie=cookie)
        check("Needs reconnect" not in body, "the banner after the reconnect")
        for sec in [OG_PASSWORD, CLIENT_SECRET, password]:
            eq(leaks("\n".join(admin.pages), sec), [], "a secret in a page")
            eq(leaks(admin.log_text(), sec), [], "a secret in the admin's log")
