/* `mosync admin`: the pages (see admin.h).  Plain HTML written by the
 * server: one small inline stylesheet, no JavaScript, a fluid layout that
 * reads at a phone's width, a label on every field, one h1 per page.  Every
 * text that comes from outside (tenant names, error texts, keys) goes
 * through adm_page_esc.  Secrets are never in what these functions get: the
 * tenant list reads sealed records, the tenant page the status report. */
#include "admin.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void adm_page_printf(adm_page *p, const char *fmt, ...)
{
    va_list ap;
    if (p->failed)
        return;
    for (;;) {
        size_t room = p->cap - p->len;
        va_start(ap, fmt);
        int n = p->s ? vsnprintf(p->s + p->len, room, fmt, ap) : -1;
        va_end(ap);
        if (p->s && n >= 0 && (size_t)n < room) {
            p->len += (size_t)n;
            return;
        }
        size_t want = p->cap ? p->cap * 2 : 16384;
        while (n >= 0 && want < p->len + (size_t)n + 1)
            want *= 2;
        char *s = want <= ADM_PAGE_MAX ? realloc(p->s, want) : NULL;
        if (!s) {
            p->failed = 1;
            return;
        }
        p->s = s;
        p->cap = want;
    }
}

void adm_page_esc(adm_page *p, const char *text)
{
    const char *start = text ? text : "";
    for (const char *c = start;; c++) {
        const char *rep = *c == '&'    ? "&amp;"
                          : *c == '<'  ? "&lt;"
                          : *c == '>'  ? "&gt;"
                          : *c == '"'  ? "&quot;"
                          : *c == '\'' ? "&#39;"
                                       : NULL;
        if (!rep && *c)
            continue;
        adm_page_printf(p, "%.*s%s", (int)(c - start), start, rep ? rep : "");
        if (!*c)
            return;
        start = c + 1;
    }
}

void adm_page_free(adm_page *p)
{
    free(p->s);
    memset(p, 0, sizeof(*p));
}

/* Calm, high-contrast, and fluid: max-width for reading, tables scroll
 * sideways on a phone instead of squeezing, focus always visible. */
static const char adm_css[] =
    "body{font:16px/1.5 system-ui,sans-serif;margin:0;color:#1a1a1a;background:#f6f7f9}"
    "header,main,footer{max-width:60rem;margin:0 auto;padding:0 1rem}"
    "header{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;"
    "justify-content:space-between;padding-top:.75rem;padding-bottom:.75rem}"
    "header a{font-weight:600}"
    "h1{font-size:1.5rem;margin:.5rem 0 1rem}h2{font-size:1.15rem;margin:1.5rem 0 .5rem}"
    "a{color:#0b57d0}a:focus,button:focus,input:focus,.scroll:focus{outline:3px solid #f9a825;"
    "outline-offset:2px}"
    ".box{background:#fff;border:1px solid #d5d9de;border-radius:6px;padding:1rem;"
    "margin:0 0 1rem}"
    ".scroll{overflow-x:auto}"
    "table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.4rem .5rem;"
    "border-bottom:1px solid #e3e6ea;vertical-align:top}th{font-weight:600}"
    "button{font:inherit;padding:.4rem .9rem;border-radius:4px;border:1px solid #0b57d0;"
    "background:#0b57d0;color:#fff;cursor:pointer}"
    "button.quiet{background:#fff;color:#0b57d0}"
    "label{display:block;font-weight:600;margin-bottom:.25rem}"
    "input[type=password],input[type=text],input[type=url],input[type=number],select{"
    "font:inherit;padding:.4rem;width:100%;max-width:20rem;box-sizing:border-box;"
    "border:1px solid #8a9099;border-radius:4px;background:#fff}"
    "input[type=checkbox]{width:1.1rem;height:1.1rem;margin-right:.4rem;vertical-align:-2px}"
    "label.check{font-weight:400;margin:.2rem 0}"
    "fieldset{border:1px solid #d5d9de;border-radius:6px;margin:0 0 1rem;padding:.5rem 1rem}"
    "legend{font-weight:600;padding:0 .25rem}"
    "select:focus{outline:3px solid #f9a825;outline-offset:2px}"
    ".actions{display:flex;flex-wrap:wrap;gap:.5rem}"
    ".error{color:#b00020;font-weight:600}"
    ".notice{border-left:4px solid #1e8e3e}.alert{border-left:4px solid #b00020}"
    ".state{font-weight:600}.muted{color:#555}"
    "form.inline{display:inline}"
    "svg{max-width:100%;height:auto}";

/* A table that scrolls sideways on a phone must take the keyboard's focus to
 * be scrolled by it (axe's scrollable-region-focusable, which the browser
 * test found at 390 px): a focusable region, named by its heading. */
void adm_html_scroll_open(adm_page *p, const char *labelledby)
{
    adm_page_printf(p,
                    "<div class=\"box scroll\" tabindex=\"0\" role=\"region\" "
                    "aria-labelledby=\"%s\">",
                    labelledby);
}

void adm_html_begin(adm_page *p, const adm_view *v)
{
    adm_page_printf(p, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                       "<title>");
    adm_page_esc(p, v->title);
    adm_page_printf(p,
                    " - mosync admin</title>\n<style>%s</style>\n</head>\n<body>\n<header>"
                    "<a href=\"/\">mosync admin</a>",
                    adm_css);
    if (v->csrf) {
        /* Logging out changes state: a form with its token, not a link. */
        adm_page_printf(p,
                        "<form class=\"inline\" method=\"post\" action=\"/logout\">"
                        "<input type=\"hidden\" name=\"csrf\" value=\"%s\">"
                        "<button class=\"quiet\" type=\"submit\">Log out</button></form>",
                        v->csrf);
    }
    adm_page_printf(p, "</header>\n<main>\n<h1>");
    adm_page_esc(p, v->title);
    adm_page_printf(p, "</h1>\n");
    if (v->notice) {
        adm_page_printf(p, "<p class=\"box %s\" role=\"%s\">", v->notice_error ? "alert" : "notice",
                        v->notice_error ? "alert" : "status");
        adm_page_esc(p, v->notice);
        adm_page_printf(p, "</p>\n");
    }
}

void adm_html_end(adm_page *p, const adm_view *v)
{
    (void)v;
    adm_page_printf(p,
                    "</main>\n<footer><p class=\"muted\">mosync %s</p></footer>\n"
                    "</body>\n</html>\n",
                    MOSYNC_VERSION);
}

void adm_html_login(adm_page *p, const char *error)
{
    adm_page_printf(p, "<form class=\"box\" method=\"post\" action=\"/login\">\n"
                       "<label for=\"password\">Admin password</label>\n"
                       "<input id=\"password\" name=\"password\" type=\"password\" "
                       "autocomplete=\"current-password\" required autofocus");
    if (error)
        adm_page_printf(p, " aria-invalid=\"true\" aria-describedby=\"password-error\"");
    adm_page_printf(p, ">\n");
    if (error) {
        adm_page_printf(p, "<p id=\"password-error\" class=\"error\">");
        adm_page_esc(p, error);
        adm_page_printf(p, "</p>\n");
    }
    adm_page_printf(p, "<p><button type=\"submit\">Log in</button></p>\n</form>\n");
}

void adm_html_tenants(adm_page *p, const json_t *names, const json_t *records)
{
    size_t i;
    json_t *name;
    if (!json_array_size(names)) {
        adm_page_printf(p, "<p class=\"box\">The registry has no tenant yet. Add one with "
                           "<code>mosync tenant add &lt;name&gt;</code>.</p>\n");
        return;
    }
    adm_html_scroll_open(p, "tenants-caption");
    adm_page_printf(p,
                    "<table>\n<caption id=\"tenants-caption\" class=\"muted\">%zu "
                    "tenant%s in the registry</caption>\n"
                    "<thead><tr><th scope=\"col\">Tenant</th><th scope=\"col\">State</th>"
                    "<th scope=\"col\">Since</th></tr></thead>\n<tbody>\n",
                    json_array_size(names), json_array_size(names) == 1 ? "" : "s");
    json_array_foreach(names, i, name)
    {
        const json_t *rec = json_array_get(records, i);
        const char *n = json_string_value(name),
                   *state = json_string_value(json_object_get(rec, "state"));
        /* Tenant names are [A-Za-z0-9._-] (tn_check_name): safe in a path. */
        adm_page_printf(p, "<tr><td><a href=\"/tenants/");
        adm_page_esc(p, n);
        adm_page_printf(p, "\">");
        adm_page_esc(p, n);
        adm_page_printf(p, "</a></td><td class=\"state\">");
        adm_page_esc(p, state ? state : "(record unreadable)");
        adm_page_printf(p, "</td><td>");
        adm_page_esc(p, json_string_value(json_object_get(rec, "state_at")));
        adm_page_printf(p, "</td></tr>\n");
    }
    adm_page_printf(p, "</tbody></table></div>\n");
    /* Issue 14: "Connect a shop" (/connect) goes here. */
}

/* "12 s ago", "5 min ago", "3 h ago", "2 d ago"; "never" for no age. */
static void adm_age(adm_page *p, const json_t *age)
{
    if (!json_is_integer(age)) {
        adm_page_printf(p, "never");
        return;
    }
    long long s = (long long)json_integer_value(age);
    if (s < 120)
        adm_page_printf(p, "%lld s ago", s);
    else if (s < 7200)
        adm_page_printf(p, "%lld min ago", s / 60);
    else if (s < 172800)
        adm_page_printf(p, "%lld h ago", s / 3600);
    else
        adm_page_printf(p, "%lld d ago", s / 86400);
}

/* A string member, or dflt. */
static const char *adm_str(const json_t *o, const char *name, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, name));
    return s ? s : dflt;
}

/* The cell of a part status shows as null with <name>_why beside it. */
static int adm_missing(adm_page *p, const json_t *parent, const char *name)
{
    char why[64];
    snprintf(why, sizeof(why), "%s_why", name);
    const char *text = json_string_value(json_object_get(parent, why));
    if (!text)
        return 0;
    adm_page_printf(p, "<span class=\"muted\">unknown: ");
    adm_page_esc(p, text);
    adm_page_printf(p, "</span>");
    return 1;
}

/* "ok 3 s ago; error 1 min ago (transient: ...)" of a last-run object. */
static void adm_last(adm_page *p, const json_t *parent)
{
    const json_t *last = json_object_get(parent, "last");
    if (adm_missing(p, parent, "last")) {
        adm_page_printf(p, "</td><td>");
        return;
    }
    adm_age(p, json_object_get(last, "ok_age_s"));
    adm_page_printf(p, "</td><td>");
    adm_age(p, json_object_get(last, "error_age_s"));
    if (json_is_string(json_object_get(last, "error"))) {
        adm_page_printf(p, "<br><span class=\"error\">");
        adm_page_esc(p, adm_str(last, "error_class", "?"));
        adm_page_printf(p, "</span>: ");
        adm_page_esc(p, adm_str(last, "error", ""));
    }
}

static void adm_banners(adm_page *p, const adm_tenant_view *t)
{
    const json_t *st = t->status;
    const json_t *oauth = json_object_get(st, "oauth");
    if (json_is_string(json_object_get(oauth, "needs_reconnect_since"))) {
        adm_page_printf(p, "<div class=\"box alert\" role=\"alert\"><p><strong>Needs "
                           "reconnect.</strong> Mystore refused the refresh token since ");
        adm_page_esc(p, adm_str(oauth, "needs_reconnect_since", "?"));
        adm_page_printf(p, " (");
        adm_page_esc(p, adm_str(oauth, "reason", "no reason given"));
        adm_page_printf(p,
                        "). The Mystore side waits until the shop grants access again.</p>"
                        "<form method=\"post\" action=\"/tenants/%s/reconnect\">"
                        "<input type=\"hidden\" name=\"csrf\" value=\"%s\">"
                        "<button type=\"submit\">Reconnect to Mystore</button> <span "
                        "class=\"muted\">(or set a new refresh token with <code>mosync tenant "
                        "set</code>)</span></form></div>\n",
                        t->name, t->csrf);
    }
    const char *api;
    const json_t *cred;
    json_object_foreach((json_t *)json_object_get(st, "credentials"), api, cred)
    {
        if (!json_is_object(cred))
            continue;
        adm_page_printf(p, "<div class=\"box alert\" role=\"alert\"><p><strong>");
        adm_page_esc(p, !strcmp(api, "mystore")   ? "Mystore"
                        : !strcmp(api, "ongoing") ? "Ongoing"
                                                  : api);
        adm_page_printf(p, " refuses the credential</strong> since ");
        adm_page_esc(p, adm_str(cred, "refused_since", "?"));
        adm_page_printf(p, ": ");
        adm_page_esc(p, adm_str(cred, "error", ""));
        adm_page_printf(p, ". Its flows wait until it is accepted again.</p></div>\n");
    }
    const char *parts[] = {"redis", "kafka"};
    for (int i = 0; i < 2; i++) {
        const json_t *part = json_object_get(st, parts[i]);
        if (json_is_false(json_object_get(part, "reachable"))) {
            adm_page_printf(p, "<div class=\"box alert\" role=\"alert\"><p>");
            adm_page_esc(p, adm_str(part, "why", "unreachable"));
            adm_page_printf(p, "</p></div>\n");
        }
    }
}

static void adm_streams(adm_page *p, const json_t *st)
{
    const char *name;
    const json_t *v;
    adm_page_printf(p, "<h2 id=\"pollers\">Pollers</h2>\n");
    adm_html_scroll_open(p, "pollers");
    adm_page_printf(p,
                    "<table>\n<thead><tr><th scope=\"col\">Stream</th><th scope=\"col\">Cursor</th>"
                    "<th scope=\"col\">Last run ok</th><th scope=\"col\">Last error</th></tr>"
                    "</thead>\n<tbody>\n");
    json_object_foreach((json_t *)json_object_get(st, "streams"), name, v)
    {
        const json_t *cur = json_object_get(v, "cursor");
        adm_page_printf(p, "<tr><th scope=\"row\">");
        adm_page_esc(p, name);
        adm_page_printf(p, "</th><td>");
        if (!adm_missing(p, v, "cursor")) {
            adm_page_esc(p, adm_str(cur, "position", "no scan completed yet"));
            if (json_is_integer(json_object_get(cur, "age_s"))) {
                adm_page_printf(p, " <span class=\"muted\">(");
                adm_age(p, json_object_get(cur, "age_s"));
                adm_page_printf(p, ")</span>");
            }
        }
        adm_page_printf(p, "</td><td>");
        adm_last(p, v);
        adm_page_printf(p, "</td></tr>\n");
    }
    adm_page_printf(p, "</tbody></table></div>\n");
}

static void adm_flows(adm_page *p, const json_t *st)
{
    const char *name;
    const json_t *v;
    adm_page_printf(p, "<h2 id=\"flows\">Flows</h2>\n");
    adm_html_scroll_open(p, "flows");
    adm_page_printf(p, "<table>\n<thead><tr><th scope=\"col\">Flow</th><th scope=\"col\">Lag "
                       "(events not applied)</th><th scope=\"col\">Last run ok</th>"
                       "<th scope=\"col\">Last error</th></tr></thead>\n<tbody>\n");
    json_object_foreach((json_t *)json_object_get(st, "flows"), name, v)
    {
        const json_t *lag = json_object_get(v, "lag");
        adm_page_printf(p, "<tr><th scope=\"row\">");
        adm_page_esc(p, name);
        adm_page_printf(p, "</th><td>");
        if (!adm_missing(p, v, "lag"))
            adm_page_printf(p, "%lld%s",
                            (long long)json_integer_value(json_object_get(lag, "total")),
                            json_is_true(json_object_get(lag, "shared"))
                                ? " <span class=\"muted\">(every tenant's, one group)</span>"
                                : "");
        adm_page_printf(p, "</td><td>");
        adm_last(p, v);
        adm_page_printf(p, "</td></tr>\n");
    }
    adm_page_printf(p, "</tbody></table></div>\n");
    const json_t *ms = json_object_get(json_object_get(st, "budget"), "mystore");
    adm_page_printf(p, "<p>Mystore API budget: ");
    if (!adm_missing(p, json_object_get(st, "budget"), "mystore"))
        adm_page_printf(p, "%lld of %lld requests in the last minute",
                        (long long)json_integer_value(json_object_get(ms, "used_last_minute")),
                        (long long)json_integer_value(json_object_get(ms, "limit_per_min")));
    adm_page_printf(p, "</p>\n");
}

/* A value as the chart shows it: a count, or milliseconds as seconds. */
static void adm_chart_value(char *buf, size_t size, const adm_chart *ch, long long v)
{
    if (ch->ms)
        snprintf(buf, size, "%.1f s", (double)v / 1000.0);
    else
        snprintf(buf, size, "%lld", v);
}

void adm_html_chart(adm_page *p, const adm_chart *ch)
{
    /* A bar per hour in a 480 x 160 box that scales with the page. */
    const int w = 480, h = 160, left = 44, bottom = 22, top = 8;
    long long max = 0, total = 0;
    int hours = 0;
    char top_label[32], max_label[32], v_label[32], summary[96];
    for (int i = 0; i < ch->n; i++) {
        if (ch->v[i] < 0)
            continue;
        hours++;
        total += ch->v[i];
        if (ch->v[i] > max)
            max = ch->v[i];
    }
    long long scale = max < 4 ? 4 : max;
    double bw = (double)(w - left - 4) / ch->n;
    adm_chart_value(top_label, sizeof(top_label), ch, scale);
    adm_chart_value(max_label, sizeof(max_label), ch, max);
    if (ch->ms)
        snprintf(summary, sizeof(summary), "at most %s in an hour with orders (%d of them)",
                 max_label, hours);
    else
        snprintf(summary, sizeof(summary), "%lld in all, at most %s in one hour", total, max_label);
    adm_page_printf(p,
                    "<figure class=\"box\"><svg role=\"img\" aria-labelledby=\"%s-title\" "
                    "viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\">"
                    "<title id=\"%s-title\">%s over the last %d hours: %s</title>\n"
                    "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#8a9099\"/>\n"
                    "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">%s</text>\n"
                    "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">0</text>\n",
                    ch->id, w, h, w, h, ch->id, ch->what, ch->n, summary, left, h - bottom, w,
                    h - bottom, left - 4, top + 10, top_label, left - 4, h - bottom);
    for (int i = 0; i < ch->n; i++) {
        long long v = ch->v[i] < 0 ? 0 : ch->v[i];
        double bh = (double)(h - bottom - top) * (double)v / (double)scale;
        time_t t = ch->now - (time_t)(ch->n - 1 - i) * 3600;
        struct tm tm;
        gmtime_r(&t, &tm);
        if (ch->v[i] < 0)
            snprintf(v_label, sizeof(v_label), "none");
        else
            adm_chart_value(v_label, sizeof(v_label), ch, v);
        adm_page_printf(p,
                        "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                        "fill=\"%s\"><title>%02d:00 UTC: %s</title></rect>\n",
                        left + 2 + i * bw, h - bottom - bh, bw > 3 ? bw - 2 : bw, bh,
                        ch->ms ? "#6a1b9a" : "#0b57d0", tm.tm_hour, v_label);
        if (i % 6 == (ch->n - 1) % 6)
            adm_page_printf(p,
                            "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" "
                            "text-anchor=\"middle\">%02d:00</text>\n",
                            left + 2 + i * bw + bw / 2, h - 6, tm.tm_hour);
    }
    adm_page_printf(p, "</svg><figcaption>%s (UTC), last %d hours: %s.</figcaption></figure>\n",
                    ch->what, ch->n, summary);
}

/* A part of the page that could not be read, with why (may be NULL). */
static void adm_unknown_box(adm_page *p, const char *why)
{
    adm_page_printf(p, "<p class=\"box muted\">Unknown: ");
    adm_page_esc(p, why ? why : "?");
    adm_page_printf(p, "</p>\n");
}

static void adm_letters(adm_page *p, const adm_tenant_view *t)
{
    size_t i;
    const json_t *l;
    adm_page_printf(p, "<h2 id=\"dead-letters\">Open dead letters</h2>\n");
    if (t->letters_why) {
        adm_unknown_box(p, t->letters_why);
        return;
    }
    if (!json_array_size(t->letters)) {
        adm_page_printf(p, "<p class=\"box\">None.</p>\n");
        return;
    }
    adm_html_scroll_open(p, "dead-letters");
    adm_page_printf(p, "<table>\n<thead><tr><th scope=\"col\">Letter"
                       "</th><th scope=\"col\">Flow</th><th scope=\"col\">Key</th>"
                       "<th scope=\"col\">Last failure</th><th scope=\"col\">Error</th>"
                       "<th scope=\"col\"><span class=\"muted\">Action</span></th></tr></thead>"
                       "\n<tbody>\n");
    json_array_foreach(t->letters, i, l)
    {
        const char *id = adm_str(l, "id", "");
        adm_page_printf(p, "<tr><td>");
        adm_page_esc(p, id);
        adm_page_printf(p, "</td><td>");
        adm_page_esc(p, adm_str(l, "flow", "-"));
        adm_page_printf(p, "</td><td>");
        adm_page_esc(p, adm_str(l, "key", "-"));
        adm_page_printf(p, "</td><td>");
        adm_page_esc(p, adm_str(l, "last_failure", ""));
        adm_page_printf(p, "</td><td><span class=\"error\">");
        adm_page_esc(p, adm_str(l, "error_class", ""));
        adm_page_printf(p, "</span>: ");
        adm_page_esc(p, adm_str(l, "error", ""));
        adm_page_printf(p, "</td><td><form method=\"post\" action=\"/tenants/");
        adm_page_esc(p, t->name);
        adm_page_printf(p,
                        "/redrive\"><input type=\"hidden\" name=\"csrf\" value=\"%s\">"
                        "<input type=\"hidden\" name=\"id\" value=\"",
                        t->csrf);
        adm_page_esc(p, id);
        adm_page_printf(p, "\"><button type=\"submit\" aria-label=\"Re-drive letter ");
        adm_page_esc(p, id);
        adm_page_printf(p, "\">Re-drive</button></form></td></tr>\n");
    }
    adm_page_printf(p, "</tbody></table>");
    if (t->letters_more)
        adm_page_printf(p, "<p class=\"muted\">%d more: <code>mosync dlq list --tenant ",
                        t->letters_more);
    if (t->letters_more) {
        adm_page_esc(p, t->name);
        adm_page_printf(p, "</code></p>");
    }
    adm_page_printf(p, "</div>\n");
}

/* The last orders mosync put into the warehouse and their state there now. */
static void adm_recent(adm_page *p, const adm_tenant_view *t)
{
    size_t i;
    const json_t *o;
    adm_page_printf(p, "<h2 id=\"last-orders\">Last orders</h2>\n");
    if (!t->recent) {
        adm_unknown_box(p, t->recent_why);
        return;
    }
    if (!json_array_size(t->recent)) {
        adm_page_printf(p, "<p class=\"box\">None in the last two days.</p>\n");
        return;
    }
    adm_html_scroll_open(p, "last-orders");
    adm_page_printf(p, "<table>\n<thead><tr><th scope=\"col\">Order</th>"
                       "<th scope=\"col\">Synced (UTC)</th><th scope=\"col\">What mosync did</th>"
                       "<th scope=\"col\">In the warehouse</th></tr></thead>\n<tbody>\n");
    json_array_foreach(t->recent, i, o)
    {
        adm_page_printf(p, "<tr><td>");
        adm_page_esc(p, adm_str(o, "id", "?"));
        adm_page_printf(p, "</td><td>");
        adm_page_esc(p, adm_str(o, "at", "?"));
        adm_page_printf(p, "</td><td>");
        adm_page_esc(p, adm_str(o, "outcome", "?"));
        adm_page_printf(p, "</td><td>");
        adm_page_esc(p, adm_str(o, "warehouse", "?"));
        adm_page_printf(p, "</td></tr>\n");
    }
    adm_page_printf(p, "</tbody></table></div>\n");
}

void adm_html_tenant(adm_page *p, const adm_tenant_view *t)
{
    const char *state = adm_str(t->record, "state", "?");
    int paused = !strcmp(state, "paused");
    if (t->status)
        adm_banners(p, t);
    adm_page_printf(p, "<div class=\"box\"><p>State: <span class=\"state\">");
    adm_page_esc(p, state);
    adm_page_printf(p, "</span> since ");
    adm_page_esc(p, adm_str(t->record, "state_at", "?"));
    adm_page_printf(p, "</p>\n<form method=\"post\" action=\"/tenants/");
    adm_page_esc(p, t->name);
    adm_page_printf(p,
                    "/%s\"><input type=\"hidden\" name=\"csrf\" value=\"%s\">"
                    "<button type=\"submit\">%s</button> <span class=\"muted\">%s</span>"
                    "</form></div>\n",
                    paused ? "resume" : "pause", t->csrf, paused ? "Resume" : "Pause",
                    paused ? "its pollers and appliers start serving it again"
                           : "its pollers and appliers stop serving it until resumed");
    adm_page_printf(p,
                    "<p class=\"box actions\"><a href=\"/tenants/%s/tune\">Fine-tune</a> "
                    "<a href=\"/tenants/%s/dry\">What a dry run found</a></p>\n",
                    t->name, t->name);
    if (!strcmp(state, "connecting") || t->dry) {
        adm_page_printf(p,
                        "<form class=\"box\" method=\"post\" action=\"/tenants/%s/activate\">"
                        "<input type=\"hidden\" name=\"csrf\" value=\"%s\"><p>%s</p>"
                        "<button type=\"submit\">Activate</button></form>\n",
                        t->name, t->csrf,
                        t->dry ? "Running dry (Try first): nothing is written."
                               : "Connected, not running yet.");
    }
    if (!t->status) {
        adm_page_printf(p, "<p class=\"box alert\" role=\"alert\">Status unknown: ");
        adm_page_esc(p, t->status_why ? t->status_why : "?");
        adm_page_printf(p, "</p>\n");
    } else {
        adm_page_printf(p, "<p class=\"muted\">Status at ");
        adm_page_esc(p, adm_str(t->status, "at", "?"));
        adm_page_printf(p, "</p>\n");
    }
    adm_recent(p, t);
    adm_page_printf(p, "<h2 id=\"orders-per-hour\">Orders per hour and their lag</h2>\n");
    if (t->hours) {
        adm_chart orders = {.id = "orders-chart",
                            .what = "Orders applied per hour",
                            .v = t->hours,
                            .n = t->nhours,
                            .now = t->now};
        adm_html_chart(p, &orders);
        adm_chart lag = {.id = "lag-chart",
                         .what = "Lag per hour, from the change seen in the shop to the "
                                 "warehouse (mean)",
                         .v = t->lag,
                         .n = t->nhours,
                         .now = t->now,
                         .ms = 1};
        if (t->lag)
            adm_html_chart(p, &lag);
    } else {
        adm_unknown_box(p, t->hours_why);
    }
    if (t->status) {
        adm_flows(p, t->status);
        adm_streams(p, t->status);
    }
    adm_letters(p, t);
}

/* ---- Connect ------------------------------------------------------------- */

static const struct {
    const char *name, *label, *type, *hint;
    int secret;
} adm_cf[ADM_CF_N] = {
    {"tenant", "Tenant name", "text",
     "Letters, digits, '-', '_' or '.': how mosync names the shop.", 0},
    {"ongoing_url", "Warehouse system", "text",
     "Your Ongoing address, like https://demo.ongoingsystems.se/demo/, or your Ongoing "
     "customer id (Support info in the WMS shows it).",
     0},
    {"ongoing_user", "WMS user", "text", NULL, 0},
    {"ongoing_password", "WMS password", "password", NULL, 1},
    {"goods_owner", "Goods owner id", "text", "A number: the goods owner in Ongoing.", 0},
    {"shop", "Mystore shop name", "text", NULL, 0},
    {"mystore_url", "Mystore API URL", "url", NULL, 0},
    {"mystore_token", "Personal access token (optional)", "password",
     "Leave empty to sign in at Mystore and grant access (recommended).", 1},
};

const char *adm_connect_field(int i)
{
    return adm_cf[i].name;
}

int adm_connect_secret(int i)
{
    return adm_cf[i].secret;
}

void adm_html_connect(adm_page *p, const char *const *values, const char *const *errors,
                      const char *csrf)
{
    adm_page_printf(p,
                    "<p>Step 1 of 3: the warehouse, then Mystore. mosync checks the "
                    "warehouse user first, then sends you to Mystore to grant access.</p>\n"
                    "<form class=\"box\" method=\"post\" action=\"/connect\">\n"
                    "<input type=\"hidden\" name=\"csrf\" value=\"%s\">\n",
                    csrf);
    for (int i = 0; i < ADM_CF_N; i++) {
        const char *name = adm_cf[i].name;
        adm_page_printf(p,
                        "<p><label for=\"%s\">%s</label>\n<input id=\"%s\" name=\"%s\" type=\"%s\"",
                        name, adm_cf[i].label, name, name, adm_cf[i].type);
        if (i != ADM_CF_MYSTORE_TOKEN)
            adm_page_printf(p, " required");
        if (adm_cf[i].secret)
            adm_page_printf(p, " autocomplete=\"%s\"",
                            i == ADM_CF_ONGOING_PASSWORD ? "current-password" : "off");
        else if (values[i] && *values[i]) {
            adm_page_printf(p, " value=\"");
            adm_page_esc(p, values[i]);
            adm_page_printf(p, "\"");
        }
        if (errors[i] || adm_cf[i].hint) {
            adm_page_printf(p, " aria-describedby=\"%s_%s\"", name, errors[i] ? "error" : "hint");
            if (errors[i])
                adm_page_printf(p, " aria-invalid=\"true\"");
        }
        adm_page_printf(p, ">\n");
        if (errors[i]) {
            adm_page_printf(p, "<span id=\"%s_error\" class=\"error\">", name);
            adm_page_esc(p, errors[i]);
            adm_page_printf(p, "</span>\n");
        } else if (adm_cf[i].hint) {
            adm_page_printf(p, "<span id=\"%s_hint\" class=\"muted\">%s</span>\n", name,
                            adm_cf[i].hint);
        }
        adm_page_printf(p, "</p>\n");
    }
    adm_page_printf(p, "<p><button type=\"submit\">Check and continue</button></p>\n</form>\n");
}
