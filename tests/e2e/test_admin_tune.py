"""`mosync admin` Fine-tune, Try first and Activate (issue 14 step 2), over
HTTP with urllib (the browser test walks the same pages in Chromium).

A shop connected with a pasted token is fine-tuned from lists both APIs
gave (the shop's order statuses and shipping methods, the warehouse's ways
of delivery and order statuses), run dry beside `poll`/`apply
--all-tenants` processes: the page lists the orders it would create and the
warehouse hears no write.  Activate then sends every one of them, once, with
the way of delivery chosen on the page, and registers the Mystore webhooks.
Refusals change nothing.  Nothing is timed: the test waits for conditions."""
import json
import re
import urllib.parse

from harness import OG_PASSWORD, TOKEN, check, env_for, eq, wait_until
from seedgen import make_seed
from test_admin import _check_page, _csrf
from test_admin_connect import SCOPES_NEEDED, _form, _post_connect, _start, _tenants
from test_apply_tenants import _spawn
from test_secrets import leaks
from test_tenants import _tenant

NAME = "tune1"


def _record(env, name=NAME):
    return json.loads(_tenant(env, ["show", name, "--json"])[0])


def _tune_form(body):
    """The Fine-tune form as the browser would post it: every ticked box,
    every select's chosen option, every field's value."""
    form = {"csrf": _csrf(body)}
    for m in re.finditer(r'<input ([^>]*)>', body):
        attrs = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if "name" not in attrs or attrs["name"] == "csrf":
            continue
        if attrs.get("type") == "checkbox":
            if " checked" in m.group(0):
                form[attrs["name"]] = attrs.get("value", "on")
        else:
            form[attrs["name"]] = attrs.get("value", "")
    for m in re.finditer(r'<select id="([^"]+)" name="([^"]+)"[^>]*>(.*?)</select>', body, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', m.group(3))
        first = re.search(r'<option value="([^"]*)"', m.group(3))
        form[m.group(2)] = (chosen or first).group(1)
    return form


def _method_row(body, method):
    """The row number of a shipping method in the form."""
    m = re.search(r'name="method_(\d+)" value="%s"' % re.escape(method), body)
    check(m, "no row for the shipping method %r" % method)
    return m.group(1)


def _owner_orders(env):
    return sorted(o["orderNumber"] for o in env.ongoing.orders())


def test_fine_tune_try_first_then_activate_sends_each_order_once():
    seed = make_seed(orders=4, products=4, seed=150)
    with env_for("admin-tune", seed) as env:
        env.env["ADMIN_WEBHOOK_URL"] = "https://hooks.example.test"
        admin, password, cookie = _start(env)
        status, headers, body = _post_connect(admin, cookie, _form(env, NAME,
                                                                   mystore_token=TOKEN))
        eq((status, headers["Location"]), (303, "/tenants/%s/tune?done=connected" % NAME),
           "a connection with a pasted token goes on to Fine-tune (%s)" % body[-600:])
        eq(_record(env)["state"], "connecting", "the state after Connect")
        for flow in (["poll", "mystore-orders"], ["apply", "orders"]):
            _spawn(env, flow + ["--all-tenants"])

        # The form, filled from both systems.
        status, _, body = admin.call("GET", "/tenants/%s/tune?done=connected" % NAME,
                                     cookie=cookie)
        eq(status, 200, "the Fine-tune page (%s)" % body[-600:])
        _check_page(body, "the Fine-tune page")
        check("Connected" in body, "no word of the connection")
        check(re.search(r'<input type="checkbox" id="stock_sync"[^>]*value="on">', body),
              "stock is not off by default: %s" % re.findall(r'<input[^>]*stock_sync[^>]*>', body))
        for st in seed["order_status"]:
            name = st["name"]["no"] if isinstance(st["name"], dict) else st["name"]
            check('id="release_%s"' % st["id"] in body and ">%s</label>" % name in body,
                  "the shop's status %s (%s) is not offered" % (st["id"], name))
        check(re.search(r'<option value="3" selected>Levert</option>', body),
              "levert is not the preselected sent status")
        methods = sorted({o["attributes"]["shipping_method"] for o in seed["orders"] if o["attributes"]["shipping_method"]})
        for m in methods:
            check("Way of delivery for %s</label>" % m in body, "no row for method %s" % m)
        check('<option value="PNSP">PostNord service point (PNSP)</option>' in body,
              "the warehouse's ways of delivery are not offered")
        for n in (150, 200):
            check(re.search(r'id="editable_%d" name="editable_%d" value="on" checked' % (n, n),
                            body), "editable status %d is not ticked" % n)
        check('id="editable_300" name="editable_300" value="on">' in body,
              "status 300 is offered unticked")

        # Refusals change nothing: a bad interval (error next to the field),
        # and a form without its CSRF token.
        before = _record(env)
        form = _tune_form(body)
        form.update(poll_interval="0", next="try")
        status, _, bad = admin.call("POST", "/tenants/%s/tune" % NAME, form, cookie=cookie)
        eq(status, 400, "a poll interval of 0")
        check(re.search(r'id="poll_interval"[^>]*aria-describedby="poll_interval_error" '
                        r'aria-invalid="true"', bad) and 'id="poll_interval_error"' in bad,
              "the error is not tied to its field: %s" % re.findall(r'<input[^>]*poll[^>]*>', bad))
        _check_page(bad, "the Fine-tune page with an error")
        status, _, bad = admin.call("POST", "/tenants/%s/tune" % NAME,
                                    dict(form, poll_interval="1", poll_2="2x"), cookie=cookie)
        eq(status, 400, "a stream's interval that is not a number")
        check(re.search(r'id="poll_2"[^>]*aria-invalid="true"', bad), "poll_2 not marked")
        no_csrf = dict(form, poll_interval="1")
        del no_csrf["csrf"]
        status, _, _ = admin.call("POST", "/tenants/%s/tune" % NAME, no_csrf, cookie=cookie)
        eq(status, 403, "a Fine-tune form without its CSRF token")
        status, _, _ = admin.call("POST", "/tenants/%s/activate" % NAME, {}, cookie=cookie)
        eq(status, 403, "an Activate without its CSRF token")
        after = _record(env)
        eq((after["state"], after["settings"], after["rev"]),
           (before["state"], before["settings"], before["rev"]), "the tenant after refusals")

        # Try first: one method sent as the warehouse's PICKUP, a 1 s interval.
        chosen = methods[0]
        form = _tune_form(body)
        form.update({"poll_interval": "1", "poll_1": "5", "next": "try",
                     "wod_%s" % _method_row(body, chosen): "PICKUP"})
        status, headers, _ = admin.call("POST", "/tenants/%s/tune" % NAME, form, cookie=cookie)
        eq((status, headers["Location"]), (303, "/tenants/%s/dry" % NAME), "Save and try first")
        rec = _record(env)
        eq((rec["state"], rec["settings"].get("DRY_RUN"), rec["settings"].get("POLL_INTERVAL_S")),
           ("active", "on", "1"), "the tenant running dry")
        eq((rec["settings"].get("POLL_INTERVAL_S_MYSTORE_PRODUCTS"),
            rec["settings"].get("POLL_INTERVAL_S_MYSTORE_ORDERS")), ("5", None),
           "a stream's own interval, and none where the field was empty")
        eq(json.loads(rec["settings"]["SHIPPING_METHOD_MAP"]),
           {chosen: {"code": "PICKUP", "name": "Pick-up at the warehouse"}}, "the method map")

        ids = sorted(o["id"] for o in seed["orders"])

        def dry_page():
            s, _, b = admin.call("GET", "/tenants/%s/dry" % NAME, cookie=cookie)
            eq(s, 200, "the dry-run page")
            return b

        wait_until(lambda: all(re.search(r"<td>%s</td><td class=\"outcome\">create" % i,
                                         dry_page()) for i in ids),
                   60, "the dry-run page lists every order as a create")
        body = dry_page()
        _check_page(body, "the dry-run page")
        check("Running dry" in body and "<code>PUT orders</code>" in body, "the page: %s" % body[-1500:])
        eq(env.ongoing.order_writes(), [], "writes to the warehouse during the dry run")

        # Activate: every order once, the chosen way of delivery on its order.
        status, headers, _ = admin.call("POST", "/tenants/%s/activate" % NAME,
                                        {"csrf": _csrf(body)}, cookie=cookie)
        eq((status, headers["Location"]), (303, "/tenants/%s?done=activated-webhooks" % NAME),
           "Activate")
        rec = _record(env)
        eq((rec["state"], rec["settings"].get("DRY_RUN")), ("active", None), "after Activate")
        wait_until(lambda: _owner_orders(env) == ids, 60,
                   "every order in the warehouse after Activate")
        puts = sorted(w["body"]["orderNumber"] for w in env.ongoing.order_writes()
                      if w["method"] == "PUT" and w["status"] < 300)
        eq(puts, ids, "one PUT /orders per order")
        for o in seed["orders"]:
            wod = env.ongoing.order(o["id"]).get("wayOfDelivery") or {}
            if o["attributes"]["shipping_method"] == chosen:
                eq(wod.get("code"), "PICKUP", "the way of delivery of order %s" % o["id"])
            elif o["attributes"]["shipping_method"]:
                eq(wod.get("code"), o["attributes"]["shipping_method"], "an unmapped method of %s" % o["id"])

        # Webhooks: registered for the five topics to the tenant's address,
        # with the secret stored in the registry (never on a page).
        hooks = env.mystore.get("/_sim/webhooks")["registered"]
        eq(sorted((h["topic"], h["address"]) for h in hooks),
           sorted((t, "https://hooks.example.test/webhooks/mystore/%s" % NAME)
                  for t in ("orders/create", "orders/update", "products/create",
                            "products/update", "products/delete")), "the registered webhooks")
        check(rec["settings"].get("MYSTORE_WEBHOOK_SECRET") not in (None, ""),
              "no webhook secret stored")
        # The secret as Mystore got it (the simulator's write log keeps bodies).
        sent = {w["body"]["data"]["attributes"]["secret"] for w in env.mystore.writes()
                if w["method"] == "POST" and w["path"].endswith("/webhooks")}
        eq(len(sent), 1, "one secret for the tenant's webhooks")
        secret = sent.pop()
        check(len(secret) == 64, "a 256-bit secret: %r" % len(secret))

        # The status page: the last orders and their state in the warehouse.
        def tenant_page():
            s, _, b = admin.call("GET", "/tenants/%s?done=activated-webhooks" % NAME,
                                 cookie=cookie)
            eq(s, 200, "the tenant page")
            return b

        wait_until(lambda: len(re.findall(r"<tr><td>\d+</td><td>[0-9T:Z-]+</td><td>created"
                                          r"</td><td>200 Open</td>", tenant_page())) == len(ids),
                   30, "the last orders with their warehouse state")
        body = tenant_page()
        _check_page(body, "the tenant page after Activate")
        check("Mystore sends its webhooks" in body, "no word of the webhooks")
        check('id="lag-chart-title"' in body and 'id="orders-chart-title"' in body,
              "the charts are missing")
        check(not re.search(r"at most 0\.0 s in an hour with orders \(0 of them\)", body),
              "the lag chart has no hour with orders")

        text = "\n".join(admin.pages)
        log = admin.log_text()
        for sec in (OG_PASSWORD, TOKEN, password, secret):
            eq(leaks(text, sec), [], "a secret in a page")
            eq(leaks(log, sec), [], "a secret in the admin's log")
        check(NAME in _tenants(env), "the tenant is gone")


def test_activate_without_the_webhook_scopes_polls_only():
    """The webhook scopes are asked for but not required: a merchant who
    grants only what the sync needs is connected, and Activate, refused by
    Mystore's webhooks resource, says the tenant polls only."""
    with env_for("admin-tune-nohooks", make_seed(orders=2, products=2, seed=151)) as env:
        env.env["ADMIN_WEBHOOK_URL"] = "https://hooks.example.test/"
        admin, _, cookie = _start(env)
        status, headers, body = _post_connect(admin, cookie, _form(env, "nh1"))
        eq(status, 302, "a good Connect form (%s)" % body[-600:])
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(headers["Location"]).query))
        eq(q["scope"].split(), SCOPES_NEEDED + ["read:webhooks", "write:webhooks"],
           "the scopes asked with ADMIN_WEBHOOK_URL set")
        loc = env.mystore.consent(q["client_id"], q["redirect_uri"], SCOPES_NEEDED, q["state"])
        u = urllib.parse.urlparse(loc)
        status, _, body = admin.call("GET", u.path + "?" + u.query)
        eq(status, 200, "the callback without the webhook scopes (%s)" % body[-600:])
        eq(_record(env, "nh1")["state"], "connecting", "connected without the webhook scopes")
        status, _, body = admin.call("GET", "/tenants/nh1", cookie=cookie)
        status, headers, _ = admin.call("POST", "/tenants/nh1/activate", {"csrf": _csrf(body)},
                                        cookie=cookie)
        eq((status, headers["Location"]), (303, "/tenants/nh1?done=activated-polling"),
           "Activate with webhooks refused")
        eq(_record(env, "nh1")["state"], "active", "the state after Activate")
        eq(env.mystore.get("/_sim/webhooks")["registered"], [], "webhooks registered")
        status, _, body = admin.call("GET", "/tenants/nh1?done=activated-polling", cookie=cookie)
        check("Mystore did not take the webhooks" in body, "no word of the polling")
        # A scope refused on the webhooks is not the token refused.
        check("reconnect" not in body.lower(), "a refused webhook scope reads as a lost token")
        check(re.search(r"webhook orders/create not registered \(HTTP 403\)", admin.log_text()),
              "the log does not say why")
