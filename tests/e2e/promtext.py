"""A strict parser of the Prometheus text exposition format (version 0.0.4), so the
tests check /metrics with a parser and not with grep.  Python standard library only.

    families = parse(text)
    families["mosync_messages_total"].type == "counter"
    families["mosync_messages_total"].samples == [("mosync_messages_total",
                                                   {"flow": "orders", ...}, 3.0), ...]

Raises ParseError naming the line for anything the format does not allow: a
malformed name, label or value, a sample before its TYPE or of another family, a
TYPE or HELP given twice, a duplicate series, a histogram whose buckets are not
cumulative or lack +Inf, or whose _count differs from its +Inf bucket.
"""
import math
import re

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


class ParseError(Exception):
    pass


class Family:
    def __init__(self, name):
        self.name = name
        self.type = "untyped"
        self.help = None
        self.samples = []  # (sample name, labels dict, value)

    def value(self, **labels):
        """The value of the sample of this family's own name with exactly these labels."""
        for name, lbl, v in self.samples:
            if name == self.name and lbl == labels:
                return v
        return None

    def total(self, **match):
        """Sum of the samples of this family's own name whose labels include match."""
        return sum(v for name, lbl, v in self.samples
                   if name == self.name and all(lbl.get(k) == x for k, x in match.items()))


def _value(text, lineno):
    if text in ("+Inf", "Inf"):
        return math.inf
    if text == "-Inf":
        return -math.inf
    if text == "NaN":
        return math.nan
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text):
        raise ParseError("line %d: bad value %r" % (lineno, text))
    return float(text)


def _labels(text, lineno):
    """Parses 'a="x",b="y"' (the part inside braces) into a dict."""
    out, i = {}, 0
    while i < len(text):
        m = LABEL.match(text, i)
        if not m:
            raise ParseError("line %d: bad label name at %r" % (lineno, text[i:]))
        name = m.group(0)
        i = m.end()
        if text[i:i + 2] != '="':
            raise ParseError("line %d: label %s without =\"" % (lineno, name))
        i += 2
        val = []
        while True:
            if i >= len(text):
                raise ParseError("line %d: unterminated label value" % lineno)
            c = text[i]
            if c == "\\":
                nxt = text[i + 1:i + 2]
                if nxt not in ("\\", '"', "n"):
                    raise ParseError("line %d: bad escape \\%s" % (lineno, nxt))
                val.append("\n" if nxt == "n" else nxt)
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                raise ParseError("line %d: newline in label value" % lineno)
            else:
                val.append(c)
                i += 1
        if name in out:
            raise ParseError("line %d: label %s twice" % (lineno, name))
        out[name] = "".join(val)
        if i < len(text):
            if text[i] != ",":
                raise ParseError("line %d: expected ',' between labels" % lineno)
            i += 1
    return out


def _family_of(sample, families):
    for suffix in ("_bucket", "_sum", "_count", ""):
        if suffix and sample.endswith(suffix):
            base = sample[:-len(suffix)]
            f = families.get(base)
            if f and f.type in ("histogram", "summary"):
                return f
    return families.get(sample)


def parse(text):
    if text and not text.endswith("\n"):
        raise ParseError("the text does not end with a newline")
    families = {}
    seen = set()
    for lineno, line in enumerate(text.split("\n")[:-1], 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("TYPE", "HELP"):
                name = parts[2]
                if not NAME.fullmatch(name):
                    raise ParseError("line %d: bad metric name %r" % (lineno, name))
                f = families.setdefault(name, Family(name))
                if parts[1] == "TYPE":
                    if len(parts) != 4 or parts[3] not in TYPES:
                        raise ParseError("line %d: bad TYPE" % lineno)
                    if f.samples or getattr(f, "_typed", False):
                        raise ParseError("line %d: TYPE of %s after its samples or twice"
                                         % (lineno, name))
                    f.type = parts[3]
                    f._typed = True
                else:
                    if f.help is not None:
                        raise ParseError("line %d: HELP of %s twice" % (lineno, name))
                    f.help = parts[3] if len(parts) == 4 else ""
            continue
        m = NAME.match(line)
        if not m:
            raise ParseError("line %d: bad sample %r" % (lineno, line))
        sname = m.group(0)
        rest = line[m.end():]
        labels = {}
        if rest.startswith("{"):
            end = rest.rfind("}")
            if end < 0:
                raise ParseError("line %d: unterminated labels" % lineno)
            labels = _labels(rest[1:end], lineno)
            rest = rest[end + 1:]
        if not rest.startswith(" "):
            raise ParseError("line %d: no space before the value" % lineno)
        fields = rest.split()
        if len(fields) not in (1, 2):
            raise ParseError("line %d: bad value/timestamp %r" % (lineno, rest))
        value = _value(fields[0], lineno)
        f = _family_of(sname, families)
        if f is None:
            f = families.setdefault(sname, Family(sname))
        key = (sname, tuple(sorted(labels.items())))
        if key in seen:
            raise ParseError("line %d: series %s%s twice" % (lineno, sname, labels))
        seen.add(key)
        f.samples.append((sname, labels, value))
    for f in families.values():
        if f.type == "histogram":
            _check_histogram(f)
        if f.type == "counter":
            for _, lbl, v in f.samples:
                if v < 0 or math.isnan(v):
                    raise ParseError("counter %s%s is %r" % (f.name, lbl, v))
    return families


def _check_histogram(f):
    series = {}
    for sname, lbl, v in f.samples:
        base = {k: x for k, x in lbl.items() if k != "le"}
        key = tuple(sorted(base.items()))
        s = series.setdefault(key, {"buckets": [], "count": None, "sum": None})
        if sname == f.name + "_bucket":
            if "le" not in lbl:
                raise ParseError("histogram %s bucket without le" % f.name)
            s["buckets"].append((_value(lbl["le"], 0), v))
        elif sname == f.name + "_count":
            s["count"] = v
        elif sname == f.name + "_sum":
            s["sum"] = v
        else:
            raise ParseError("histogram %s has a sample %s" % (f.name, sname))
    for key, s in series.items():
        b = sorted(s["buckets"])
        if not b or b[-1][0] != math.inf:
            raise ParseError("histogram %s%s has no +Inf bucket" % (f.name, dict(key)))
        if any(b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
            raise ParseError("histogram %s%s buckets are not cumulative" % (f.name, dict(key)))
        if s["count"] is None or s["sum"] is None or s["count"] != b[-1][1]:
            raise ParseError("histogram %s%s: _count and _sum must be there, _count equal "
                             "to the +Inf bucket" % (f.name, dict(key)))
