/* The project's own copy of the Ongoing REST v1 request field lists that
 * ongoing-sim enforces: PostArticleModel (PUT /api/v1/articles), PostOrderModel
 * (PUT /api/v1/orders) and every object schema they reference.  Written from
 * ../shared/contracts/ongoing-rest-v1.openapi.json; tests/contract-check
 * compares these tables with the contract when the contract is present.
 *
 * Request schemas are closed: a field not in the list is refused, as the real
 * server reportedly does. */
#ifndef SIM_ONGOING_FIELDS_H
#define SIM_ONGOING_FIELDS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef enum ogs_field_type {
    OG_STRING,       /* JSON string */
    OG_DATE_TIME,    /* JSON string holding a date or an RFC 3339 time (ogs_time_parse) */
    OG_NUMBER,       /* JSON integer or real */
    OG_INTEGER,      /* JSON integer */
    OG_BOOLEAN,      /* true or false */
    OG_ENUM,         /* JSON string, one of the values of the enum named by ref */
    OG_OBJECT,       /* JSON object of the schema named by ref */
    OG_ARRAY_OBJECT, /* JSON array of objects of the schema named by ref */
    OG_ARRAY_STRING  /* JSON array of strings */
} ogs_field_type;

#define OG_REQUIRED 1 /* the key must be present */
#define OG_NULLABLE 2 /* JSON null is accepted as the value */

typedef struct ogs_field {
    const char *name;
    ogs_field_type type;
    const char *ref; /* schema or enum name for OG_OBJECT, OG_ARRAY_OBJECT, OG_ENUM; else NULL */
    int flags;       /* OG_REQUIRED | OG_NULLABLE */
} ogs_field;

typedef struct ogs_schema {
    const char *name;
    const ogs_field *fields;
    size_t nfields;
} ogs_schema;

/* The schema called `name`, NULL when there is none.  Static storage. */
const ogs_schema *ogs_schema_find(const char *name);

/* Checks `body` against schema `schema` field by field, recursing into nested
 * objects and arrays.  Returns 0 when it conforms; otherwise returns -1 and
 * writes one message naming the JSON path into err (always NUL-terminated):
 *   "unknown field 'orderLines[0].foo'"
 *   "missing required field 'consignee'"
 *   "field 'weight' must be a number"
 *   "field 'rowNumber' must not be null"
 * `body` is borrowed. */
int ogs_fields_check(const char *schema, const json_t *body, char *err, size_t errsize);

/* Every table as JSON, for tests/contract-check:
 *   {"roots": {"PUT /api/v1/articles": "PostArticleModel", ...},
 *    "schemas": {"PostOrderLine": {"rowNumber": {"type": "string", "required": true,
 *                                                "nullable": false}, ...}, ...}}
 * A field's "type" is string, date-time, number, integer, boolean, object (with
 * "ref") or array (with "items": {"type": "object", "ref": ...} or {"type":
 * "string"}); an enum is {"type": "string", "enum": [...]}.  New reference. */
json_t *ogs_fields_dump(void);

/* Parses a time leniently, as Ongoing accepts it: "YYYY-MM-DD", or
 * "YYYY-MM-DDTHH:MM[:SS[.fraction]]" (a space may replace the T) followed by
 * "Z", an offset "+HH:MM" / "+HHMM" / "+HH" (a space in place of the '+', as
 * left by URL-decoding a raw '+', is accepted) or nothing (UTC).  Any number
 * of fraction digits; milliseconds are kept.  Stores milliseconds since the
 * epoch in *ms and returns 0, or returns -1 when `s` is not such a time. */
int ogs_time_parse(const char *s, int64_t *ms);

#endif
