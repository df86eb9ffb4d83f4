"""The event schemas of schemas/ as validators (issue 12 item 22).

Used by the end-to-end harness (every event it reads from a pipeline topic,
and every dead letter's headers) and by tests/schema-check.  Needs
python3-jsonschema (Debian 12 ships 4.10, which resolves references with
RefResolver; 4.18 and later use the `referencing` registry instead: both are
supported, so a newer pip-installed jsonschema works too).
"""

import json
import os
import threading

try:
    import jsonschema
except ImportError:  # a clear word instead of a traceback in every test
    jsonschema = None

SCHEMA_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "schemas"))
ENVELOPE = "envelope.schema.json"
DLQ_HEADERS = "mosync.dlq.headers.schema.json"

# Pipeline topic (base name, without KAFKA_TOPIC_PREFIX) -> the event type it carries.
TOPIC_TYPES = {
    "mystore.products": "mystore.product",
    "mystore.orders": "mystore.order",
    "ongoing.shipments": "ongoing.order",
    "ongoing.stock": "ongoing.article",
}


class SchemaError(Exception):
    """An instance that does not match its schema; the text names where and why."""


_lock = threading.Lock()
_cache = {}


def schema_files():
    return sorted(f for f in os.listdir(SCHEMA_DIR) if f.endswith(".schema.json"))


def load_all():
    """{file name: schema} of every schema in schemas/ (parsed once)."""
    with _lock:
        if "all" not in _cache:
            out = {}
            for f in schema_files():
                with open(os.path.join(SCHEMA_DIR, f)) as fh:
                    out[f] = json.load(fh)
            _cache["all"] = out
        return _cache["all"]


def _require_jsonschema():
    if jsonschema is None:
        raise SchemaError("python3-jsonschema is not installed (`make deps` installs it): the "
                          "events cannot be checked against schemas/")


def check_schemas():
    """Raises SchemaError naming the first schema file that is not a valid draft
    2020-12 schema or whose $id does not name its file."""
    _require_jsonschema()
    for f, s in load_all().items():
        try:
            jsonschema.Draft202012Validator.check_schema(s)
        except jsonschema.exceptions.SchemaError as e:
            raise SchemaError("schemas/%s is not a valid JSON Schema: %s" % (f, e.message))
        if not s.get("$id", "").endswith("/" + f):
            raise SchemaError("schemas/%s: $id %r does not end with its file name" % (f, s.get("$id")))


def _validator(name):
    """A Draft 2020-12 validator of schemas/<name> that resolves references to
    the other files by their $id."""
    with _lock:
        v = _cache.get(name)
    if v is not None:
        return v
    _require_jsonschema()
    schemas = load_all()
    root = schemas[name]
    try:
        from referencing import Registry, Resource  # jsonschema >= 4.18
        registry = Registry().with_resources(
            [(s["$id"], Resource.from_contents(s)) for s in schemas.values()])
        v = jsonschema.Draft202012Validator(root, registry=registry)
    except ImportError:  # Debian 12's jsonschema 4.10
        store = {s["$id"]: s for s in schemas.values()}
        resolver = jsonschema.RefResolver.from_schema(root, store=store)
        v = jsonschema.Draft202012Validator(root, resolver=resolver)
    with _lock:
        _cache[name] = v
    return v


def _pointer(parts):
    return "/" + "/".join(str(p) for p in parts) if parts else "(the whole value)"


def errors(name, instance, prefix=(), skip=None):
    """Every way instance fails schemas/<name>, as one line each (none: valid).
    prefix: the instance's place in a larger value, for the message; skip: a
    predicate on an error's instance path, for errors reported elsewhere."""
    out = []
    for e in sorted(_validator(name).iter_errors(instance), key=lambda e: list(e.absolute_path)):
        if skip and skip(list(e.absolute_path)):
            continue
        # An if/then or a oneOf reports its own failure and the ones beneath; the
        # deepest say what is actually wrong.
        leaves = [e]
        if e.context:
            leaves = [c for c in e.context if not c.context] or [e]
        for leaf in leaves[:3]:
            out.append("at %s: %s (schema: schemas/%s#%s)"
                       % (_pointer(list(prefix) + list(leaf.absolute_path)), leaf.message[:300],
                          name, _pointer(list(leaf.absolute_schema_path))))
    return out


def _raise(what, errs):
    if errs:
        raise SchemaError("%s does not match its schema:\n  %s" % (what, "\n  ".join(errs[:6])))


def validate(name, instance, what):
    """Raises SchemaError naming what (the event or letter), where and the
    schema path when instance does not match schemas/<name>."""
    _raise(what, errors(name, instance))


def validate_event(event, what, expect_type=None):
    """An event of a pipeline topic: its envelope, and its data by its type.
    The envelope refers to the data schemas itself (what a consumer elsewhere
    uses); data is checked on its own here only so that a failure names the
    data schema's file instead of a path through the envelope's allOf."""
    etype = event.get("type") if isinstance(event, dict) else None
    data_schema = "%s.schema.json" % etype if etype in TOPIC_TYPES.values() else None
    if data_schema and data_schema not in load_all():
        raise SchemaError("%s: no schema schemas/%s for its type" % (what, data_schema))
    if data_schema and isinstance(event.get("data"), dict):
        errs = errors(ENVELOPE, event, skip=lambda p: p[:1] == ["data"])
        errs += errors(data_schema, event["data"], prefix=["data"])
    else:
        errs = errors(ENVELOPE, event)
    _raise(what, errs)
    if expect_type and event.get("type") != expect_type:
        raise SchemaError("%s has type %r on a topic of %r events" % (what, event.get("type"),
                                                                     expect_type))
