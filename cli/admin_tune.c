/* `mosync admin`: Fine-tune, Try first and Activate (issue 14 step 2), the
 * pages that follow Connect.
 *
 *   GET  /tenants/<T>/tune      the form: flows, poll interval, the shop's
 *                               order statuses (release, sent, cancelled),
 *                               shipping method -> way of delivery, the
 *                               warehouse statuses in which an order may
 *                               still change; read from both APIs
 *   POST /tenants/<T>/tune      saves them (checked as `mosync tenant set`
 *                               checks them), then, by the button pressed:
 *                               stays, tries first, or activates
 *   GET  /tenants/<T>/dry       what a dry run would have done: the orders
 *                               and articles, the requests, and where they
 *                               differ from what the warehouse holds
 *   POST /tenants/<T>/activate  the real run, and the Mystore webhooks
 *
 * Try first is the tenant's own DRY_RUN=on in state "active": its pollers
 * read the shop as usual and its appliers (one group for every tenant,
 * `apply --all-tenants`) compare with the warehouse and record what they
 * would send (`dryrun:<flow>:<entity>`), sending nothing.  Those events are
 * consumed: so Activate, after turning DRY_RUN off, waits until every
 * applier has seen the change (they read the registry's generation once a
 * second) and then sets the tenant's pollers back to their start (the
 * cursor, the seen map and the lease of each stream deleted together, so a
 * cycle in flight cannot write its cursor back: its lease is gone).  The
 * pollers read their first window again (MYSTORE_INITIAL_LOOKBACK_H,
 * ONGOING_INITIAL_LOOKBACK_H) and the appliers send it for real, as after
 * Redis was emptied. */
#include "admin_int.h"
#include "log.h"
#include "mapping.h"
#include "mystore.h"
#include "ongoing.h"
#include "tenant.h"

#include <ctype.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define COMPONENT "admin"
/* The shop's statuses, methods and the warehouse's ways a form shows. */
#define ADM_TUNE_MAX 64
/* Dry-run records a page lists per flow; the rest are counted. */
#define ADM_DRY_SHOWN 200
/* Activate waits this long after DRY_RUN went off before the pollers start
 * again: the appliers read the registry's generation once a second. */
#define ADM_ACTIVATE_WAIT_MS 3000

/* The Mystore topics Activate registers (M20), all to one address. */
static const char *const adm_webhook_topics[] = {
    "orders/create", "orders/update", "products/create", "products/update", "products/delete"};
#define ADM_NTOPICS (sizeof(adm_webhook_topics) / sizeof(adm_webhook_topics[0]))

/* What the form calls the pollers' streams, in the order of cfg_streams
 * (whose state Activate resets after a dry run) and cfg_stream_vars. */
static const char *const adm_stream_labels[] = {"Orders from the shop", "Products from the shop",
                                                "Shipments from the warehouse",
                                                "Stock from the warehouse"};

/* ---- what the form offers: read from both APIs --------------------------- */

/* The form's fields, errors shown next to each. */
enum { TF_POLL, TF_RELEASE, TF_SENT, TF_CANCELLED, TF_SHIPPING, TF_EDITABLE, TF_N };
static const char *const adm_tune_vars[TF_N] = {"POLL_INTERVAL_S",     "MYSTORE_ORDER_STATUSES",
                                                "MYSTORE_STATUS_SENT", "MYSTORE_STATUS_CANCELLED",
                                                "SHIPPING_METHOD_MAP", "ONGOING_EDITABLE_STATUSES"};

typedef struct adm_tune {
    json_t *statuses; /* [{id, name}] the shop's order statuses, or NULL */
    char statuses_why[256];
    json_t *methods; /* [method] seen in the shop's orders and mapped already */
    char methods_why[256];
    json_t *ways; /* [{code, name}] the warehouse's ways of delivery, or NULL */
    char ways_why[256];
    json_t *og_statuses; /* [{number, text}] or NULL */
    char og_statuses_why[256];
    /* The form's errors. */
    char why[TF_N][320];
    const char *err[TF_N];
    char notice[512];
    int bad;
    int stream_bad[4]; /* which stream's own interval the TF_POLL error is about */
} adm_tune;

static void adm_tune_free(adm_tune *t)
{
    json_decref(t->statuses);
    json_decref(t->methods);
    json_decref(t->ways);
    json_decref(t->og_statuses);
}

static void adm_tune_error(adm_tune *t, int field, const char *why)
{
    snprintf(t->why[field], sizeof(t->why[field]), "%s", why);
    t->err[field] = t->why[field];
    t->bad = 1;
}

/* An id safe in a form field's name ("release_<id>"): [A-Za-z0-9_-]. */
static int adm_id_ok(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (!n || n > 32)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)id[i]) && id[i] != '-' && id[i] != '_')
            return 0;
    return 1;
}

/* Appends method to methods unless it is there or empty. */
static void adm_method_add(json_t *methods, const char *method)
{
    size_t i;
    json_t *m;
    if (!method || !*method || json_array_size(methods) >= ADM_TUNE_MAX)
        return;
    json_array_foreach(methods, i, m)
    {
        if (!strcmp(json_string_value(m), method))
            return;
    }
    json_array_append_new(methods, json_string(method));
}

/* Reads the lists the form offers.  Each one that cannot be read says why
 * instead; the form then offers what it can (a typed code for a way of
 * delivery). */
static void adm_tune_fetch(adm_call *c, const mo_config *tcfg, adm_tune *t)
{
    json_t *items = NULL, *doc = NULL;
    long status = 0;
    size_t i;
    json_t *it;
    char path[128];
    int more = 0;
    rs_set_tenant(c->rs, tcfg->tenant); /* the tenant's own request budgets */
    ms_client *ms = ms_new(tcfg, c->rs, 1);
    og_client *og = og_new(tcfg, c->rs, 1);

    t->methods = json_array();
    if (!ms) {
        snprintf(t->statuses_why, sizeof(t->statuses_why), "no Mystore client");
        snprintf(t->methods_why, sizeof(t->methods_why), "no Mystore client");
    } else if (ms_list_all(ms, "order-status", &items, t->statuses_why, sizeof(t->statuses_why))) {
        lg_warn(COMPONENT, tcfg->tenant, "fine-tune: the shop's statuses: %s", t->statuses_why);
    } else {
        t->statuses = json_array();
        json_array_foreach(items, i, it)
        {
            const char *id = json_string_value(json_object_get(it, "id"));
            const char *name = mp_text(json_object_get(json_object_get(it, "attributes"), "name"),
                                       tcfg->mystore_language);
            if (adm_id_ok(id) && json_array_size(t->statuses) < ADM_TUNE_MAX)
                json_array_append_new(t->statuses,
                                      json_pack("{s:s, s:s}", "id", id, "name", name ? name : id));
        }
    }
    json_decref(items);
    items = NULL;
    /* No list of the shop's shipping methods in the API (MODEL.md): the
     * ones its recent orders name, and those mapped already. */
    if (ms && !ms_list_page(ms, "orders", "page%5Bsize%5D=100", 1, &items, &more, t->methods_why,
                            sizeof(t->methods_why))) {
        json_array_foreach(items, i, it)
        {
            json_t *a = json_object_get(it, "attributes");
            adm_method_add(t->methods, json_string_value(json_object_get(a, "shipping_method")));
        }
    }
    json_decref(items);
    items = NULL;
    const char *key;
    json_t *v;
    json_object_foreach(tcfg->shipping_methods, key, v)
    {
        adm_method_add(t->methods, key);
    }

    snprintf(path, sizeof(path), "orders/wayOfDeliveryTypes?goodsOwnerId=%ld",
             tcfg->ongoing_goods_owner);
    if (!og) {
        snprintf(t->ways_why, sizeof(t->ways_why), "no warehouse client");
        snprintf(t->og_statuses_why, sizeof(t->og_statuses_why), "no warehouse client");
    } else {
        if (og_get(og, path, &doc, &status, t->ways_why, sizeof(t->ways_why))) {
            lg_warn(COMPONENT, tcfg->tenant, "fine-tune: the ways of delivery: %s", t->ways_why);
        } else {
            t->ways = json_array();
            json_array_foreach(json_object_get(doc, "wayOfDeliveryTypes"), i, it)
            {
                const char *code = json_string_value(json_object_get(it, "code"));
                const char *name = json_string_value(json_object_get(it, "name"));
                if (code && *code && json_array_size(t->ways) < ADM_TUNE_MAX)
                    json_array_append_new(t->ways, json_pack("{s:s, s:s}", "code", code, "name",
                                                             name && *name ? name : code));
            }
        }
        json_decref(doc);
        doc = NULL;
        if (og_get(og, "orders/statuses", &doc, &status, t->og_statuses_why,
                   sizeof(t->og_statuses_why))) {
            lg_warn(COMPONENT, tcfg->tenant, "fine-tune: the warehouse's statuses: %s",
                    t->og_statuses_why);
        } else {
            t->og_statuses = json_array();
            json_array_foreach(json_object_get(doc, "orderStatuses"), i, it)
            {
                json_t *n = json_object_get(it, "number");
                const char *text = json_string_value(json_object_get(it, "text"));
                if (json_is_integer(n) && json_array_size(t->og_statuses) < ADM_TUNE_MAX)
                    json_array_append_new(t->og_statuses,
                                          json_pack("{s:I, s:s}", "number", json_integer_value(n),
                                                    "text", text ? text : ""));
            }
        }
        json_decref(doc);
    }
    ms_free(ms);
    og_free(og);
    rs_set_tenant(c->rs, c->srv->cfg->tenant);
}

/* The id of the shop's status that setting (a name or an id, M8) names, or
 * NULL. */
static const char *adm_status_id(const adm_tune *t, const char *setting)
{
    size_t i;
    json_t *st;
    json_array_foreach(t->statuses, i, st)
    {
        const char *id = json_string_value(json_object_get(st, "id"));
        const char *name = json_string_value(json_object_get(st, "name"));
        if (!strcmp(id, setting) || !strcasecmp(name, setting))
            return id;
    }
    return NULL;
}

/* Is status id one that MYSTORE_ORDER_STATUSES (names or ids) lists? */
static int adm_released(const mo_config *tcfg, const adm_tune *t, const char *id)
{
    size_t i;
    json_t *v;
    json_array_foreach(tcfg->mystore_order_statuses, i, v)
    {
        const char *listed = adm_status_id(t, json_string_value(v));
        if (listed && !strcmp(listed, id))
            return 1;
    }
    return 0;
}

/* The way-of-delivery code tcfg maps method to, or "". */
static const char *adm_mapped_code(const mo_config *tcfg, const char *method)
{
    const json_t *e = json_object_get(tcfg->shipping_methods, method);
    const char *code =
        json_is_string(e) ? json_string_value(e) : json_string_value(json_object_get(e, "code"));
    return code ? code : "";
}

/* ---- the form --------------------------------------------------------------- */

static void adm_field_error(adm_page *p, const adm_tune *t, int f, const char *id)
{
    if (!t->err[f])
        return;
    adm_page_printf(p, "<span id=\"%s_error\" class=\"error\">", id);
    adm_page_esc(p, t->err[f]);
    adm_page_printf(p, "</span>\n");
}

static void adm_described(adm_page *p, const adm_tune *t, int f, const char *id)
{
    if (t->err[f])
        adm_page_printf(p, " aria-describedby=\"%s_error\" aria-invalid=\"true\"", id);
}

/* The "unknown" line where a list could not be read. */
static void adm_unknown(adm_page *p, const char *what, const char *why)
{
    adm_page_printf(p, "<p class=\"muted\">%s could not be read (", what);
    adm_page_esc(p, why);
    adm_page_printf(p, "); reload the page to try again.</p>\n");
}

static void adm_status_select(adm_page *p, const adm_tune *t, int f, const char *id,
                              const char *label, const char *current)
{
    size_t i;
    json_t *st;
    adm_page_printf(p, "<p><label for=\"%s\">%s</label>\n<select id=\"%s\" name=\"%s\"", id, label,
                    id, id);
    adm_described(p, t, f, id);
    adm_page_printf(p, ">\n");
    const char *sel = adm_status_id(t, current);
    json_array_foreach(t->statuses, i, st)
    {
        const char *sid = json_string_value(json_object_get(st, "id"));
        adm_page_printf(p, "<option value=\"%s\"%s>", sid,
                        sel && !strcmp(sel, sid) ? " selected" : "");
        adm_page_esc(p, json_string_value(json_object_get(st, "name")));
        adm_page_printf(p, "</option>\n");
    }
    adm_page_printf(p, "</select>\n");
    adm_field_error(p, t, f, id);
    adm_page_printf(p, "</p>\n");
}

/* The select of the warehouse's ways for method (row i, or "new"). */
static void adm_way_select(adm_page *p, const adm_tune *t, const char *row, const char *code)
{
    size_t i;
    json_t *w;
    int known = !*code;
    if (!t->ways) { /* no list: the code is typed */
        adm_page_printf(p, "<input id=\"wod_%s\" name=\"wod_%s\" type=\"text\" value=\"", row, row);
        adm_page_esc(p, code);
        adm_page_printf(p, "\">");
        return;
    }
    adm_page_printf(p,
                    "<select id=\"wod_%s\" name=\"wod_%s\">\n<option value=\"\">Same as the "
                    "shop's method</option>\n",
                    row, row);
    json_array_foreach(t->ways, i, w)
    {
        const char *wc = json_string_value(json_object_get(w, "code"));
        known |= !strcmp(wc, code);
        adm_page_printf(p, "<option value=\"");
        adm_page_esc(p, wc);
        adm_page_printf(p, "\"%s>", !strcmp(wc, code) ? " selected" : "");
        adm_page_esc(p, json_string_value(json_object_get(w, "name")));
        adm_page_printf(p, " (");
        adm_page_esc(p, wc);
        adm_page_printf(p, ")</option>\n");
    }
    if (!known) { /* mapped to a code the warehouse does not list (any more) */
        adm_page_printf(p, "<option value=\"");
        adm_page_esc(p, code);
        adm_page_printf(p, "\" selected>");
        adm_page_esc(p, code);
        adm_page_printf(p, " (not listed by the warehouse)</option>\n");
    }
    adm_page_printf(p, "</select>");
}

static void adm_tune_page(adm_call *c, unsigned status, const char *name, const json_t *record,
                          const mo_config *tcfg, const adm_tune *t)
{
    adm_page *p = &c->page;
    size_t i;
    json_t *v;
    char title[96], row[16];
    const char *state = json_string_value(json_object_get(record, "state"));
    const char *done = MHD_lookup_connection_value(c->conn, MHD_GET_ARGUMENT_KIND, "done");
    snprintf(title, sizeof(title), "Fine-tune %s", name);
    adm_begin(c, status, title,
              *t->notice                           ? t->notice
              : done && !strcmp(done, "connected") ? "Connected: the shop granted access. "
                                                     "Fine-tune the integration, then try it "
                                                     "first or activate it."
              : done && !strcmp(done, "saved")     ? "Saved."
                                                   : NULL,
              *t->notice != '\0');
    adm_page_printf(p, "<p>Step 2 of 3. The tenant is <span class=\"state\">");
    adm_page_esc(p, state ? state : "?");
    adm_page_printf(p, "</span>%s. <a href=\"/tenants/%s\">Its status page</a></p>\n",
                    tcfg->dry_run ? ", running dry (Try first)" : "", name);
    adm_page_printf(p,
                    "<form class=\"box\" method=\"post\" action=\"/tenants/%s/tune\">\n"
                    "<input type=\"hidden\" name=\"csrf\" value=\"%s\">\n",
                    name, c->csrf);

    adm_page_printf(p, "<fieldset><legend>Flows</legend>\n<p class=\"muted\">Articles from the "
                       "shop's products, orders to the warehouse and deliveries back to the "
                       "shop (\"levert\" with the tracking number) always run.</p>\n");
    adm_page_printf(p,
                    "<label for=\"stock_sync\" class=\"check\"><input type=\"checkbox\" "
                    "id=\"stock_sync\" name=\"stock_sync\" value=\"on\"%s>Stock from the "
                    "warehouse to the shop</label>\n",
                    tcfg->stock_sync ? " checked" : "");
    adm_page_printf(
        p,
        "<p><label for=\"poll_interval\">Poll every (seconds)</label>\n<input "
        "id=\"poll_interval\" name=\"poll_interval\" type=\"number\" min=\"1\" "
        "max=\"86400\" required value=\"%d\" aria-describedby=\"poll_interval_%s\"%s>\n",
        tcfg->poll_interval_s, t->err[TF_POLL] ? "error" : "hint",
        t->err[TF_POLL] ? " aria-invalid=\"true\"" : "");
    if (t->err[TF_POLL])
        adm_field_error(p, t, TF_POLL, "poll_interval");
    else
        adm_page_printf(p, "<span id=\"poll_interval_hint\" class=\"muted\">How often mosync "
                           "looks for changes in both systems; webhooks, where the shop sends "
                           "them, start a poll at once.</span>\n");
    adm_page_printf(p, "</p>\n<p class=\"muted\">Each stream may poll at its own interval; "
                       "empty: the one above.</p>\n");
    for (int k = 0; k < 4; k++) {
        char value[16] = "";
        if (tcfg->poll_interval_stream_s[k])
            snprintf(value, sizeof(value), "%d", tcfg->poll_interval_stream_s[k]);
        adm_page_printf(p,
                        "<p><label for=\"poll_%d\">%s (seconds)</label>\n<input id=\"poll_%d\" "
                        "name=\"poll_%d\" type=\"number\" min=\"1\" max=\"86400\" "
                        "value=\"%s\"%s></p>\n",
                        k, adm_stream_labels[k], k, k, value,
                        t->stream_bad[k]
                            ? " aria-describedby=\"poll_interval_error\" aria-invalid=\"true\""
                            : "");
    }
    adm_page_printf(p, "</fieldset>\n");

    adm_page_printf(p,
                    "<fieldset%s><legend>Order statuses that send an order to the "
                    "warehouse</legend>\n",
                    t->err[TF_RELEASE] ? " aria-describedby=\"release_error\"" : "");
    if (!t->statuses) {
        adm_unknown(p, "The shop's order statuses", t->statuses_why);
    } else {
        adm_page_printf(p, "<p class=\"muted\">None ticked: every status but the sent and the "
                           "cancelled one.</p>\n");
        json_array_foreach(t->statuses, i, v)
        {
            const char *sid = json_string_value(json_object_get(v, "id"));
            adm_page_printf(p,
                            "<label for=\"release_%s\" class=\"check\"><input type=\"checkbox\" "
                            "id=\"release_%s\" name=\"release_%s\" value=\"on\"%s>",
                            sid, sid, sid, adm_released(tcfg, t, sid) ? " checked" : "");
            adm_page_esc(p, json_string_value(json_object_get(v, "name")));
            adm_page_printf(p, "</label>\n");
        }
    }
    adm_field_error(p, t, TF_RELEASE, "release");
    adm_page_printf(p, "</fieldset>\n");

    adm_page_printf(p, "<fieldset><legend>Sent and cancelled in the shop</legend>\n");
    if (t->statuses) {
        adm_status_select(p, t, TF_SENT, "status_sent", "Status meaning sent",
                          tcfg->mystore_status_sent);
        adm_status_select(p, t, TF_CANCELLED, "status_cancelled", "Status meaning cancelled",
                          tcfg->mystore_status_cancelled);
    } else {
        adm_unknown(p, "The shop's order statuses", t->statuses_why);
    }
    adm_page_printf(p, "</fieldset>\n");

    adm_page_printf(p, "<h2 id=\"shipping\">Shipping methods</h2>\n<p class=\"muted\">The "
                       "shop's shipping method becomes the order's way of delivery in the "
                       "warehouse.</p>\n");
    if (!t->ways)
        adm_unknown(p, "The warehouse's ways of delivery", t->ways_why);
    if (t->methods_why[0] && !json_array_size(t->methods))
        adm_unknown(p, "The shop's recent orders", t->methods_why);
    adm_html_scroll_open(p, "shipping");
    adm_page_printf(p, "<table>\n<thead><tr><th scope=\"col\">Shipping method in the shop</th>"
                       "<th scope=\"col\">Way of delivery in the warehouse</th></tr></thead>\n"
                       "<tbody>\n");
    json_array_foreach(t->methods, i, v)
    {
        const char *m = json_string_value(v);
        snprintf(row, sizeof(row), "%zu", i);
        adm_page_printf(p, "<tr><td>");
        adm_page_esc(p, m);
        adm_page_printf(p, "<input type=\"hidden\" name=\"method_%s\" value=\"", row);
        adm_page_esc(p, m);
        adm_page_printf(p,
                        "\"></td><td><label for=\"wod_%s\" class=\"check\">Way of delivery "
                        "for ",
                        row);
        adm_page_esc(p, m);
        adm_page_printf(p, "</label>");
        adm_way_select(p, t, row, adm_mapped_code(tcfg, m));
        adm_page_printf(p, "</td></tr>\n");
    }
    adm_page_printf(p, "<tr><td><label for=\"method_new\" class=\"check\">Another shipping "
                       "method</label><input id=\"method_new\" name=\"method_new\" "
                       "type=\"text\"></td><td><label for=\"wod_new\" class=\"check\">Its way "
                       "of delivery</label>");
    adm_way_select(p, t, "new", "");
    adm_page_printf(p, "</td></tr>\n</tbody></table>\n");
    adm_field_error(p, t, TF_SHIPPING, "shipping");
    adm_page_printf(p, "</div>\n");

    adm_page_printf(p,
                    "<fieldset%s><legend>Warehouse statuses in which an order may still "
                    "change</legend>\n",
                    t->err[TF_EDITABLE] ? " aria-describedby=\"editable_error\"" : "");
    if (!t->og_statuses) {
        adm_unknown(p, "The warehouse's order statuses", t->og_statuses_why);
    } else {
        adm_page_printf(p, "<p class=\"muted\">In these an order changed or cancelled in the "
                           "shop is changed or cancelled in the warehouse; later ones are left "
                           "to the warehouse.</p>\n");
        json_array_foreach(t->og_statuses, i, v)
        {
            int n = (int)json_integer_value(json_object_get(v, "number"));
            adm_page_printf(p,
                            "<label for=\"editable_%d\" class=\"check\"><input "
                            "type=\"checkbox\" id=\"editable_%d\" name=\"editable_%d\" "
                            "value=\"on\"%s>%d ",
                            n, n, n, cfg_ongoing_editable(tcfg, n) ? " checked" : "", n);
            adm_page_esc(p, json_string_value(json_object_get(v, "text")));
            adm_page_printf(p, "</label>\n");
        }
    }
    adm_field_error(p, t, TF_EDITABLE, "editable");
    adm_page_printf(p, "</fieldset>\n");

    adm_page_printf(p, "<div class=\"actions\">"
                       "<button type=\"submit\" name=\"next\" value=\"try\">Save and try "
                       "first</button>\n"
                       "<button type=\"submit\" name=\"next\" value=\"activate\">Save and "
                       "activate</button>\n"
                       "<button class=\"quiet\" type=\"submit\" name=\"next\" "
                       "value=\"save\">Save</button></div>\n"
                       "<p class=\"muted\">Try first runs the integration dry: mosync reads the "
                       "shop and compares with the warehouse, and writes nothing; its page shows "
                       "what it would have done. Activate starts the real run.</p>\n</form>\n");
    adm_end(c);
}

/* Loads the tenant and the lists; -1 after answering. */
static int adm_tune_begin(adm_call *c, const char *name, json_t **record, mo_config *tcfg,
                          adm_tune *t)
{
    char why[512];
    int cfg_ok;
    if (adm_tenant_load(c, name, record, tcfg, &cfg_ok, why, sizeof(why)))
        return -1;
    if (!cfg_ok) {
        json_decref(*record);
        adm_fail(c, MHD_HTTP_CONFLICT, name, why);
        return -1;
    }
    adm_tune_fetch(c, tcfg, t);
    return 0;
}

static void adm_tune_get(adm_call *c, const char *name)
{
    json_t *record;
    mo_config tcfg;
    adm_tune t = {0};
    if (adm_tune_begin(c, name, &record, &tcfg, &t))
        return;
    adm_tune_page(c, MHD_HTTP_OK, name, record, &tcfg, &t);
    adm_tune_free(&t);
    json_decref(record);
    cfg_free(&tcfg);
}

/* ---- saving ----------------------------------------------------------------- */

/* A form field: 1 ticked or given, 0 absent; -1 malformed (an error). */
static int adm_field(adm_call *c, const char *name, char *out, size_t size)
{
    int got = adm_form_get(c->body, name, out, size);
    if (got <= 0)
        *out = '\0';
    return got;
}

/* Field name holds a whole number of seconds, 1 to 86400 (or nothing, when
 * empty_ok), into v. */
static int adm_seconds_ok(adm_call *c, const char *name, char *v, size_t size, int empty_ok)
{
    int got = adm_field(c, name, v, size);
    if (got < 0)
        return 0;
    if (!*v)
        return empty_ok;
    return strspn(v, "0123456789") == strlen(v) && strlen(v) <= 5 && atol(v) >= 1 &&
           atol(v) <= 86400;
}

/* The settings the form asks for, over settings (changed in place); t's
 * lists say what may be chosen, and it takes the errors. */
static void adm_tune_read(adm_call *c, adm_tune *t, json_t *settings)
{
    char v[512], field[64], list[2048] = "";
    size_t i;
    json_t *st;

    json_object_set_new(settings, "STOCK_SYNC",
                        json_string(adm_field(c, "stock_sync", v, sizeof(v)) == 1 ? "on" : "off"));
    if (!adm_seconds_ok(c, "poll_interval", v, sizeof(v), 0))
        adm_tune_error(t, TF_POLL, "Seconds: a whole number from 1 to 86400.");
    else
        json_object_set_new(settings, "POLL_INTERVAL_S", json_string(v));
    for (int k = 0; k < 4; k++) {
        snprintf(field, sizeof(field), "poll_%d", k);
        if (!adm_seconds_ok(c, field, v, sizeof(v), 1)) {
            t->stream_bad[k] = 1;
            adm_tune_error(t, TF_POLL,
                           "Seconds: a whole number from 1 to 86400 (empty: the interval "
                           "above).");
        } else if (*v) {
            json_object_set_new(settings, cfg_stream_vars[k], json_string(v));
        } else {
            json_object_del(settings, cfg_stream_vars[k]);
        }
    }

    if (t->statuses) {
        json_array_foreach(t->statuses, i, st)
        {
            const char *sid = json_string_value(json_object_get(st, "id"));
            snprintf(field, sizeof(field), "release_%s", sid);
            if (adm_field(c, field, v, sizeof(v)) == 1)
                snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", *list ? "," : "",
                         sid);
        }
        if (*list)
            json_object_set_new(settings, "MYSTORE_ORDER_STATUSES", json_string(list));
        else
            json_object_del(settings, "MYSTORE_ORDER_STATUSES");
        char sent[64], cancelled[64];
        adm_field(c, "status_sent", sent, sizeof(sent));
        adm_field(c, "status_cancelled", cancelled, sizeof(cancelled));
        if (!adm_status_id(t, sent))
            adm_tune_error(t, TF_SENT, "Choose one of the shop's statuses.");
        if (!adm_status_id(t, cancelled))
            adm_tune_error(t, TF_CANCELLED, "Choose one of the shop's statuses.");
        if (*sent && !strcmp(sent, cancelled))
            adm_tune_error(t, TF_CANCELLED, "Sent and cancelled must be two statuses.");
        if (!t->err[TF_SENT] && !t->err[TF_CANCELLED]) {
            json_object_set_new(settings, "MYSTORE_STATUS_SENT", json_string(sent));
            json_object_set_new(settings, "MYSTORE_STATUS_CANCELLED", json_string(cancelled));
        }
    }

    /* The map: one entry per method given a way (the rest map to themselves). */
    json_t *map = json_object();
    for (int row = 0; row <= ADM_TUNE_MAX; row++) {
        char method[256], code[256];
        if (row < ADM_TUNE_MAX)
            snprintf(field, sizeof(field), "method_%d", row);
        else
            snprintf(field, sizeof(field), "method_new");
        if (adm_field(c, field, method, sizeof(method)) != 1 || !*method)
            continue;
        if (row < ADM_TUNE_MAX)
            snprintf(field, sizeof(field), "wod_%d", row);
        else
            snprintf(field, sizeof(field), "wod_new");
        if (adm_field(c, field, code, sizeof(code)) < 0) {
            adm_tune_error(t, TF_SHIPPING, "A way of delivery is too long.");
            continue;
        }
        if (!*code)
            continue;
        const char *wname = NULL;
        json_t *w;
        json_array_foreach(t->ways, i, w)
        {
            if (!strcmp(json_string_value(json_object_get(w, "code")), code))
                wname = json_string_value(json_object_get(w, "name"));
        }
        json_object_set_new(map, method,
                            json_pack("{s:s, s:s}", "code", code, "name", wname ? wname : code));
    }
    if (json_object_size(map)) {
        char *text = json_dumps(map, JSON_COMPACT | JSON_SORT_KEYS);
        if (text)
            json_object_set_new(settings, "SHIPPING_METHOD_MAP", json_string(text));
        free(text);
    } else {
        json_object_del(settings, "SHIPPING_METHOD_MAP");
    }
    json_decref(map);

    if (t->og_statuses) {
        *list = '\0';
        json_array_foreach(t->og_statuses, i, st)
        {
            int n = (int)json_integer_value(json_object_get(st, "number"));
            snprintf(field, sizeof(field), "editable_%d", n);
            if (adm_field(c, field, v, sizeof(v)) == 1)
                snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%d", *list ? "," : "",
                         n);
        }
        if (!*list)
            adm_tune_error(t, TF_EDITABLE,
                           "Tick at least one: an order the warehouse has not started on.");
        else
            json_object_set_new(settings, "ONGOING_EDITABLE_STATUSES", json_string(list));
    }
}

/* The field a registry refusal names (its variable), or -1. */
static int adm_tune_field_of(const char *why)
{
    for (int f = 0; f < TF_N; f++)
        if (strstr(why, adm_tune_vars[f]))
            return f;
    return -1;
}

static void adm_activate_now(adm_call *c, const char *name, json_t *settings, const char *was,
                             int was_dry);

static void adm_tune_post(adm_call *c, const char *name)
{
    json_t *record;
    mo_config tcfg;
    adm_tune t = {0};
    char next[16], errstr[512];
    if (adm_tune_begin(c, name, &record, &tcfg, &t))
        return;
    adm_field(c, "next", next, sizeof(next));
    json_t *settings = json_deep_copy(json_object_get(record, "settings"));
    const char *state = json_string_value(json_object_get(record, "state"));
    int was_dry = tcfg.dry_run;
    if (!settings) {
        adm_fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, name, "out of memory");
        goto out;
    }
    adm_tune_read(c, &t, settings);
    if (t.bad) {
        snprintf(t.notice, sizeof(t.notice), "Some fields need another look; nothing was saved.");
        adm_tune_page(c, MHD_HTTP_BAD_REQUEST, name, record, &tcfg, &t);
        goto out;
    }
    if (!strcmp(next, "activate")) {
        adm_activate_now(c, name, settings, state, was_dry);
        goto out;
    }
    const char *to = state;
    if (!strcmp(next, "try")) {
        json_object_set_new(settings, "DRY_RUN", json_string("on"));
        to = TN_ACTIVE;
    }
    if (tn_put(c->rs, &c->srv->key, name, settings, to, 0, errstr, sizeof(errstr))) {
        int f = adm_tune_field_of(errstr);
        if (f >= 0) {
            adm_tune_error(&t, f, errstr);
            snprintf(t.notice, sizeof(t.notice),
                     "Some fields need another look; nothing was "
                     "saved.");
            adm_tune_page(c, MHD_HTTP_BAD_REQUEST, name, record, &tcfg, &t);
        } else {
            adm_fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, name, errstr);
        }
        goto out;
    }
    if (!strcmp(next, "try")) {
        lg_info(COMPONENT, name,
                "tenant %s fine-tuned and running dry (Try first) from the admin "
                "app (%s)",
                name, c->peer);
        adm_redirect(c, "/tenants/%s/dry%s", name, "");
    } else {
        lg_info(COMPONENT, name, "tenant %s fine-tuned from the admin app (%s)", name, c->peer);
        adm_redirect(c, "/tenants/%s/tune?done=%s", name, "saved");
    }
out:
    json_decref(settings);
    adm_tune_free(&t);
    json_decref(record);
    cfg_free(&tcfg);
}

/* ---- Try first: what the dry run found ------------------------------------ */

/* The dry-run records of flow for tenant (newest first), at most
 * ADM_DRY_SHOWN; *more counts the rest. */
static json_t *adm_dry_records(adm_call *c, const char *name, const char *flow, int *more,
                               char *errstr, size_t errstr_size)
{
    char pattern[RS_KEY_SIZE], suffix[64], cursor[32] = "0";
    json_t *keys = json_array(), *out = NULL;
    *more = 0;
    snprintf(suffix, sizeof(suffix), "dryrun:%s:*", flow);
    rs_key_tenant(name, suffix, pattern, sizeof(pattern));
    /* SCAN walks the keyspace: bounded rounds, the tenant's keys only. */
    for (int round = 0; round < 1000; round++) {
        json_t *reply = NULL;
        const char *argv[6] = {"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"};
        if (rs_call(c->rs, 6, argv, &reply, errstr, errstr_size)) {
            json_decref(keys);
            return NULL;
        }
        const char *next = json_string_value(json_array_get(reply, 0));
        size_t i;
        json_t *k;
        json_array_foreach(json_array_get(reply, 1), i, k)
        {
            if (json_array_size(keys) < ADM_DRY_SHOWN)
                json_array_append(keys, k);
            else
                (*more)++;
        }
        snprintf(cursor, sizeof(cursor), "%s", next ? next : "0");
        json_decref(reply);
        if (!strcmp(cursor, "0"))
            break;
    }
    out = json_array();
    size_t n = json_array_size(keys);
    if (n) {
        const char **argv = calloc(n + 1, sizeof(*argv));
        json_t *reply = NULL;
        if (!argv) {
            json_decref(keys);
            json_decref(out);
            snprintf(errstr, errstr_size, "out of memory");
            return NULL;
        }
        argv[0] = "MGET";
        for (size_t i = 0; i < n; i++)
            argv[i + 1] = json_string_value(json_array_get(keys, i));
        mo_err err = rs_call(c->rs, (int)n + 1, argv, &reply, errstr, errstr_size);
        free(argv);
        if (err) {
            json_decref(keys);
            json_decref(out);
            return NULL;
        }
        size_t i;
        json_t *v;
        json_array_foreach(reply, i, v)
        {
            json_t *rec = json_is_string(v) ? json_loads(json_string_value(v), 0, NULL) : NULL;
            if (json_is_object(rec))
                json_array_append(out, rec);
            json_decref(rec);
        }
        json_decref(reply);
    }
    json_decref(keys);
    /* Newest first: "at" is a UTC instant, so text order is time order. */
    size_t cnt = json_array_size(out);
    for (size_t a = 1; a < cnt; a++)
        for (size_t b = a; b > 0; b--) {
            const char *x = json_string_value(json_object_get(json_array_get(out, b - 1), "at"));
            const char *y = json_string_value(json_object_get(json_array_get(out, b), "at"));
            if (!x || !y || strcmp(x, y) >= 0)
                break;
            json_t *tmp = json_incref(json_array_get(out, b - 1));
            json_array_set(out, b - 1, json_array_get(out, b));
            json_array_set_new(out, b, tmp);
        }
    return out;
}

/* A value of a difference, compact and cut to a line. */
static void adm_diff_value(adm_page *p, const json_t *v)
{
    char *text = v && !json_is_null(v) ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    if (!text) {
        adm_page_printf(p, "<em>nothing</em>");
        return;
    }
    if (strlen(text) > 80)
        memcpy(text + 77, "...", 4);
    adm_page_printf(p, "<code>");
    adm_page_esc(p, text);
    adm_page_printf(p, "</code>");
    free(text);
}

/* The differences: what the warehouse has and what mosync would send, by
 * field; for an entity the warehouse does not have, how many fields. */
static void adm_differences(adm_page *p, const json_t *rec)
{
    size_t i, n = 0;
    const json_t *d, *diffs = json_object_get(rec, "differences");
    const char *outcome = json_string_value(json_object_get(rec, "outcome"));
    if (!json_array_size(diffs)) {
        adm_page_printf(p, "none");
        return;
    }
    if (outcome && !strcmp(outcome, "create")) {
        adm_page_printf(p, "not in the warehouse: %zu fields to send", json_array_size(diffs));
        return;
    }
    json_array_foreach(diffs, i, d)
    {
        if (n++ == 20) {
            adm_page_printf(p, "<br>and %zu more", json_array_size(diffs) - 20);
            break;
        }
        adm_page_printf(p, "%s<code>", i ? "<br>" : "");
        adm_page_esc(p, json_string_value(json_object_get(d, "field")));
        adm_page_printf(p, "</code>: the warehouse has ");
        adm_diff_value(p, json_object_get(d, "target_has"));
        adm_page_printf(p, ", mosync would send ");
        adm_diff_value(p, json_object_get(d, "would_send"));
    }
}

static void adm_dry_table(adm_page *p, const char *id, const char *heading, const char *what,
                          const json_t *recs, int more, const char *why)
{
    size_t i, j;
    const json_t *r, *x;
    adm_page_printf(p, "<h2 id=\"%s\">%s</h2>\n", id, heading);
    if (!recs) {
        adm_unknown(p, heading, why);
        return;
    }
    if (!json_array_size(recs)) {
        adm_page_printf(p, "<p class=\"box\">None yet: the pollers read the shop within their "
                           "interval. Reload the page.</p>\n");
        return;
    }
    adm_html_scroll_open(p, id);
    adm_page_printf(p,
                    "<table>\n<thead><tr><th scope=\"col\">%s</th><th scope=\"col\">What mosync "
                    "would do</th><th scope=\"col\">Requests it would send</th><th "
                    "scope=\"col\">Where the warehouse differs</th><th scope=\"col\">Seen "
                    "(UTC)</th></tr></thead>\n<tbody>\n",
                    what);
    json_array_foreach(recs, i, r)
    {
        adm_page_printf(p, "<tr><td>");
        adm_page_esc(p, json_string_value(json_object_get(r, "entity")));
        adm_page_printf(p, "</td><td class=\"outcome\">");
        adm_page_esc(p, json_string_value(json_object_get(r, "outcome")));
        const char *reason = json_string_value(json_object_get(r, "reason"));
        const char *error = json_string_value(json_object_get(r, "error"));
        if (reason || error) {
            adm_page_printf(p, "<br><span class=\"muted\">");
            adm_page_esc(p, reason ? reason : error);
            adm_page_printf(p, "</span>");
        }
        adm_page_printf(p, "</td><td>");
        json_array_foreach(json_object_get(r, "requests"), j, x)
        {
            adm_page_printf(p, "%s<code>", j ? "<br>" : "");
            adm_page_esc(p, json_string_value(json_object_get(x, "method")));
            adm_page_printf(p, " ");
            adm_page_esc(p, json_string_value(json_object_get(x, "path")));
            adm_page_printf(p, "</code>");
        }
        if (!json_array_size(json_object_get(r, "requests")))
            adm_page_printf(p, "none");
        adm_page_printf(p, "</td><td>");
        adm_differences(p, r);
        adm_page_printf(p, "</td><td>");
        adm_page_esc(p, json_string_value(json_object_get(r, "at")));
        adm_page_printf(p, "</td></tr>\n");
    }
    adm_page_printf(p, "</tbody></table>");
    if (more)
        adm_page_printf(p, "<p class=\"muted\">%d more not listed.</p>", more);
    adm_page_printf(p, "</div>\n");
}

static void adm_dry_get(adm_call *c, const char *name)
{
    json_t *record;
    mo_config tcfg;
    int cfg_ok, more_orders = 0, more_articles = 0;
    char why[512], orders_why[512] = "", articles_why[512] = "", title[96];
    if (adm_tenant_load(c, name, &record, &tcfg, &cfg_ok, why, sizeof(why)))
        return;
    json_t *orders =
        adm_dry_records(c, name, "orders", &more_orders, orders_why, sizeof(orders_why));
    json_t *articles =
        adm_dry_records(c, name, "articles", &more_articles, articles_why, sizeof(articles_why));
    int dry = cfg_ok && tcfg.dry_run;
    snprintf(title, sizeof(title), "Try first: %s", name);
    adm_begin(c, MHD_HTTP_OK, title,
              dry ? "Running dry: mosync reads the shop and compares with the warehouse; it "
                    "writes nothing to either."
                  : "Not running dry now: below is what the last dry run found.",
              0);
    adm_page_printf(&c->page,
                    "<form class=\"box\" method=\"post\" action=\"/tenants/%s/activate\">"
                    "<input type=\"hidden\" name=\"csrf\" value=\"%s\">"
                    "<div class=\"actions\"><button type=\"submit\">Activate</button> "
                    "<a href=\"/tenants/%s/tune\">Fine-tune</a> <a href=\"/tenants/%s\">Status "
                    "page</a></div><p class=\"muted\">Activate starts the real run: mosync "
                    "reads the shop's recent orders again and sends them.</p></form>\n",
                    name, c->csrf, name, name);
    adm_dry_table(&c->page, "dry-orders", "Orders it would send", "Order", orders, more_orders,
                  orders_why);
    adm_dry_table(&c->page, "dry-articles", "Articles it would send", "Article", articles,
                  more_articles, articles_why);
    adm_end(c);
    json_decref(orders);
    json_decref(articles);
    json_decref(record);
    if (cfg_ok)
        cfg_free(&tcfg);
}

/* ---- Activate --------------------------------------------------------------- */

/* After a dry run: deletes each stream's cursor, seen map and lease at once
 * (see the top of this file). */
static mo_err adm_reset_pollers(adm_call *c, const char *name, char *errstr, size_t errstr_size)
{
    char keys[3 * 4][RS_KEY_SIZE], suffix[64];
    const char *argv[1 + 3 * 4] = {"DEL"};
    json_t *reply = NULL;
    int n = 1;
    for (size_t s = 0; s < 4; s++) {
        const char *parts[3] = {"cursor", "seen", "lease"};
        for (int k = 0; k < 3; k++) {
            snprintf(suffix, sizeof(suffix), "%s:%s", parts[k], cfg_streams[s]);
            argv[n] = rs_key_tenant(name, suffix, keys[n - 1], sizeof(keys[0]));
            n++;
        }
    }
    mo_err err = rs_call(c->rs, n, argv, &reply, errstr, errstr_size);
    json_decref(reply);
    return err;
}

/* Registers the Mystore webhooks (M20) to ADMIN_WEBHOOK_URL/webhooks/mystore/
 * <name>, signed with a new secret stored in the tenant first.  Returns the
 * ?done= code: "activated" (no ADMIN_WEBHOOK_URL), "activated-webhooks", or
 * "activated-polling" (Mystore refused them: the tenant polls only). */
static const char *adm_register_webhooks(adm_call *c, const char *name, json_t *settings,
                                         const char *state)
{
    const mo_config *cfg = c->srv->cfg;
    char address[512], errstr[512], secret[65];
    unsigned char raw[32];
    mo_config tcfg;
    json_t *listed = NULL;
    if (!*cfg->admin_webhook_url)
        return "activated";
    size_t n = strlen(cfg->admin_webhook_url);
    while (n && cfg->admin_webhook_url[n - 1] == '/')
        n--;
    snprintf(address, sizeof(address), "%.*s/webhooks/mystore/%s", (int)n, cfg->admin_webhook_url,
             name);
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        return "activated-polling";
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(secret + 2 * i, 3, "%02x", raw[i]);
    /* The secret is stored before Mystore can sign with it. */
    json_object_set_new(settings, "MYSTORE_WEBHOOK_SECRET", json_string(secret));
    memset(secret, 0, sizeof(secret));
    if (tn_put(c->rs, &c->srv->key, name, settings, state, 0, errstr, sizeof(errstr))) {
        lg_warn(COMPONENT, name, "webhooks not registered: the registry refused the secret: %s",
                errstr);
        return "activated-polling";
    }
    json_t *s = json_deep_copy(settings);
    json_object_set_new(s, "MOSYNC_TENANT", json_string(name));
    mo_err err = cfg_load_tenant(&tcfg, CFG_NEED_MYSTORE, s, errstr, sizeof(errstr));
    json_decref(s);
    if (err) {
        lg_warn(COMPONENT, name, "webhooks not registered: %s", errstr);
        return "activated-polling";
    }
    rs_set_tenant(c->rs, name);
    ms_client *ms = ms_new(&tcfg, c->rs, 1);
    long status = 0;
    int ok = 0, refused = 0;
    /* Topics registered already to this address (a second Activate) stay. */
    if (ms && ms_list_all(ms, "webhooks", &listed, errstr, sizeof(errstr)))
        listed = NULL;
    for (size_t i = 0; ms && i < ADM_NTOPICS && !refused; i++) {
        size_t j;
        json_t *w;
        int have = 0;
        json_array_foreach(listed, j, w)
        {
            json_t *a = json_object_get(w, "attributes");
            const char *topic = json_string_value(json_object_get(a, "topic"));
            const char *addr = json_string_value(json_object_get(a, "address"));
            if (topic && addr && !strcmp(topic, adm_webhook_topics[i]) && !strcmp(addr, address))
                have = 1;
        }
        json_t *body = json_pack("{s:{s:s, s:{s:s, s:s, s:s}}}", "data", "type", "webhooks",
                                 "attributes", "topic", adm_webhook_topics[i], "address", address,
                                 "secret", tcfg.mystore_webhook_secret);
        if (!have && (!body || ms_write(ms, "POST", "webhooks", body, NULL, &status, errstr,
                                        sizeof(errstr)))) {
            lg_warn(COMPONENT, name, "webhook %s not registered (HTTP %ld): %s",
                    adm_webhook_topics[i], status, errstr);
            refused = 1;
        } else {
            ok++;
        }
        json_decref(body);
    }
    json_decref(listed);
    ms_free(ms);
    rs_set_tenant(c->rs, c->srv->cfg->tenant);
    cfg_free(&tcfg);
    if (!refused && ok == (int)ADM_NTOPICS) {
        lg_info(COMPONENT, name, "tenant %s: Mystore webhooks registered to %s", name, address);
        return "activated-webhooks";
    }
    return "activated-polling";
}

/* Activates tenant name with settings (its record's, changed by the form or
 * not): DRY_RUN off, state active; after a dry run the pollers start again
 * (see the top); then the webhooks. */
static void adm_activate_now(adm_call *c, const char *name, json_t *settings, const char *was,
                             int was_dry)
{
    char errstr[512];
    json_object_del(settings, "DRY_RUN");
    if (tn_put(c->rs, &c->srv->key, name, settings, TN_ACTIVE, 0, errstr, sizeof(errstr))) {
        adm_fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, name, errstr);
        return;
    }
    if (was_dry) {
        usleep(ADM_ACTIVATE_WAIT_MS * 1000);
        if (adm_reset_pollers(c, name, errstr, sizeof(errstr))) {
            lg_error(COMPONENT, name,
                     "tenant %s activated, but its pollers were not set back after the dry run "
                     "(%s): run `mosync reconcile orders --fix --tenant %s`",
                     name, errstr, name);
            adm_fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, name,
                     "Activated, but what the dry run read is not sent again: Redis did not "
                     "answer. Run mosync reconcile orders --fix for this tenant.");
            return;
        }
    }
    lg_info(COMPONENT, name, "tenant %s activated from the admin app (%s; was %s%s)", name, c->peer,
            was ? was : "?", was_dry ? ", running dry" : "");
    const char *done = adm_register_webhooks(c, name, settings, TN_ACTIVE);
    adm_redirect(c, "/tenants/%s?done=%s", name, done);
}

static void adm_activate(adm_call *c, const char *name)
{
    json_t *record;
    mo_config tcfg;
    int cfg_ok;
    char why[512];
    if (adm_tenant_load(c, name, &record, &tcfg, &cfg_ok, why, sizeof(why)))
        return;
    if (!cfg_ok) {
        adm_fail(c, MHD_HTTP_CONFLICT, name, why);
        json_decref(record);
        return;
    }
    json_t *settings = json_deep_copy(json_object_get(record, "settings"));
    if (settings)
        adm_activate_now(c, name, settings, json_string_value(json_object_get(record, "state")),
                         tcfg.dry_run);
    else
        adm_fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, name, "out of memory");
    json_decref(settings);
    json_decref(record);
    cfg_free(&tcfg);
}

const adm_route adm_tune_routes[] = {
    {"GET", "/tenants/*/tune", 1, adm_tune_get},
    {"POST", "/tenants/*/tune", 1, adm_tune_post},
    {"GET", "/tenants/*/dry", 1, adm_dry_get},
    {"POST", "/tenants/*/activate", 1, adm_activate},
};
const size_t adm_tune_nroutes = sizeof(adm_tune_routes) / sizeof(adm_tune_routes[0]);
