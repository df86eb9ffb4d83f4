/* Dry-run comparison: what a request would change against what the target
 * holds (see map_diff.h).  Pure: no I/O, no clock, no process-wide state. */
#include "map_diff.h"
#include "map_delivery.h"
#include "mapping.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define MD_FIELD_MAX 512 /* longest difference name ("orderLines[<row>].prices.linePrice") */
#define MD_ROW_MAX   128 /* longest rowNumber compared */

typedef enum { MD_STRING, MD_NUMBER, MD_TIME, MD_BOOL } md_kind;

/* Where a request field lives in the target's answer, and how it compares. */
typedef struct md_field {
    const char *request; /* dotted path in the request body; also the difference's name */
    const char *target;  /* dotted path in the target's answer */
    md_kind kind;
} md_field;

/* PUT /orders (the order table of MODEL.md) against GET /orders: Ongoing
 * answers the order head under orderInfo and the consignee beside it. */
static const md_field md_order_fields[] = {
    {"orderNumber", "orderInfo.orderNumber", MD_STRING},
    {"referenceNumber", "orderInfo.referenceNumber", MD_STRING},
    {"deliveryDate", "orderInfo.deliveryDate", MD_TIME},
    {"customerPrice", "orderInfo.customerPrice", MD_NUMBER},
    {"wayOfDelivery.code", "orderInfo.wayOfDelivery.code", MD_STRING},
    {"wayOfDelivery.name", "orderInfo.wayOfDelivery.name", MD_STRING},
    {"consignee.name", "consignee.name", MD_STRING},
    {"consignee.address1", "consignee.address1", MD_STRING},
    {"consignee.postCode", "consignee.postCode", MD_STRING},
    {"consignee.city", "consignee.city", MD_STRING},
    {"consignee.countryStateCode", "consignee.countryStateCode", MD_STRING},
    {"consignee.countryCode", "consignee.countryCode", MD_STRING},
    {"emailNotification.value", "orderInfo.emailNotification.value", MD_STRING},
    {"emailNotification.toBeNotified", "orderInfo.emailNotification.toBeNotified", MD_BOOL},
    {"smsNotification.value", "orderInfo.smsNotification.value", MD_STRING},
    {"smsNotification.toBeNotified", "orderInfo.smsNotification.toBeNotified", MD_BOOL},
};

/* One order line: the GET line names its article and its ordered count. */
static const md_field md_line_fields[] = {
    {"articleNumber", "article.articleNumber", MD_STRING},
    {"numberOfItems", "orderedNumberOfItems", MD_NUMBER},
    {"externalId", "externalId", MD_STRING},
    {"prices.linePrice", "prices.linePrice", MD_NUMBER},
    {"prices.customerLinePrice", "prices.customerLinePrice", MD_NUMBER},
};

/* PUT /articles (the article table) against GET /articles: the same names. */
static const md_field md_article_fields[] = {
    {"articleNumber", "articleNumber", MD_STRING},
    {"articleName", "articleName", MD_STRING},
    {"productCode", "productCode", MD_STRING},
    {"barCodeInfo.barCode", "barCodeInfo.barCode", MD_STRING},
    {"customerPrice", "customerPrice", MD_NUMBER},
    {"purchasePrice", "purchasePrice", MD_NUMBER},
    {"stockValuationPrice", "stockValuationPrice", MD_NUMBER},
    {"weight", "weight", MD_NUMBER},
    {"freeValues.freeDecimal2", "freeValues.freeDecimal2", MD_NUMBER},
};

#define MD_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The member at a dotted path ("orderInfo.wayOfDelivery.code"), NULL when a
 * step is missing or not an object. */
static const json_t *md_get(const json_t *obj, const char *path)
{
    char part[64];
    const char *p = path;

    while (obj && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof(part))
            return NULL;
        memcpy(part, p, n);
        part[n] = '\0';
        obj = json_object_get(obj, part);
        p += n + (dot ? 1 : 0);
    }
    return obj;
}

static int md_absent(const json_t *v, md_kind kind)
{
    if (!v || json_is_null(v))
        return 1;
    if (json_is_string(v) && !*json_string_value(v))
        return 1;
    return kind == MD_BOOL && json_is_false(v);
}

/* Reads n digits at s into *out; 0 when they are not all digits. */
static int md_digits(const char *s, int n, int *out)
{
    *out = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return 0;
        *out = *out * 10 + (s[i] - '0');
    }
    return 1;
}

/* An Ongoing time as milliseconds since the epoch: "YYYY-MM-DD" (midnight
 * UTC) or "YYYY-MM-DDTHH:MM:SS" with any fraction digits and "Z", an offset
 * "+HH:MM" / "-HHMM", or no zone (UTC, as Ongoing answers).  0 when s is not
 * such a time. */
static int md_time_ms(const char *s, long long *ms)
{
    struct tm tm = {0};
    int y, mo, d, h = 0, mi = 0, se = 0, frac_ms = 0, off_h = 0, off_m = 0, sign = 0;
    size_t len = strlen(s);

    if (len < 10 || !md_digits(s, 4, &y) || s[4] != '-' || !md_digits(s + 5, 2, &mo) ||
        s[7] != '-' || !md_digits(s + 8, 2, &d))
        return 0;
    s += 10;
    if (*s == 'T' || *s == 't' || *s == ' ') {
        if (strlen(s) < 9 || !md_digits(s + 1, 2, &h) || s[3] != ':' || !md_digits(s + 4, 2, &mi) ||
            s[6] != ':' || !md_digits(s + 7, 2, &se))
            return 0;
        s += 9;
        if (*s == '.') {
            int scale = 100;
            for (s++; isdigit((unsigned char)*s); s++) {
                frac_ms += (*s - '0') * scale;
                scale /= 10;
            }
        }
        if (*s == 'Z' || *s == 'z') {
            s++;
        } else if (*s == '+' || *s == '-') {
            sign = *s == '-' ? -1 : 1;
            if (!md_digits(s + 1, 2, &off_h))
                return 0;
            s += 3;
            if (*s == ':')
                s++;
            if (!md_digits(s, 2, &off_m))
                return 0;
            s += 2;
        }
    }
    if (*s || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60 || off_h > 23 ||
        off_m > 59)
        return 0;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return 0;
    *ms = ((long long)t - sign * (off_h * 3600LL + off_m * 60LL)) * 1000 + frac_ms;
    return 1;
}

/* Do the request's and the target's values count as the same (see map_diff.h)? */
static int md_equal(const json_t *a, const json_t *b, md_kind kind)
{
    int a_absent = md_absent(a, kind), b_absent = md_absent(b, kind);
    long long ta, tb;

    if (a_absent || b_absent)
        return a_absent && b_absent;
    if (kind == MD_NUMBER && json_is_number(a) && json_is_number(b)) {
        double x = json_number_value(a), y = json_number_value(b);
        return fabs(x - y) <= 1e-9 * fmax(1.0, fmax(fabs(x), fabs(y)));
    }
    if (kind == MD_TIME && json_is_string(a) && json_is_string(b) &&
        md_time_ms(json_string_value(a), &ta) && md_time_ms(json_string_value(b), &tb))
        return ta == tb;
    return json_equal((json_t *)a, (json_t *)b);
}

/* Appends {"field", "would_send", "target_has"} (values copied, NULL → null). */
static mo_err md_add(json_t *diffs, const char *field, const json_t *would, const json_t *has,
                     char *errstr, size_t errstr_size)
{
    json_t *d = json_pack("{s:s, s:O, s:O}", "field", field, "would_send",
                          would ? would : json_null(), "target_has", has ? has : json_null());
    if (!d || json_array_append_new(diffs, d))
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    return MO_OK;
}

/* Compares the fields of one table between request and target (may be
 * NULL); names are prefix + the request path. */
static mo_err md_fields(json_t *diffs, const md_field *fields, size_t n, const char *prefix,
                        const json_t *request, const json_t *target, char *errstr,
                        size_t errstr_size)
{
    char name[MD_FIELD_MAX];
    for (size_t i = 0; i < n; i++) {
        const json_t *would = md_get(request, fields[i].request);
        const json_t *has = target ? md_get(target, fields[i].target) : NULL;
        if (md_equal(would, has, fields[i].kind))
            continue;
        snprintf(name, sizeof(name), "%s%s", prefix, fields[i].request);
        mo_err err = md_add(diffs, name, would, has, errstr, errstr_size);
        if (err)
            return err;
    }
    return MO_OK;
}

/* A line's rowNumber as a string (a number is printed), into buf; NULL when
 * it has none or it is too long to name a difference. */
static const char *md_row(const json_t *line, char *buf, size_t size)
{
    const json_t *row = json_object_get(line, "rowNumber");
    if (json_is_string(row) && *json_string_value(row) &&
        strlen(json_string_value(row)) < MD_ROW_MAX) {
        snprintf(buf, size, "%s", json_string_value(row));
        return buf;
    }
    if (json_is_integer(row)) {
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(row));
        return buf;
    }
    return NULL;
}

/* Does lines hold a line whose rowNumber is row? */
static const json_t *md_find_line(const json_t *lines, const char *row)
{
    char other[MD_ROW_MAX + 24];
    size_t j;
    const json_t *t;
    json_array_foreach(lines, j, t)
    {
        if (md_row(t, other, sizeof(other)) && !strcmp(row, other))
            return t;
    }
    return NULL;
}

/* The order lines: matched by rowNumber, compared field by field; a line
 * only one side has is one difference. */
static mo_err md_lines(json_t *diffs, const json_t *request_lines, const json_t *target_lines,
                       char *errstr, size_t errstr_size)
{
    char row[MD_ROW_MAX + 24], prefix[MD_ROW_MAX + 24];
    size_t i;
    const json_t *line;
    mo_err err;

    if (request_lines && !json_is_array(request_lines))
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "orderLines is not an array");
    json_array_foreach(request_lines, i, line)
    {
        if (!md_row(line, row, sizeof(row)))
            return mo_seterr(MO_ERR_INVALID, errstr, errstr_size,
                             "orderLines[%zu] has no usable rowNumber", i);
        const json_t *match = md_find_line(target_lines, row);
        if (!match) {
            snprintf(prefix, sizeof(prefix), "orderLines[%s]", row);
            if ((err = md_add(diffs, prefix, line, NULL, errstr, errstr_size)))
                return err;
            continue;
        }
        snprintf(prefix, sizeof(prefix), "orderLines[%s].", row);
        if ((err = md_fields(diffs, md_line_fields, MD_COUNT(md_line_fields), prefix, line, match,
                             errstr, errstr_size)))
            return err;
    }
    json_array_foreach(target_lines, i, line)
    {
        if (md_row(line, row, sizeof(row)) && md_find_line(request_lines, row))
            continue;
        if (!md_row(line, row, sizeof(row)))
            snprintf(row, sizeof(row), "#%zu", i);
        const json_t *number = md_get(line, "article.articleNumber");
        const json_t *items = json_object_get(line, "orderedNumberOfItems");
        json_t *summary =
            json_pack("{s:s, s:O, s:O}", "rowNumber", row, "articleNumber",
                      number ? number : json_null(), "numberOfItems", items ? items : json_null());
        if (!summary)
            return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
        snprintf(prefix, sizeof(prefix), "orderLines[%s]", row);
        err = md_add(diffs, prefix, NULL, summary, errstr, errstr_size);
        json_decref(summary);
        if (err)
            return err;
    }
    return MO_OK;
}

/* Starts a result: a new array, or MO_ERR_INVALID when request is not an object. */
static mo_err md_start(const json_t *request, const char *what, json_t **out, char *errstr,
                       size_t errstr_size)
{
    *out = NULL;
    if (!json_is_object(request))
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "the %s request is not an object",
                         what);
    if (!(*out = json_array()))
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    return MO_OK;
}

/* Returns err, dropping *out when it is not MO_OK. */
static mo_err md_finish(mo_err err, json_t **out)
{
    if (err) {
        json_decref(*out);
        *out = NULL;
    }
    return err;
}

mo_err mp_diff_order(const json_t *request, const json_t *target, json_t **out, char *errstr,
                     size_t errstr_size)
{
    mo_err err = md_start(request, "order", out, errstr, errstr_size);
    if (err)
        return err;
    err = md_fields(*out, md_order_fields, MD_COUNT(md_order_fields), "", request, target, errstr,
                    errstr_size);
    if (!err)
        err = md_lines(*out, json_object_get(request, "orderLines"),
                       target ? json_object_get(target, "orderLines") : NULL, errstr, errstr_size);
    return md_finish(err, out);
}

mo_err mp_diff_article(const json_t *request, const json_t *target, json_t **out, char *errstr,
                       size_t errstr_size)
{
    mo_err err = md_start(request, "article", out, errstr, errstr_size);
    if (err)
        return err;
    err = md_fields(*out, md_article_fields, MD_COUNT(md_article_fields), "", request, target,
                    errstr, errstr_size);
    return md_finish(err, out);
}

/* {"id": id, "name": <its name in language>} from the order-status
 * resources, or null when id is NULL.  New reference (NULL: no memory). */
static json_t *md_status(const char *id, const json_t *statuses, const char *language)
{
    size_t i;
    const json_t *s;
    const char *name = NULL;

    if (!id)
        return json_null();
    json_array_foreach(statuses, i, s)
    {
        const char *sid = json_string_value(json_object_get(s, "id"));
        if (sid && !strcmp(sid, id)) {
            name = mp_text(json_object_get(json_object_get(s, "attributes"), "name"), language);
            break;
        }
    }
    return json_pack("{s:s, s:s?}", "id", id, "name", name);
}

mo_err mp_diff_delivery(const char *tracking, const char *sent_status_id,
                        const json_t *mystore_order, const json_t *statuses, const char *language,
                        json_t **out, char *errstr, size_t errstr_size)
{
    json_t *would = NULL, *has = NULL, *want = NULL;
    mo_err err;

    *out = NULL;
    if (!sent_status_id)
        return mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "no \"levert\" status id");
    if (!(*out = json_array()))
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    if (tracking) {
        const json_t *now = md_get(mystore_order, "attributes.tracking_number");
        want = json_string(tracking);
        if (!want) {
            err = mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
            goto out;
        }
        if (!md_equal(want, now, MD_STRING) &&
            (err = md_add(*out, "tracking_number", want, now, errstr, errstr_size)))
            goto out;
    }
    const char *current =
        json_string_value(md_get(mystore_order, "relationships.order_status.data.id"));
    if (!current || strcmp(current, sent_status_id)) {
        would = md_status(sent_status_id, statuses, language);
        has = md_status(current, statuses, language);
        if (!would || !has) {
            err = mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
            goto out;
        }
        if ((err = md_add(*out, "order_status", would, has, errstr, errstr_size)))
            goto out;
    }
    err = MO_OK;
out:
    json_decref(want);
    json_decref(would);
    json_decref(has);
    return md_finish(err, out);
}

mo_err mp_diff_stock(const json_t *mapped, const json_t *mystore_resource, json_t **out,
                     char *errstr, size_t errstr_size)
{
    mo_err err = md_start(mapped, "stock", out, errstr, errstr_size);
    const json_t *want = json_object_get(mapped, "quantity");
    const json_t *now = md_get(mystore_resource, "attributes.quantity");
    double have;

    if (err)
        return err;
    if (!json_is_integer(want))
        return md_finish(
            mo_seterr(MO_ERR_INVALID, errstr, errstr_size, "the stock write has no whole quantity"),
            out);
    /* Mystore may answer the quantity as a numeric string ("5"). */
    if (now && mp_number(now, &have) == MO_OK &&
        fabs(have - (double)json_integer_value(want)) < 1e-9)
        return MO_OK;
    return md_finish(md_add(*out, "quantity", want, now, errstr, errstr_size), out);
}

mo_err mp_diff_cancel(const json_t *target, json_t **out, char *errstr, size_t errstr_size)
{
    const json_t *now = md_get(target, "orderInfo.orderStatus.number");
    json_t *want = json_integer(MP_ONGOING_STATUS_CANCELLED);
    mo_err err = MO_OK;

    if (!want || !(*out = json_array())) {
        json_decref(want);
        *out = NULL;
        return mo_seterr(MO_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    if (!md_equal(want, now, MD_NUMBER))
        err = md_add(*out, "orderInfo.orderStatus.number", want, now, errstr, errstr_size);
    json_decref(want);
    return md_finish(err, out);
}
