"""Canonical JSON (RFC 8785, the JSON Canonicalization Scheme).

Everything plexnet signs or hashes is serialized here, so that one value has one
byte string. The rules, and where plexnet is stricter than RFC 8785:

* Objects: members sorted by the UTF-16 code units of their keys; keys must be
  strings; duplicate keys are rejected when parsing.
* Strings: UTF-8; only ``"``, ``\\`` and control characters are escaped (short
  forms where JSON has them, else ``\\u00xx``); lone surrogates are rejected.
* Numbers are IEEE-754 doubles written as ECMAScript's ``Number.toString`` writes
  them (shortest round-trip digits; ``1e+21``, ``0.000001``, ``1e-7``; ``-0`` is
  ``0``). NaN and ±Infinity are rejected. **Floats**: a float that happens to be
  integral is written without a fraction (``2.0`` -> ``2``) and parses back as an
  ``int``; compare floats in signed data only after a round trip. **Integers** must
  lie within ±(2^53 - 1): beyond that a double cannot hold them exactly, so RFC
  8785 implementations would disagree. Amounts are therefore integer micro-units.
* No whitespace. Top-level values of any JSON type.

``dumps`` produces canonical bytes; ``loads`` parses strictly; ``loads_canonical``
also insists that the input *was* canonical (a signed entry must be).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

from plexnet.core.errors import CanonicalJSONError

__all__ = ["MAX_SAFE_INTEGER", "dumps", "format_number", "loads", "loads_canonical"]

MAX_SAFE_INTEGER: Final = 2**53 - 1
_MAX_DEPTH: Final = 256


def dumps(value: Any) -> bytes:
    """Serialize ``value`` as RFC 8785 canonical JSON (UTF-8 bytes).

    Raises:
        CanonicalJSONError: for NaN/Infinity, out-of-range integers, non-string
            keys, lone surrogates, or values JSON cannot represent.
    """
    if _fast_path_ok(value, 0):
        try:
            text = _FAST.encode(value)
        except (TypeError, ValueError) as exc:
            raise CanonicalJSONError(f"not JSON: {exc}") from None
    else:
        out: list[str] = []
        _write(value, out, 0)
        text = "".join(out)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CanonicalJSONError(f"string is not valid Unicode (lone surrogate): {exc}") from None


def loads(data: bytes | str) -> Any:
    """Parse JSON strictly: UTF-8, no duplicate keys, no NaN/Infinity, safe integers."""
    if isinstance(data, bytes | bytearray | memoryview):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CanonicalJSONError(f"JSON is not valid UTF-8: {exc}") from None
    else:
        text = data
    try:
        value = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_reject_constant,
            parse_int=_parse_int,
            parse_float=_parse_float,
        )
    except json.JSONDecodeError as exc:
        raise CanonicalJSONError(f"invalid JSON: {exc}") from None
    except RecursionError:
        raise CanonicalJSONError("JSON nested too deeply") from None
    _check_strings(value, 0)
    return value


def loads_canonical(data: bytes) -> Any:
    """Parse ``data`` and insist that it is exactly the canonical form of its value."""
    value = loads(data)
    if dumps(value) != bytes(data):
        raise CanonicalJSONError("JSON is not in canonical form (RFC 8785)")
    return value


# The json module's C encoder produces RFC 8785 output whenever (1) every float
# prints the same in Python and ECMAScript, and (2) sorting keys by code point
# equals sorting them by UTF-16 code units, which can only differ for keys holding
# characters at or above U+E000. _fast_path_ok checks both (and the integer
# range) in one walk; anything else takes the exact writer below. A property test
# holds the two paths to the same bytes.
_FAST: Final = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False,
    check_circular=False,
)


def _fast_path_ok(value: Any, depth: int) -> bool:
    if depth > _MAX_DEPTH:
        raise CanonicalJSONError(f"value nested deeper than {_MAX_DEPTH}")
    if isinstance(value, str) or value is None or value is True or value is False:
        return True
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise CanonicalJSONError(
                f"integer {value} is outside ±(2^53-1); encode it as a string"
            )
        return type(value) is int
    if isinstance(value, float):
        return type(value) is float and format_number(value) == repr(value)
    if type(value) is dict:
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalJSONError(f"object keys must be strings, not {key!r}")
            if not key.isascii() and max(key) >= "\ue000":
                return False
            if not _fast_path_ok(item, depth + 1):
                return False
        return True
    if type(value) is list:
        return all(_fast_path_ok(item, depth + 1) for item in value)
    return False  # tuples, mappings, other types: the exact writer decides


def _write(value: Any, out: list[str], depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise CanonicalJSONError(f"value nested deeper than {_MAX_DEPTH}")
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise CanonicalJSONError(
                f"integer {value} is outside ±(2^53-1); encode it as a string"
            )
        out.append(str(int(value)))
    elif isinstance(value, float):
        out.append(format_number(value))
    elif isinstance(value, str):
        out.append(_quote(value))
    elif isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise CanonicalJSONError(f"object keys must be strings, not {key!r}")
        out.append("{")
        for i, key in enumerate(sorted(value, key=_utf16_key)):
            if i:
                out.append(",")
            out.append(_quote(key))
            out.append(":")
            _write(value[key], out, depth + 1)
        out.append("}")
    elif isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, out, depth + 1)
        out.append("]")
    else:
        raise CanonicalJSONError(
            f"{type(value).__name__} is not JSON; encode bytes as hex or base64 first"
        )


def format_number(x: float) -> str:
    """ECMAScript ``Number.prototype.toString`` for a finite double (RFC 8785 §3.2.2.3)."""
    if math.isnan(x) or math.isinf(x):
        raise CanonicalJSONError(f"{x} is not allowed in JSON (RFC 8785)")
    if x == 0:
        return "0"  # also -0
    if x < 0:
        return "-" + format_number(-x)
    # repr gives the fewest digits k that round-trip, which is what ECMAScript asks
    # for. ECMAScript also wants, among k-digit strings that round-trip, the one
    # closest to x: formatting x to k significant digits is correctly rounded, so
    # it is that one unless it fails to round-trip (an exact decimal tie next to a
    # power of two, e.g. 2^-24); then repr's own digits are the only candidate.
    shortest = repr(x)
    mantissa, _, exp_text = shortest.partition("e")
    int_part, _, frac_part = mantissa.partition(".")
    digits = (int_part + frac_part).lstrip("0")
    # value = 0.digits x 10^point
    point = len(int_part) + int(exp_text or 0) - (len(int_part + frac_part) - len(digits))
    digits = digits.rstrip("0")
    rounded = f"{x:.{len(digits) - 1}e}"
    if float(rounded) == x:
        mantissa, _, exp_text = rounded.partition("e")
        digits = mantissa.replace(".", "").rstrip("0")
        point = int(exp_text) + 1
    k = len(digits)
    if k <= point <= 21:
        return digits + "0" * (point - k)
    if 0 < point <= 21:
        return digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return "0." + "0" * -point + digits
    exponent = point - 1
    head = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{head}e{'+' if exponent >= 0 else '-'}{abs(exponent)}"


# The C string encoder of the json module escapes exactly what RFC 8785 escapes:
# '"', '\\', the short forms \b \f \n \r \t, other controls as lower-case \u00xx,
# and nothing else when ensure_ascii is off (tests pin this down).
_quote: Final = json.encoder.encode_basestring


def _utf16_key(key: str) -> bytes:
    # RFC 8785 sorts by UTF-16 code units; big-endian bytes compare the same way.
    # surrogatepass lets a lone surrogate sort here; dumps rejects it afterwards.
    return key.encode("utf-16-be", "surrogatepass")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise CanonicalJSONError(f"duplicate key {key!r} in JSON object")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise CanonicalJSONError(f"{name} is not allowed in JSON (RFC 8785)")


def _parse_int(text: str) -> int | float:
    value = int(text)
    if abs(value) <= MAX_SAFE_INTEGER:
        return value
    # A large integral double prints without a fraction ("9007199254740992" is
    # 2^53); accept the literal as that double only if it is exactly one.
    as_float = float(text)
    if not math.isinf(as_float) and format_number(as_float) == text:
        return as_float
    raise CanonicalJSONError(f"integer {text} is outside ±(2^53-1) and not an exact double")


def _parse_float(text: str) -> float | int:
    value = float(text)
    if math.isinf(value):
        raise CanonicalJSONError(f"number {text} overflows a double")
    return value


def _check_strings(value: Any, depth: int) -> None:
    if isinstance(value, str):
        _check_text(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check_strings(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_strings(item, depth + 1)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise CanonicalJSONError("JSON string holds a lone surrogate") from None
