/* The Ongoing request field lists ongoing-sim enforces, and the validator that
 * walks a request body through them.  See sim_ongoing_fields.h.
 *
 * The tables are the contract's request schemas (../shared/contracts/
 * ongoing-rest-v1.openapi.json) reached from the bodies of PUT /api/v1/articles
 * and PUT /api/v1/orders, one table per schema, fields in contract order.  A
 * nullable field in the contract is either `"nullable": true` or
 * `anyOf: [$ref, {nullable, enum: [null]}]`; both read OG_NULLABLE here.  When
 * the contract changes, tests/contract-check names every difference. */
#include "sim_ongoing_fields.h"

#include <stdio.h>
#include <string.h>

#define OG_COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define OG_PATH_MAX 512

typedef struct ogs_enum {
    const char *name;
    const char *const *values; /* NULL-terminated */
} ogs_enum;

/* The request bodies the simulator checks, by route. */
static const struct {
    const char *route;
    const char *schema;
} ogs_roots[] = {
    {"PUT /api/v1/articles", "PostArticleModel"},
    {"PUT /api/v1/orders", "PostOrderModel"},
};

/* Enums a field may reference (OG_ENUM): their allowed values. */
static const char *const post_article_structure_kind[] = {"Production", "Structure", NULL};

static const ogs_enum ogs_enums[] = {
    {"PostArticleStructureKind", post_article_structure_kind},
};

/* One table per schema, in the contract's field order.  A row is
 * {name, type, schema or enum name for OG_OBJECT / OG_ARRAY_OBJECT / OG_ENUM,
 *  OG_REQUIRED | OG_NULLABLE}. */
static const ogs_field code_name_pair[] = {
    {"code", OG_STRING, NULL, OG_NULLABLE},
    {"name", OG_STRING, NULL, OG_NULLABLE},
};

static const ogs_field post_article_alternative_bar_code[] = {
    {"barCode", OG_STRING, NULL, OG_NULLABLE},
    {"quantityPerBarCode", OG_NUMBER, NULL, OG_NULLABLE},
    {"barCodeType", OG_OBJECT, "CodeNamePair", OG_NULLABLE},
};

static const ogs_field post_article_bar_code_info[] = {
    {"barCode", OG_STRING, NULL, OG_NULLABLE},
    {"barCodePackage", OG_STRING, NULL, OG_NULLABLE},
    {"barCodePallet", OG_STRING, NULL, OG_NULLABLE},
    {"alternativeBarCodes", OG_ARRAY_OBJECT, "PostArticleAlternativeBarCode", OG_NULLABLE},
};

static const ogs_field post_article_free_values[] = {
    {"freeDecimal1", OG_NUMBER, NULL, OG_NULLABLE},
    {"freeDecimal2", OG_NUMBER, NULL, OG_NULLABLE},
    {"freeDecimal3", OG_NUMBER, NULL, OG_NULLABLE},
    {"freeBoolean1", OG_BOOLEAN, NULL, OG_NULLABLE},
    {"freeBoolean2", OG_BOOLEAN, NULL, OG_NULLABLE},
    {"freeBoolean3", OG_BOOLEAN, NULL, OG_NULLABLE},
};

static const ogs_field post_article_model[] = {
    {"goodsOwnerId", OG_INTEGER, NULL, OG_REQUIRED},
    {"articleNumber", OG_STRING, NULL, OG_REQUIRED},
    {"articleGroup", OG_OBJECT, "CodeNamePair", OG_NULLABLE},
    {"articleCategory", OG_OBJECT, "CodeNamePair", OG_NULLABLE},
    {"articleColor", OG_OBJECT, "CodeNamePair", OG_NULLABLE},
    {"articleSize", OG_OBJECT, "CodeNamePair", OG_NULLABLE},
    {"articleName", OG_STRING, NULL, OG_NULLABLE},
    {"productCode", OG_STRING, NULL, OG_NULLABLE},
    {"unitCode", OG_STRING, NULL, OG_NULLABLE},
    {"description", OG_STRING, NULL, OG_NULLABLE},
    {"isStockArticle", OG_BOOLEAN, NULL, OG_NULLABLE},
    {"isActive", OG_BOOLEAN, NULL, OG_NULLABLE},
    {"supplierInfo", OG_OBJECT, "PostArticleSupplierInfo", OG_NULLABLE},
    {"barCodeInfo", OG_OBJECT, "PostArticleBarCodeInfo", OG_NULLABLE},
    {"quantityPerPackage", OG_INTEGER, NULL, OG_NULLABLE},
    {"quantityPerPallet", OG_INTEGER, NULL, OG_NULLABLE},
    {"weight", OG_NUMBER, NULL, OG_NULLABLE},
    {"length", OG_NUMBER, NULL, OG_NULLABLE},
    {"width", OG_NUMBER, NULL, OG_NULLABLE},
    {"height", OG_NUMBER, NULL, OG_NULLABLE},
    {"volume", OG_NUMBER, NULL, OG_NULLABLE},
    {"purchasePrice", OG_NUMBER, NULL, OG_NULLABLE},
    {"stockValuationPrice", OG_NUMBER, NULL, OG_NULLABLE},
    {"customerPrice", OG_NUMBER, NULL, OG_NULLABLE},
    {"purcaseCurrencyCode", OG_STRING, NULL, OG_NULLABLE},
    {"countryOfOriginCode", OG_STRING, NULL, OG_NULLABLE},
    {"statisticsNumber", OG_STRING, NULL, OG_NULLABLE},
    {"articleNameTranslations", OG_ARRAY_OBJECT, "PostArticleNameTranslation", OG_NULLABLE},
    {"stockLimit", OG_INTEGER, NULL, OG_NULLABLE},
    {"minimumReorderQuantity", OG_NUMBER, NULL, OG_NULLABLE},
    {"netWeight", OG_NUMBER, NULL, OG_NULLABLE},
    {"linkToPicture", OG_STRING, NULL, OG_NULLABLE},
    {"structureDefinition", OG_OBJECT, "PostArticleStructureSpecification", OG_NULLABLE},
    {"quantityPerLayerOnPallet", OG_INTEGER, NULL, OG_NULLABLE},
    {"subQuantityPerItem", OG_NUMBER, NULL, OG_NULLABLE},
    {"minDaysToExpiryDateAllowedOnDelivery", OG_INTEGER, NULL, OG_NULLABLE},
    {"storageProperties", OG_OBJECT, "PostArticleStorageProperties", OG_NULLABLE},
    {"freeValues", OG_OBJECT, "PostArticleFreeValues", OG_NULLABLE},
    {"storageClass", OG_OBJECT, "PostArticleStorageClass", OG_NULLABLE},
    {"customsDescription", OG_STRING, NULL, OG_NULLABLE},
    {"taricNumbersInfo", OG_OBJECT, "PostArticleTaricNumbersInfo", OG_NULLABLE},
};

static const ogs_field post_article_name_translation[] = {
    {"languageCode", OG_STRING, NULL, OG_NULLABLE},
    {"articleName", OG_STRING, NULL, OG_NULLABLE},
};

static const ogs_field post_article_storage_class[] = {
    {"name", OG_STRING, NULL, OG_REQUIRED},
};

static const ogs_field post_article_storage_properties[] = {
    {"isObsolete", OG_BOOLEAN, NULL, OG_NULLABLE},
    {"isSerialNumberArticle", OG_BOOLEAN, NULL, OG_NULLABLE},
    {"isBatchArticle", OG_BOOLEAN, NULL, OG_NULLABLE},
    {"isExpiryDateArticle", OG_BOOLEAN, NULL, OG_NULLABLE},
};

static const ogs_field post_article_structure_row[] = {
    {"articleNumber", OG_STRING, NULL, OG_REQUIRED},
    {"numberOfItems", OG_NUMBER, NULL, 0},
};

static const ogs_field post_article_structure_specification[] = {
    {"articleKind", OG_ENUM, "PostArticleStructureKind", 0},
    {"rows", OG_ARRAY_OBJECT, "PostArticleStructureRow", OG_NULLABLE},
};

static const ogs_field post_article_supplier_info[] = {
    {"supplierArticleNumber", OG_STRING, NULL, OG_NULLABLE},
    {"supplierNumber", OG_STRING, NULL, OG_NULLABLE},
    {"supplierName", OG_STRING, NULL, OG_NULLABLE},
};

static const ogs_field post_article_taric_number[] = {
    {"countryCode", OG_STRING, NULL, OG_REQUIRED},
    {"taricNumber", OG_STRING, NULL, OG_REQUIRED},
};

static const ogs_field post_article_taric_numbers_info[] = {
    {"taricNumbers", OG_ARRAY_OBJECT, "PostArticleTaricNumber", OG_NULLABLE},
};

static const ogs_field post_order_advanced[] = {
    {"orderTextLines", OG_ARRAY_OBJECT, "PostOrderTextLine", OG_NULLABLE},
    {"arrivalDate", OG_DATE_TIME, NULL, OG_NULLABLE},
    {"wayOfDeliveryString", OG_STRING, NULL, OG_NULLABLE},
    {"transporterOrderNumber", OG_STRING, NULL, OG_NULLABLE},
    {"invoiceNumber", OG_STRING, NULL, OG_NULLABLE},
    {"arrivalDateFrom", OG_DATE_TIME, NULL, OG_NULLABLE},
    {"termsOfPaymentString", OG_STRING, NULL, OG_NULLABLE},
    {"termsOfDeliveryString", OG_STRING, NULL, OG_NULLABLE},
    {"communication", OG_STRING, NULL, OG_NULLABLE},
};

static const ogs_field post_order_class[] = {
    {"code", OG_STRING, NULL, OG_NULLABLE},
    {"name", OG_STRING, NULL, OG_NULLABLE},
    {"comment", OG_STRING, NULL, OG_NULLABLE},
};

static const ogs_field post_order_consignee[] = {
    {"customerNumber", OG_STRING, NULL, OG_NULLABLE},
    {"name", OG_STRING, NULL, OG_NULLABLE},
    {"address1", OG_STRING, NULL, OG_NULLABLE},
    {"address2", OG_STRING, NULL, OG_NULLABLE},
    {"address3", OG_STRING, NULL, OG_NULLABLE},
    {"postCode", OG_STRING, NULL, OG_NULLABLE},
    {"city", OG_STRING, NULL, OG_NULLABLE},
    {"countryCode", OG_STRING, NULL, OG_NULLABLE},
    {"countryStateCode", OG_STRING, NULL, OG_NULLABLE},
    {"remark", OG_STRING, NULL, OG_NULLABLE},
    {"doorCode", OG_STRING, NULL, OG_NULLABLE},
    {"advanced", OG_OBJECT, "PostOrderConsigneeAddressAdvanced", OG_NULLABLE},
    {"invoiceAddress", OG_OBJECT, "PostOrderConsigneeInvoiceAddress", OG_NULLABLE},
    {"organisationNumber", OG_STRING, NULL, OG_NULLABLE},
    {"vatNumber", OG_STRING, NULL, OG_NULLABLE},
};

static const ogs_field post_order_consignee_address_advanced[] = {
    {"telephoneNotification", OG_OBJECT, "PostOrderConsigneeCustomerNotification", OG_NULLABLE},
    {"emailNotification", OG_OBJECT, "PostOrderConsigneeCustomerNotification", OG_NULLABLE},
    {"smsNotification", OG_OBJECT, "PostOrderConsigneeCustomerNotification", OG_NULLABLE},
    {"externalCustomerCode", OG_STRING, NULL, OG_NULLABLE},
};

static const ogs_field post_order_consignee_customer_invoice_notification[] = {
    {"value", OG_STRING, NULL, OG_NULLABLE},
};

static const ogs_field post_order_consignee_customer_notification[] = {
    {"toBeNotified", OG_BOOLEAN, NULL, 0},
    {"value", OG_STRING, NULL, OG_NULLABLE},
};

static const ogs_field post_order_consignee_invoice_address[] = {
    {"name", OG_STRING, NULL, OG_NULLABLE},
    {"address1", OG_STRING, NULL, OG_NULLABLE},
    {"address2", OG_STRING, NULL, OG_NULLABLE},
    {"address3", OG_STRING, NULL, OG_NULLABLE},
    {"postCode", OG_STRING, NULL, OG_NULLABLE},
    {"city", OG_STRING, NULL, OG_NULLABLE},
    {"countryCode", OG_STRING, NULL, OG_NULLABLE},
    {"countryStateCode", OG_STRING, NULL, OG_NULLABLE},
    {"advanced", OG_OBJECT, "PostOrderConsigneeInvoiceAddressAdvanced", OG_NULLABLE},
};

static const ogs_field post_order_consignee_invoice_address_advanced[] = {
    {"telephoneNotification", OG_OBJECT, "PostOrderConsigneeCustomerInvoiceNotification",
     OG_NULLABLE},
    {"emailNotification", OG_OBJECT, "PostOrderConsigneeCustomerInvoiceNotification", OG_NULLABLE},
    {"smsNotification", OG_OBJECT, "PostOrderConsigneeCustomerInvoiceNotification", OG_NULLABLE},
};

static const ogs_field post_order_customs_info[] = {
    {"customsValueCurrencyCode", OG_STRING, NULL, OG_NULLABLE},
};

static const ogs_field post_order_line[] = {
    {"rowNumber", OG_STRING, NULL, OG_REQUIRED},
    {"articleNumber", OG_STRING, NULL, OG_REQUIRED},
    {"numberOfItems", OG_NUMBER, NULL, 0},
    {"comment", OG_STRING, NULL, OG_NULLABLE},
    {"shouldBePicked", OG_BOOLEAN, NULL, OG_NULLABLE},
    {"serialNumber", OG_STRING, NULL, OG_NULLABLE},
    {"lineTotalCustomsValue", OG_NUMBER, NULL, OG_NULLABLE},
    {"batchNumber", OG_STRING, NULL, OG_NULLABLE},
    {"lineType", OG_OBJECT, "CodeNamePair", OG_NULLABLE},
    {"prices", OG_OBJECT, "PostOrderLinePrices", OG_NULLABLE},
    {"customerArticleNumber", OG_STRING, NULL, OG_NULLABLE},
    {"warehouseInstruction", OG_STRING, NULL, OG_NULLABLE},
    {"externalId", OG_STRING, NULL, OG_NULLABLE},
    {"articleItemStatus", OG_OBJECT, "CodeNamePair", OG_NULLABLE},
    {"lineFreeValues", OG_OBJECT, "PostOrderLineFreeValues", OG_NULLABLE},
};

static const ogs_field post_order_line_free_values[] = {
    {"freeText1", OG_STRING, NULL, OG_NULLABLE},
};

static const ogs_field post_order_line_prices[] = {
    {"linePrice", OG_NUMBER, NULL, OG_NULLABLE},
    {"customerLinePrice", OG_NUMBER, NULL, OG_NULLABLE},
    {"currencyCode", OG_STRING, NULL, OG_NULLABLE},
    {"discountPercentage", OG_NUMBER, NULL, OG_NULLABLE},
};

static const ogs_field post_order_market_place[] = {
    {"marketPlace", OG_STRING, NULL, OG_NULLABLE},
    {"marketPlaceOrderNumber", OG_STRING, NULL, OG_NULLABLE},
};

static const ogs_field post_order_model[] = {
    {"goodsOwnerId", OG_INTEGER, NULL, OG_REQUIRED},
    {"orderNumber", OG_STRING, NULL, OG_REQUIRED},
    {"deliveryDate", OG_DATE_TIME, NULL, OG_REQUIRED},
    {"consignee", OG_OBJECT, "PostOrderConsignee", OG_REQUIRED},
    {"referenceNumber", OG_STRING, NULL, OG_NULLABLE},
    {"goodsOwnerOrderId", OG_STRING, NULL, OG_NULLABLE},
    {"salesCode", OG_STRING, NULL, OG_NULLABLE},
    {"orderRemark", OG_STRING, NULL, OG_NULLABLE},
    {"deliveryInstruction", OG_STRING, NULL, OG_NULLABLE},
    {"servicePointCode", OG_STRING, NULL, OG_NULLABLE},
    {"freeText1", OG_STRING, NULL, OG_NULLABLE},
    {"freeText2", OG_STRING, NULL, OG_NULLABLE},
    {"freeText3", OG_STRING, NULL, OG_NULLABLE},
    {"orderFreeDateTime1", OG_DATE_TIME, NULL, OG_NULLABLE},
    {"orderType", OG_OBJECT, "CodeNamePair", OG_NULLABLE},
    {"wayOfDelivery", OG_OBJECT, "CodeNamePair", OG_NULLABLE},
    {"emailNotification", OG_OBJECT, "PostOrderNotification", OG_NULLABLE},
    {"smsNotification", OG_OBJECT, "PostOrderNotification", OG_NULLABLE},
    {"telephoneNotification", OG_OBJECT, "PostOrderNotification", OG_NULLABLE},
    {"transporter", OG_OBJECT, "PostOrderTransporter", OG_NULLABLE},
    {"returnTransporter", OG_OBJECT, "PostOrderReturnTransporter", OG_NULLABLE},
    {"orderLines", OG_ARRAY_OBJECT, "PostOrderLine", OG_NULLABLE},
    {"customsInfo", OG_OBJECT, "PostOrderCustomsInfo", OG_NULLABLE},
    {"preparedTransportDocumentId", OG_STRING, NULL, OG_NULLABLE},
    {"freightPrice", OG_NUMBER, NULL, OG_NULLABLE},
    {"warehouseId", OG_INTEGER, NULL, OG_NULLABLE},
    {"classes", OG_ARRAY_OBJECT, "PostOrderClass", OG_NULLABLE},
    {"termsOfDeliveryType", OG_OBJECT, "CodeNamePair", OG_NULLABLE},
    {"customerPrice", OG_NUMBER, NULL, OG_NULLABLE},
    {"advanced", OG_OBJECT, "PostOrderAdvanced", OG_NULLABLE},
    {"consigneeOrderNumber", OG_STRING, NULL, OG_NULLABLE},
    {"warehouseInstruction", OG_STRING, NULL, OG_NULLABLE},
    {"marketPlace", OG_OBJECT, "PostOrderMarketPlace", OG_NULLABLE},
    {"pickingPriority", OG_INTEGER, NULL, OG_NULLABLE},
    {"productionCode", OG_STRING, NULL, OG_NULLABLE},
    {"transporterBulkId", OG_STRING, NULL, OG_NULLABLE},
};

static const ogs_field post_order_notification[] = {
    {"toBeNotified", OG_BOOLEAN, NULL, 0},
    {"value", OG_STRING, NULL, OG_NULLABLE},
};

static const ogs_field post_order_return_transporter[] = {
    {"transporterCode", OG_STRING, NULL, OG_NULLABLE},
    {"transporterServiceCode", OG_STRING, NULL, OG_NULLABLE},
};

static const ogs_field post_order_text_line[] = {
    {"rowNumber", OG_STRING, NULL, OG_REQUIRED},
    {"comment", OG_STRING, NULL, OG_NULLABLE},
    {"numberOfItems", OG_NUMBER, NULL, 0},
};

static const ogs_field post_order_transporter[] = {
    {"transporterCode", OG_STRING, NULL, OG_NULLABLE},
    {"transporterServiceCode", OG_STRING, NULL, OG_NULLABLE},
    {"paymentAdvanced", OG_OBJECT, "PostOrderTransporterPayment", OG_NULLABLE},
};

static const ogs_field post_order_transporter_consignee_pays[] = {
    {"customerNumber", OG_STRING, NULL, OG_REQUIRED},
};

static const ogs_field post_order_transporter_payment[] = {
    {"consigneeCollects", OG_BOOLEAN, NULL, OG_NULLABLE},
    {"consigneePays", OG_OBJECT, "PostOrderTransporterConsigneePays", OG_NULLABLE},
    {"thirdPartyPays", OG_OBJECT, "PostOrderTransporterThirdPartyPays", OG_NULLABLE},
    {"senderPays", OG_OBJECT, "PostOrderTransporterSenderPaysPays", OG_NULLABLE},
};

static const ogs_field post_order_transporter_sender_pays_pays[] = {
    {"ediCode", OG_STRING, NULL, OG_REQUIRED},
};

static const ogs_field post_order_transporter_third_party_pays[] = {
    {"customerNumber", OG_STRING, NULL, OG_REQUIRED},
};

/* Every schema, by name (sorted). */
static const ogs_schema ogs_schemas[] = {
    {"CodeNamePair", code_name_pair, OG_COUNT(code_name_pair)},
    {"PostArticleAlternativeBarCode", post_article_alternative_bar_code,
     OG_COUNT(post_article_alternative_bar_code)},
    {"PostArticleBarCodeInfo", post_article_bar_code_info, OG_COUNT(post_article_bar_code_info)},
    {"PostArticleFreeValues", post_article_free_values, OG_COUNT(post_article_free_values)},
    {"PostArticleModel", post_article_model, OG_COUNT(post_article_model)},
    {"PostArticleNameTranslation", post_article_name_translation,
     OG_COUNT(post_article_name_translation)},
    {"PostArticleStorageClass", post_article_storage_class, OG_COUNT(post_article_storage_class)},
    {"PostArticleStorageProperties", post_article_storage_properties,
     OG_COUNT(post_article_storage_properties)},
    {"PostArticleStructureRow", post_article_structure_row, OG_COUNT(post_article_structure_row)},
    {"PostArticleStructureSpecification", post_article_structure_specification,
     OG_COUNT(post_article_structure_specification)},
    {"PostArticleSupplierInfo", post_article_supplier_info, OG_COUNT(post_article_supplier_info)},
    {"PostArticleTaricNumber", post_article_taric_number, OG_COUNT(post_article_taric_number)},
    {"PostArticleTaricNumbersInfo", post_article_taric_numbers_info,
     OG_COUNT(post_article_taric_numbers_info)},
    {"PostOrderAdvanced", post_order_advanced, OG_COUNT(post_order_advanced)},
    {"PostOrderClass", post_order_class, OG_COUNT(post_order_class)},
    {"PostOrderConsignee", post_order_consignee, OG_COUNT(post_order_consignee)},
    {"PostOrderConsigneeAddressAdvanced", post_order_consignee_address_advanced,
     OG_COUNT(post_order_consignee_address_advanced)},
    {"PostOrderConsigneeCustomerInvoiceNotification",
     post_order_consignee_customer_invoice_notification,
     OG_COUNT(post_order_consignee_customer_invoice_notification)},
    {"PostOrderConsigneeCustomerNotification", post_order_consignee_customer_notification,
     OG_COUNT(post_order_consignee_customer_notification)},
    {"PostOrderConsigneeInvoiceAddress", post_order_consignee_invoice_address,
     OG_COUNT(post_order_consignee_invoice_address)},
    {"PostOrderConsigneeInvoiceAddressAdvanced", post_order_consignee_invoice_address_advanced,
     OG_COUNT(post_order_consignee_invoice_address_advanced)},
    {"PostOrderCustomsInfo", post_order_customs_info, OG_COUNT(post_order_customs_info)},
    {"PostOrderLine", post_order_line, OG_COUNT(post_order_line)},
    {"PostOrderLineFreeValues", post_order_line_free_values, OG_COUNT(post_order_line_free_values)},
    {"PostOrderLinePrices", post_order_line_prices, OG_COUNT(post_order_line_prices)},
    {"PostOrderMarketPlace", post_order_market_place, OG_COUNT(post_order_market_place)},
    {"PostOrderModel", post_order_model, OG_COUNT(post_order_model)},
    {"PostOrderNotification", post_order_notification, OG_COUNT(post_order_notification)},
    {"PostOrderReturnTransporter", post_order_return_transporter,
     OG_COUNT(post_order_return_transporter)},
    {"PostOrderTextLine", post_order_text_line, OG_COUNT(post_order_text_line)},
    {"PostOrderTransporter", post_order_transporter, OG_COUNT(post_order_transporter)},
    {"PostOrderTransporterConsigneePays", post_order_transporter_consignee_pays,
     OG_COUNT(post_order_transporter_consignee_pays)},
    {"PostOrderTransporterPayment", post_order_transporter_payment,
     OG_COUNT(post_order_transporter_payment)},
    {"PostOrderTransporterSenderPaysPays", post_order_transporter_sender_pays_pays,
     OG_COUNT(post_order_transporter_sender_pays_pays)},
    {"PostOrderTransporterThirdPartyPays", post_order_transporter_third_party_pays,
     OG_COUNT(post_order_transporter_third_party_pays)},
};

const ogs_schema *ogs_schema_find(const char *name)
{
    for (size_t i = 0; i < OG_COUNT(ogs_schemas); i++) {
        if (strcmp(ogs_schemas[i].name, name) == 0)
            return &ogs_schemas[i];
    }
    return NULL;
}

/* The NULL-terminated values of enum `name`, NULL when there is none. */
static const char *const *ogs_enum_find(const char *name)
{
    for (size_t i = 0; i < OG_COUNT(ogs_enums); i++) {
        if (strcmp(ogs_enums[i].name, name) == 0)
            return ogs_enums[i].values;
    }
    return NULL;
}

/* Whether `value` is one of the values of enum `name`. */
static int enum_has(const char *name, const char *value)
{
    const char *const *values = ogs_enum_find(name);
    for (size_t i = 0; values && values[i]; i++) {
        if (strcmp(values[i], value) == 0)
            return 1;
    }
    return 0;
}

/* Writes the values of enum `name` as "A, B" into buf (cut to size). */
static void enum_list(const char *name, char *buf, size_t size)
{
    const char *const *values = ogs_enum_find(name);
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; values && values[i] && len < size; i++) {
        int n = snprintf(buf + len, size - len, "%s%s", i ? ", " : "", values[i]);
        if (n < 0)
            break;
        len += (size_t)n;
    }
}

static const ogs_field *ogs_field_find(const ogs_schema *schema, const char *name)
{
    for (size_t i = 0; i < schema->nfields; i++) {
        if (strcmp(schema->fields[i].name, name) == 0)
            return &schema->fields[i];
    }
    return NULL;
}

/* ---- lenient time parsing ---- */

/* Reads exactly n decimal digits at *p into *out and advances *p.  Returns 0,
 * or -1 when fewer than n digits are there. */
static int read_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (Howard
 * Hinnant's days_from_civil), so no time zone state is involved. */
static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Reads the zone designator at p: "", "Z", "+HH:MM", "+HHMM", "+HH" (or '-',
 * or ' ' for a '+' URL-decoding turned into a space).  Stores the offset east
 * of UTC in minutes.  Returns 0, or -1 on anything else. */
static int read_zone(const char *p, int *offset_min)
{
    int sign, hh, mm = 0;

    *offset_min = 0;
    if (*p == '\0')
        return 0;
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
        return 0;
    if (*p == '+' || *p == ' ')
        sign = 1;
    else if (*p == '-')
        sign = -1;
    else
        return -1;
    p++;
    if (read_digits(&p, 2, &hh) != 0 || hh > 23)
        return -1;
    if (*p != '\0') {
        if (*p == ':')
            p++;
        if (read_digits(&p, 2, &mm) != 0 || mm > 59 || *p != '\0')
            return -1;
    }
    *offset_min = sign * (hh * 60 + mm);
    return 0;
}

int ogs_time_parse(const char *s, int64_t *ms)
{
    const char *p = s;
    int y, mo, d, h = 0, mi = 0, sec = 0, frac_ms = 0, offset_min = 0;

    if (read_digits(&p, 4, &y) != 0 || *p++ != '-' || read_digits(&p, 2, &mo) != 0 || *p++ != '-' ||
        read_digits(&p, 2, &d) != 0)
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
        return -1;
    /* A space may stand for the T, but only before "HH:" (each byte is
     * checked before the next is read, so the end of s is never passed). */
    if (*p == 'T' || *p == 't' ||
        (*p == ' ' && p[1] >= '0' && p[1] <= '9' && p[2] >= '0' && p[2] <= '9' && p[3] == ':')) {
        p++;
        if (read_digits(&p, 2, &h) != 0 || *p++ != ':' || read_digits(&p, 2, &mi) != 0)
            return -1;
        if (*p == ':') {
            p++;
            if (read_digits(&p, 2, &sec) != 0)
                return -1;
            if (*p == '.' || *p == ',') {
                int scale = 100, digits = 0;
                for (p++; *p >= '0' && *p <= '9'; p++, digits++) {
                    frac_ms += (*p - '0') * scale;
                    scale /= 10;
                }
                if (digits == 0)
                    return -1;
            }
        }
        if (h > 23 || mi > 59 || sec > 59 || read_zone(p, &offset_min) != 0)
            return -1;
    } else if (*p != '\0') {
        return -1;
    }
    *ms =
        ((days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) - offset_min * 60) * 1000 +
        frac_ms;
    return 0;
}

/* ---- validation ---- */

/* The path of the value being checked, grown and shrunk as the walk descends:
 * "orderLines[0].prices.linePrice".  Too long a path is cut, never overflowed. */
typedef struct ogs_path {
    char buf[OG_PATH_MAX];
    size_t len;
} ogs_path;

/* Appends ".name" (or "name" at the top) or "[index]"; returns the old length
 * for ogs_path_pop. */
static size_t ogs_path_push_name(ogs_path *path, const char *name)
{
    size_t old = path->len;
    int n = snprintf(path->buf + old, sizeof(path->buf) - old, "%s%s", old ? "." : "", name);
    if (n > 0)
        path->len = old + (size_t)n < sizeof(path->buf) ? old + (size_t)n : sizeof(path->buf) - 1;
    return old;
}

static size_t ogs_path_push_index(ogs_path *path, size_t index)
{
    size_t old = path->len;
    int n = snprintf(path->buf + old, sizeof(path->buf) - old, "[%zu]", index);
    if (n > 0)
        path->len = old + (size_t)n < sizeof(path->buf) ? old + (size_t)n : sizeof(path->buf) - 1;
    return old;
}

static void ogs_path_pop(ogs_path *path, size_t old)
{
    path->len = old;
    path->buf[old] = '\0';
}

static int check_object(const ogs_schema *schema, const json_t *obj, ogs_path *path, char *err,
                        size_t errsize);

/* Checks one array element that must be an object of schema `schema`. */
static int check_element(const ogs_schema *schema, const json_t *elem, ogs_path *path, char *err,
                         size_t errsize)
{
    if (!json_is_object(elem)) {
        snprintf(err, errsize, "field '%s' must be an object", path->buf);
        return -1;
    }
    return check_object(schema, elem, path, err, errsize);
}

/* Checks the value of field `field`, whose path is already in `path`. */
static int check_value(const ogs_field *field, const json_t *value, ogs_path *path, char *err,
                       size_t errsize)
{
    const char *what = NULL;
    const ogs_schema *nested = NULL;
    int64_t ms;

    if (json_is_null(value)) {
        if (field->flags & OG_NULLABLE)
            return 0;
        snprintf(err, errsize, "field '%s' must not be null", path->buf);
        return -1;
    }
    if (field->type == OG_OBJECT || field->type == OG_ARRAY_OBJECT) {
        nested = ogs_schema_find(field->ref);
        if (!nested) {
            snprintf(err, errsize, "field '%s': no schema '%s'", path->buf, field->ref);
            return -1;
        }
    }

    switch (field->type) {
    case OG_STRING:
        if (!json_is_string(value))
            what = "a string";
        break;
    case OG_DATE_TIME:
        if (!json_is_string(value) || ogs_time_parse(json_string_value(value), &ms) != 0)
            what = "a date-time string";
        break;
    case OG_NUMBER:
        if (!json_is_number(value))
            what = "a number";
        break;
    case OG_INTEGER:
        if (!json_is_integer(value))
            what = "an integer";
        break;
    case OG_BOOLEAN:
        if (!json_is_boolean(value))
            what = "a boolean";
        break;
    case OG_ENUM:
        if (!json_is_string(value) || !enum_has(field->ref, json_string_value(value))) {
            char list[256];
            enum_list(field->ref, list, sizeof(list));
            snprintf(err, errsize, "field '%s' must be one of %s", path->buf, list);
            return -1;
        }
        break;
    case OG_OBJECT:
        if (!json_is_object(value))
            what = "an object";
        else
            return check_object(nested, value, path, err, errsize);
        break;
    case OG_ARRAY_OBJECT:
    case OG_ARRAY_STRING:
        if (!json_is_array(value)) {
            what = "an array";
            break;
        }
        for (size_t i = 0; i < json_array_size(value); i++) {
            const json_t *elem = json_array_get(value, i);
            size_t old = ogs_path_push_index(path, i);
            int rc = 0;
            if (field->type == OG_ARRAY_OBJECT) {
                rc = check_element(nested, elem, path, err, errsize);
            } else if (!json_is_string(elem)) {
                snprintf(err, errsize, "field '%s' must be a string", path->buf);
                rc = -1;
            }
            if (rc != 0)
                return rc;
            ogs_path_pop(path, old);
        }
        break;
    }
    if (what) {
        snprintf(err, errsize, "field '%s' must be %s", path->buf, what);
        return -1;
    }
    return 0;
}

/* Checks every member of `obj` against `schema` (unknown fields and types, in
 * the body's order), then the required fields (in the table's order). */
static int check_object(const ogs_schema *schema, const json_t *obj, ogs_path *path, char *err,
                        size_t errsize)
{
    const char *key;
    const json_t *value;

    json_object_foreach((json_t *)obj, key, value)
    {
        const ogs_field *field = ogs_field_find(schema, key);
        size_t old = ogs_path_push_name(path, key);
        if (!field) {
            snprintf(err, errsize, "unknown field '%s'", path->buf);
            return -1;
        }
        if (check_value(field, value, path, err, errsize) != 0)
            return -1;
        ogs_path_pop(path, old);
    }
    for (size_t i = 0; i < schema->nfields; i++) {
        const ogs_field *field = &schema->fields[i];
        if ((field->flags & OG_REQUIRED) && !json_object_get(obj, field->name)) {
            ogs_path_push_name(path, field->name);
            snprintf(err, errsize, "missing required field '%s'", path->buf);
            return -1;
        }
    }
    return 0;
}

int ogs_fields_check(const char *schema, const json_t *body, char *err, size_t errsize)
{
    const ogs_schema *root = ogs_schema_find(schema);
    ogs_path path = {.buf = "", .len = 0};

    if (errsize > 0)
        err[0] = '\0';
    if (!root) {
        snprintf(err, errsize, "no schema '%s'", schema);
        return -1;
    }
    if (!json_is_object(body)) {
        snprintf(err, errsize, "request body must be a JSON object");
        return -1;
    }
    return check_object(root, body, &path, err, errsize);
}

/* ---- dump for tests/contract-check ---- */

/* The JSON description of one field's type (without required/nullable). */
static json_t *dump_type(const ogs_field *field)
{
    switch (field->type) {
    case OG_STRING:
        return json_pack("{s:s}", "type", "string");
    case OG_DATE_TIME:
        return json_pack("{s:s}", "type", "date-time");
    case OG_NUMBER:
        return json_pack("{s:s}", "type", "number");
    case OG_INTEGER:
        return json_pack("{s:s}", "type", "integer");
    case OG_BOOLEAN:
        return json_pack("{s:s}", "type", "boolean");
    case OG_ENUM: {
        const char *const *values = ogs_enum_find(field->ref);
        json_t *list = json_array();
        for (size_t i = 0; values && values[i]; i++)
            json_array_append_new(list, json_string(values[i]));
        return json_pack("{s:s, s:o}", "type", "string", "enum", list);
    }
    case OG_OBJECT:
        return json_pack("{s:s, s:s}", "type", "object", "ref", field->ref);
    case OG_ARRAY_OBJECT:
        return json_pack("{s:s, s:{s:s, s:s}}", "type", "array", "items", "type", "object", "ref",
                         field->ref);
    case OG_ARRAY_STRING:
        return json_pack("{s:s, s:{s:s}}", "type", "array", "items", "type", "string");
    }
    return json_null();
}

json_t *ogs_fields_dump(void)
{
    json_t *out = json_object();
    json_t *roots = json_object();
    json_t *schemas = json_object();

    for (size_t i = 0; i < OG_COUNT(ogs_roots); i++)
        json_object_set_new(roots, ogs_roots[i].route, json_string(ogs_roots[i].schema));
    for (size_t i = 0; i < OG_COUNT(ogs_schemas); i++) {
        const ogs_schema *schema = &ogs_schemas[i];
        json_t *fields = json_object();
        for (size_t j = 0; j < schema->nfields; j++) {
            const ogs_field *field = &schema->fields[j];
            json_t *desc = dump_type(field);
            json_object_set_new(desc, "required", json_boolean(field->flags & OG_REQUIRED));
            json_object_set_new(desc, "nullable", json_boolean(field->flags & OG_NULLABLE));
            json_object_set_new(fields, field->name, desc);
        }
        json_object_set_new(schemas, schema->name, fields);
    }
    json_object_set_new(out, "roots", roots);
    json_object_set_new(out, "schemas", schemas);
    return out;
}
