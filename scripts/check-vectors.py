#!/usr/bin/env python3
"""Independent check of Fustor's config-signature test vectors.

An RFC 8785 (JCS) canonicaliser written from the RFC alone, in the Python
standard library, so a second implementation in another language agrees with
shared/config/signature.ts on every vector in docs/vectors/signatures.json.
Usage: python3 scripts/check-vectors.py [vectors.json]; exits 1 on any mismatch.
"""
import hashlib
import json
import math
import sys
from decimal import Decimal
from pathlib import Path


def format_number(x):
    """ECMAScript Number::toString for a finite double (RFC 8785 section 3.2.2.3)."""
    if not math.isfinite(x):
        raise ValueError(f"{x} is not I-JSON")
    if x == 0:
        return "0"  # also -0
    if x < 0:
        return "-" + format_number(-x)
    # repr() is the shortest text that round-trips, as ECMAScript requires of its digits.
    _, digit_tuple, exponent = Decimal(repr(x)).as_tuple()
    all_digits = "".join(map(str, digit_tuple))
    n = exponent + len(all_digits)  # x = 0.<digits> * 10^n
    digits = all_digits.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    e = n - 1
    mantissa = digits[0] + ("." + digits[1:] if k > 1 else "")
    return mantissa + "e" + ("+" if e >= 0 else "-") + str(abs(e))


SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def format_string(s):
    """RFC 8785 section 3.2.2.2: escape only '"', '\\' and controls; the rest stays raw."""
    out = ['"']
    for ch in s:
        if 0xD800 <= ord(ch) <= 0xDFFF:
            raise ValueError("lone surrogate is not I-JSON")
        if ch in SHORT_ESCAPES:
            out.append(SHORT_ESCAPES[ch])
        elif ord(ch) < 0x20:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def utf16_key(name):
    """Member names sort as arrays of UTF-16 code units (RFC 8785 section 3.2.3)."""
    return name.encode("utf-16-be")


def canonical(value):
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        # Every JSON number is an IEEE 754 double in I-JSON, integers included.
        return format_number(float(value))
    if isinstance(value, str):
        return format_string(value)
    if isinstance(value, list):
        return "[" + ",".join(canonical(v) for v in value) + "]"
    if isinstance(value, dict):
        names = sorted(value.keys(), key=utf16_key)
        return "{" + ",".join(format_string(n) + ":" + canonical(value[n]) for n in names) + "}"
    raise TypeError(f"no JSON form for {type(value).__name__}")


def parse(text):
    def refuse(name):
        raise ValueError(f"{name} is not I-JSON")

    # Integers are read as doubles, as every I-JSON reader must.
    return json.loads(text, parse_int=float, parse_constant=refuse)


def signature(text):
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def check(vector, source_key):
    value = parse(vector[source_key])
    got = canonical(value)
    problems = []
    if got != vector["canonical"]:
        problems.append(f"canonical JSON differs:\n    expected {vector['canonical']!r}\n    got      {got!r}")
    got_signature = signature(got)
    if got_signature != vector["signature"]:
        problems.append(f"signature differs: expected {vector['signature']}, got {got_signature}")
    return problems


def main(argv):
    path = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / "docs" / "vectors" / "signatures.json"
    vectors = json.loads(path.read_text(encoding="utf-8"))
    results = [(v["name"], check(v, "input")) for v in vectors["canonical"]]
    results += [(v["name"], check(v, "normalised")) for v in vectors["documents"]]
    failed = 0
    for name, problems in results:
        if problems:
            failed += 1
            print(f"FAIL {name}")
            for p in problems:
                print(f"  {p}")
        else:
            print(f"ok   {name}")
    print(f"{len(results) - failed} of {len(results)} vectors verified")
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
