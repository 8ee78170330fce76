"""Compliance gates: may these records enter the dataset at all?

* ``licence`` — the batch's licence must let its records be redistributed under the
  dataset's licence (table below); otherwise every record is rejected;
* ``schema_values`` — values that pass the schema but carry nothing: constant or
  blank images, table values far outside what the dataset holds, texts too short;
* ``pii`` — personal data: e-mail addresses, phone numbers, US SSNs, card numbers
  (Luhn), IPv4 addresses, IBANs (mod 97), dates of birth, columns named for
  personal data, numeric columns that look like identifiers.

Licence compatibility. A batch under licence B may enter a dataset under licence D
when D keeps every promise B asks for. The rules, in order (first match decides):

======================  ===========================================================
B is unknown            reject: proprietary, ``LicenseRef-*``, NOASSERTION, unlisted
B == D                  accept
B forbids derivatives   reject (ND): versions are derived (curated, augmented, ...)
B is share-alike        accept only into the licences B names (CC-BY-SA-4.0 →
                        CC-BY-SA-4.0; ODbL-1.0 → ODbL-1.0; CDLA-Sharing-1.0 → itself)
B is non-commercial     reject unless D is non-commercial too (CC-BY-NC-*)
B asks for attribution  reject when D waives it (CC0-1.0, PDDL-1.0, Unlicense)
CC-BY-* → ODbL-1.0      reject: CC BY needs the licensor's waiver to enter ODbL
otherwise               accept (public-domain and attribution licences: CC0-1.0,
                        PDDL-1.0, CC-BY-*, ODC-By-1.0, CDLA-Permissive-*, MIT,
                        BSD-*, Apache-2.0 enter any dataset that keeps their terms)
======================  ===========================================================

So a CC-BY-NC-4.0 batch cannot enter a CC-BY-4.0 dataset, a CC-BY-4.0 batch can enter
a CC-BY-SA-4.0 or CC-BY-NC-4.0 one, and a CC-BY-SA-4.0 batch only a CC-BY-SA-4.0 one.
An SPDX expression ``A OR B`` is accepted when either term is, ``A AND B`` when both
are. This is an engineering table for common data licences, not legal advice.

The PII detectors (:func:`find_pii`) and the column rules (:func:`personal_columns`)
are shared with :mod:`plexnet.data.privacy`. Reasons name the kind of personal data
and where it is (column or text), never the value.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from plexnet.data.errors import GateError
from plexnet.data.gates.base import Action, Finding, Gate, GateContext, GateResult, register
from plexnet.data.records import Records
from plexnet.data.schema import Schema

__all__ = ["CONTENT_KINDS", "LICENCES", "PII_LABELS", "Licence", "LicenceGate", "PiiGate",
           "PiiMatch", "SchemaValuesGate", "accepted_licences", "compatible", "find_pii",
           "personal_columns", "quasi_identifier_columns"]


# -- licences ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Licence:
    """What a licence asks of whoever redistributes the records."""

    spdx: str
    attribution: bool = True
    share_alike: frozenset[str] = frozenset()  # the only licences a share-alike batch enters
    non_commercial: bool = False
    no_derivatives: bool = False


def _table(*licences: Licence) -> dict[str, Licence]:
    return {lic.spdx: lic for lic in licences}


LICENCES: dict[str, Licence] = _table(
    Licence("CC0-1.0", attribution=False), Licence("PDDL-1.0", attribution=False),
    Licence("Unlicense", attribution=False),
    Licence("CC-BY-3.0"), Licence("CC-BY-4.0"), Licence("ODC-By-1.0"),
    Licence("CDLA-Permissive-1.0"), Licence("CDLA-Permissive-2.0"),
    Licence("MIT"), Licence("BSD-2-Clause"), Licence("BSD-3-Clause"), Licence("Apache-2.0"),
    Licence("CC-BY-SA-3.0", share_alike=frozenset({"CC-BY-SA-3.0", "CC-BY-SA-4.0"})),
    Licence("CC-BY-SA-4.0", share_alike=frozenset({"CC-BY-SA-4.0"})),
    Licence("ODbL-1.0", share_alike=frozenset({"ODbL-1.0"})),
    Licence("CDLA-Sharing-1.0", share_alike=frozenset({"CDLA-Sharing-1.0"})),
    Licence("CC-BY-NC-4.0", non_commercial=True),
    Licence("CC-BY-NC-SA-4.0", non_commercial=True,
            share_alike=frozenset({"CC-BY-NC-SA-4.0"})),
    Licence("CC-BY-ND-4.0", no_derivatives=True),
    Licence("CC-BY-NC-ND-4.0", non_commercial=True, no_derivatives=True),
)
_BY_LOWER = {spdx.lower(): lic for spdx, lic in LICENCES.items()}
_EXCEPTIONS = {(by, "ODbL-1.0"): "CC BY needs the licensor's waiver to enter an ODbL database"
               for by in ("CC-BY-3.0", "CC-BY-4.0")}


def _licence(spdx: str | None) -> Licence | None:
    return None if spdx is None else _BY_LOWER.get(spdx.strip().lower())


def _one(batch: str, dataset: Licence) -> tuple[bool, str]:
    lic = _licence(batch)
    if lic is None:
        return False, f"{batch!r} is not a licence plexnet knows (see the licence table)"
    if lic.spdx == dataset.spdx:
        return True, "same licence"
    if lic.no_derivatives:
        return False, f"{lic.spdx} forbids derivatives, and dataset versions are derived"
    if lic.share_alike and dataset.spdx not in lic.share_alike:
        return False, f"{lic.spdx} is share-alike: its records may only enter " + \
            " or ".join(sorted(lic.share_alike))
    if lic.non_commercial and not dataset.non_commercial:
        return False, f"{lic.spdx} is non-commercial, and {dataset.spdx} allows commercial use"
    if lic.attribution and not dataset.attribution:
        return False, f"{lic.spdx} requires attribution, which {dataset.spdx} waives"
    if (lic.spdx, dataset.spdx) in _EXCEPTIONS:
        return False, _EXCEPTIONS[lic.spdx, dataset.spdx]
    return True, f"{dataset.spdx} keeps {lic.spdx}'s terms"


def compatible(batch: str | None, dataset: str | None) -> tuple[bool, str]:
    """Whether records under ``batch`` (an SPDX id or ``A OR B`` / ``A AND B``) may
    enter a dataset under ``dataset``, and why (see the module docstring)."""
    target = _licence(dataset)
    if target is None:
        return False, (f"the dataset's licence {dataset!r} is not one plexnet knows" if dataset
                       else "the dataset declares no licence")
    if not batch or not batch.strip():
        return False, "the batch was contributed without a licence"
    expr = batch.strip()
    if expr.startswith("(") and expr.endswith(")"):
        expr = expr[1:-1]
    reasons = []
    for alternative in re.split(r"\s+OR\s+", expr, flags=re.IGNORECASE):
        verdicts = [_one(term, target) for term in re.split(r"\s+AND\s+", alternative,
                                                             flags=re.IGNORECASE)]
        if all(ok for ok, _ in verdicts):
            return True, "; ".join(reason for _, reason in verdicts)
        reasons += [reason for ok, reason in verdicts if not ok]
    return False, "; ".join(reasons)


def accepted_licences(dataset: str | None) -> list[str]:
    """The listed licences whose records may enter a dataset under ``dataset``."""
    return [spdx for spdx in LICENCES if compatible(spdx, dataset)[0]]


@register("licence")
@dataclass(frozen=True)
class LicenceGate(Gate):
    """Reject every record of a batch whose licence the dataset cannot carry."""

    # What to do when either licence is unknown: "reject" (default), since records
    # of unknown terms cannot be redistributed safely; "flag" holds them for review.
    unknown_action: Action = "reject"

    def check(self, batch: Records, ctx: GateContext) -> GateResult:
        ok, why = compatible(ctx.batch_license, ctx.dataset_license)
        accepted = accepted_licences(ctx.dataset_license)
        stats: dict[str, Any] = {"batch_license": ctx.batch_license,
                                 "dataset_license": ctx.dataset_license, "compatible": ok,
                                 "accepted": accepted}
        if ok:
            return GateResult(self.name, (), stats)
        terms = re.split(r"\s+(?:OR|AND)\s+|[()]", ctx.batch_license or "", flags=re.I)
        known = _licence(ctx.dataset_license) is not None and all(
            _licence(t) is not None for t in terms if t.strip()) and any(t.strip() for t in terms)
        action: Action = "reject" if known else self.unknown_action
        fix = (f"re-license the batch under one of {', '.join(accepted)}" if accepted else
               "the dataset must declare a licence from the table first")
        reason = f"licence {ctx.batch_license or 'none'} cannot enter a " \
                 f"{ctx.dataset_license or 'unlicensed'} dataset: {why}; {fix}"
        return GateResult(self.name, tuple(Finding(i, action, reason) for i in
                                           range(len(batch))), stats)


# -- values that fit the schema but carry nothing --------------------------------------


@register("schema_values")
@dataclass(frozen=True)
class SchemaValuesGate(Gate):
    """Constant or blank images, out-of-range table values, texts too short to mean much."""

    # Pixel standard deviation under 2% of the value range: a blank frame with sensor
    # or JPEG noise (a drawn digit has about 35%). Flagged; a constant image is rejected.
    blank_std: float = 0.02
    # One value covering 98% of the pixels or more: a blank frame with a speck.
    blank_dominant: float = 0.98
    # A table value is out of range beyond [q, 1-q] quantiles of the existing records
    # widened by `range_spread` times their distance: for normal data q=1% and one
    # spread is +-7 sigma (false alarms ~1e-12); a units slip (x100) lands far outside.
    range_quantile: float = 0.01
    range_spread: float = 1.0
    # Fewer existing records than this: too few to learn a range, so no range check.
    range_min_existing: int = 30
    # A text needs 8 letters, 4 of them distinct ("ok", "lol", "????", "aaaaaaaa" are flagged).
    min_text_letters: int = 8
    min_text_distinct: int = 4

    def __post_init__(self) -> None:
        if not 0 <= self.range_quantile < 0.5 or self.range_spread < 0:
            raise GateError("range_quantile must be in [0, 0.5) and range_spread ≥ 0")

    def check(self, batch: Records, ctx: GateContext) -> GateResult:
        if ctx.schema.kind == "image":
            return self._images(batch, ctx)
        if ctx.schema.kind == "tabular":
            return self._table(batch, ctx)
        return self._texts(batch)

    def _images(self, batch: Records, ctx: GateContext) -> GateResult:
        x = batch.x
        assert x is not None
        if ctx.schema.value_range is not None:
            width = ctx.schema.value_range[1] - ctx.schema.value_range[0]
        else:
            seen = ctx.candidates(batch).x
            assert seen is not None
            width = max(float(seen.max() - seen.min()), 1.0)
        std = x.std(axis=1) / width
        dominant = np.array([np.unique(row, return_counts=True)[1].max() for row in x]) / \
            x.shape[1]
        findings = []
        for i in range(len(batch)):
            if x[i].min() == x[i].max():
                findings.append(Finding(i, "reject", f"constant image: every pixel is "
                                        f"{x[i, 0]:g}; send the real image", float(std[i])))
            elif std[i] < self.blank_std or dominant[i] >= self.blank_dominant:
                findings.append(Finding(i, "flag", f"nearly blank image (pixel spread "
                                        f"{std[i]:.1%} of the range, {dominant[i]:.0%} of "
                                        "pixels one value); check the capture", float(std[i])))
        kinds = Counter("constant" if f.action == "reject" else "blank" for f in findings)
        return GateResult(self.name, tuple(findings), {"constant": kinds["constant"],
                                                       "blank": kinds["blank"]})

    def _table(self, batch: Records, ctx: GateContext) -> GateResult:
        names = ctx.schema.numeric_columns
        existing = ctx.existing
        if existing is None or existing.x is None or len(existing) < self.range_min_existing \
                or not names:
            return GateResult(self.name, (), {"out_of_range": 0, "skipped":
                                              f"fewer than {self.range_min_existing} "
                                              "existing records to learn ranges from"})
        low = np.quantile(existing.x, self.range_quantile, axis=0)
        high = np.quantile(existing.x, 1 - self.range_quantile, axis=0)
        flat = high == low  # a column mostly one value: fall back to its full range
        low[flat], high[flat] = existing.x.min(axis=0)[flat], existing.x.max(axis=0)[flat]
        spread = high - low
        lo, hi = low - self.range_spread * spread, high + self.range_spread * spread
        x = batch.x
        assert x is not None
        # Distance outside the range in spreads; a column constant in the dataset has
        # no spread, so there it is in the column's own unit (finite: reports are JSON).
        far = (np.maximum(lo - x, 0) + np.maximum(x - hi, 0)) / np.where(spread > 0, spread, 1)
        findings = []
        for i in np.flatnonzero((far > 0).any(axis=1)).tolist():
            cols = np.flatnonzero(far[i] > 0)[:3].tolist()
            where = ", ".join(f"{names[j]!r} = {x[i, j]:g} (range {lo[j]:g}..{hi[j]:g})"
                              for j in cols)
            findings.append(Finding(i, "flag", f"values outside what the dataset holds: "
                                    f"{where}; check the units and the value",
                                    float(far[i].max())))
        return GateResult(self.name, tuple(findings), {
            "out_of_range": len(findings), "existing": len(existing),
            "ranges": {n: [float(a), float(b)] for n, a, b in zip(names, lo, hi, strict=True)}})

    def _texts(self, batch: Records) -> GateResult:
        assert batch.text is not None
        findings = []
        for i, text in enumerate(batch.text):
            letters = [ch.lower() for ch in text if ch.isalpha()]
            if len(letters) < self.min_text_letters or len(set(letters)) < \
                    self.min_text_distinct:
                findings.append(Finding(i, "flag", f"text too short to be meaningful "
                                        f"({len(letters)} letters, {len(set(letters))} "
                                        "distinct); write a full sentence", len(letters)))
        return GateResult(self.name, tuple(findings), {"short_text": len(findings)})


# -- personal data ----------------------------------------------------------------------

PII_LABELS = {
    "email": "e-mail address", "phone": "phone number", "ssn": "US social security number",
    "credit_card": "payment card number", "ipv4": "IPv4 address", "iban": "IBAN",
    "dob": "date of birth", "name": "person's name", "address": "postal address",
    "national_id": "national ID or passport number", "identifier": "record identifier",
}
CONTENT_KINDS = ("credit_card", "dob", "email", "iban", "ipv4", "phone", "ssn")


@dataclass(frozen=True)
class PiiMatch:
    """One piece of personal data in a text: its kind and ``text[start:end]``."""

    kind: str
    start: int
    end: int


_EMAIL = re.compile(r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@"
                    r"((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24})"
                    r"(?![\w-])")
# RFC 2606 / 6761 names that can never reach a person.
_RESERVED_DOMAIN = re.compile(r"(^|\.)(example\.(com|net|org)|example|test|invalid|localhost)$",
                              re.IGNORECASE)
_PHONE_INTL = re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?![\w-])")
_PHONE_US = re.compile(r"(?<![\w+-])(?:\+?1[ .-]?)?(?:\([2-9]\d\d\) ?|[2-9]\d\d[.-])"
                       r"[2-9]\d\d[ .-]\d{4}(?![\w-])")
_SSN = re.compile(r"(?<![\w-])(?!000|666|9\d\d)\d{3}-(?!00)\d\d-(?!0000)\d{4}(?![\w-])")
_CARD = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")
_IPV4 = re.compile(r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}"
                   r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?!\w|\.\w)")
_VERSION = re.compile(r"(version|release|build)\W{0,3}$", re.IGNORECASE)  # 1.2.3.4 is no host
_IBAN = re.compile(r"(?<![A-Za-z0-9])([A-Z]{2})(\d\d)((?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?)"
                   r"(?![A-Za-z0-9])")
_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
          r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
_DATE = (r"(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.](?:\d{4}|\d\d)|"
         rf"\d{{1,2}}(?:st|nd|rd|th)?(?: of)? {_MONTH}\.?,? \d{{4}}|"
         rf"{_MONTH}\.? \d{{1,2}}(?:st|nd|rd|th)?,? \d{{4}})")
_DOB = re.compile(rf"\b(?:born|birth|birthday|birthdate|date of birth|dob|d\.o\.b\.?)\b"
                  rf"[^.!?\n]{{0,25}}?\b({_DATE})(?!\d)", re.IGNORECASE)
# IBAN length by country (ISO 13616 registry), for the common ones.
_IBAN_LENGTH = dict(
    AD=24, AE=23, AL=28, AT=20, AZ=28, BA=20, BE=16, BG=22, BH=22, BR=29, CH=21, CR=22, CY=28,
    CZ=24, DE=22, DK=18, DO=28, EE=20, EG=29, ES=24, FI=18, FO=18, FR=27, GB=22, GE=22, GI=23,
    GL=18, GR=27, GT=28, HR=21, HU=28, IE=22, IL=23, IQ=23, IS=26, IT=27, JO=30, KW=30, KZ=20,
    LB=28, LI=21, LT=20, LU=20, LV=21, MC=27, MD=24, ME=22, MK=19, MR=27, MT=31, MU=30, NL=18,
    NO=15, PK=24, PL=28, PS=29, PT=25, QA=29, RO=24, RS=22, SA=24, SE=24, SI=19, SK=24, SM=27,
    TN=24, TR=26, UA=29, VG=24, XK=20)


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _card_network(digits: str) -> bool:
    """A number issuers hand out (Visa, Mastercard, Amex, Discover, JCB, Diners,
    UnionPay) at a length they use: with Luhn, random digits pass about 1 in 300."""
    n, two, four = len(digits), int(digits[:2]), int(digits[:4])
    return ((digits[0] == "4" and n in (13, 16, 19)) or (51 <= two <= 55 and n == 16)
            or (2221 <= four <= 2720 and n == 16) or (two in (34, 37) and n == 15)
            or ((four == 6011 or two == 65 or 644 <= int(digits[:3]) <= 649) and 16 <= n <= 19)
            or (3528 <= four <= 3589 and 16 <= n <= 19)
            or ((two in (36, 38, 39) or 300 <= int(digits[:3]) <= 305) and 14 <= n <= 19)
            or (two == 62 and 16 <= n <= 19))


def _iban_ok(text: str) -> bool:
    compact = text.replace(" ", "")
    if _IBAN_LENGTH.get(compact[:2]) != len(compact):
        return False
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


def _routable(text: str) -> bool:
    try:
        return ipaddress.IPv4Address(text).is_global
    except ValueError:  # leading zeros: not how an address is written
        return False


def find_pii(text: str, kinds: tuple[str, ...] = CONTENT_KINDS) -> list[PiiMatch]:
    """The personal data in ``text`` (see the module docstring), in order of position.

    Card numbers must pass the Luhn check and match an issuer's prefix and length;
    IBANs their country's length and the mod-97 check; IPv4 addresses must be
    globally routable (not private, loopback or documentation ranges); e-mail
    addresses at reserved domains (example.com, .test) are not counted.
    """
    found: list[PiiMatch] = []
    if "email" in kinds and "@" in text:
        found += [PiiMatch("email", m.start(), m.end()) for m in _EMAIL.finditer(text)
                  if not _RESERVED_DOMAIN.search(m.group(1))]
    if "ssn" in kinds:
        found += [PiiMatch("ssn", m.start(), m.end()) for m in _SSN.finditer(text)]
    if "credit_card" in kinds:
        for m in _CARD.finditer(text):
            digits, seps = re.sub(r"\D", "", m.group()), set(re.sub(r"\d", "", m.group()))
            if len(seps) <= 1 and 13 <= len(digits) <= 19 and _card_network(digits) and \
                    _luhn(digits):
                found.append(PiiMatch("credit_card", m.start(), m.end()))
    if "iban" in kinds:
        found += [PiiMatch("iban", m.start(), m.end()) for m in _IBAN.finditer(text)
                  if _iban_ok(m.group())]
    if "ipv4" in kinds and "." in text:
        found += [PiiMatch("ipv4", m.start(), m.end()) for m in _IPV4.finditer(text)
                  if _routable(m.group()) and not _VERSION.search(text[:m.start()])]
    if "dob" in kinds:
        found += [PiiMatch("dob", m.start(1), m.end(1)) for m in _DOB.finditer(text)]
    if "phone" in kinds:
        taken = [(p.start, p.end) for p in found]
        for pattern in (_PHONE_INTL, _PHONE_US):
            for m in pattern.finditer(text):
                count = sum(ch.isdigit() for ch in m.group())
                inside = any(s <= m.start() < e or m.start() <= s < m.end() for s, e in taken)
                if 10 <= count <= 15 and not inside:  # E.164: at most 15 digits
                    found.append(PiiMatch("phone", m.start(), m.end()))
                    taken.append((m.start(), m.end()))
    return sorted(found, key=lambda p: (p.start, p.kind))


def _tokens(column: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", column)
    return [t for t in re.split(r"[^0-9a-z]+", spaced.lower()) if t]


_PERSON = {"first", "last", "full", "given", "family", "middle", "maiden", "sur", "fore",
           "patient", "customer", "client", "person", "employee", "user", "contact", "owner",
           "holder", "mother", "father", "member", "student", "sender", "recipient"}
_QUASI = {"age", "zip", "zipcode", "postcode", "postal", "gender", "sex", "city", "county",
          "ethnicity", "race", "occupation", "nationality", "marital"}


def _column_kind(column: str) -> str | None:
    """The kind of personal data a column's name says it holds, or None."""
    t = _tokens(column)
    joined = "_".join(t)
    glued = joined.replace("_", "")
    if not t:
        return None
    if "email" in glued or glued in ("mail", "mailaddress"):
        return "email"
    if ("ip" in t and (len(t) == 1 or t[-1] == "ip" or {"address", "addr"} & set(t))) or \
            glued in ("ipaddress", "ipv4", "remoteaddr"):
        return "ipv4"
    if {"phone", "telephone", "tel", "mobile", "cellphone", "fax"} & set(t) or \
            glued.endswith("phonenumber"):
        return "phone"
    if "ssn" in t or "socialsecurity" in glued:
        return "ssn"
    if {"passport", "nino"} & set(t) or any(w in glued for w in (
            "nationalid", "nationalinsurance", "taxid", "driverlicen", "driverslicen")):
        return "national_id"
    if "iban" in t or glued in ("accountnumber", "bankaccount", "bankaccountnumber"):
        return "iban"
    if "creditcard" in glued or glued in ("cardnumber", "ccnumber", "pan"):
        return "credit_card"
    if glued in ("dob", "birthdate", "dateofbirth", "birthday", "born") or (
            "birth" in t and {"date", "day"} & set(t)):
        return "dob"
    if {"address", "street", "addr"} & set(t):
        return "address"
    if glued in ("name", "surname", "forename", "firstname", "lastname", "fullname",
                 "username") or (t[-1] in ("name", "names") and len(t) >= 2 and
                                 t[-2] in _PERSON):
        return "name"
    return None


def quasi_identifier_columns(schema: Schema) -> list[str]:
    """Columns whose names say they are quasi-identifiers (age, ZIP, gender, ...):
    not personal alone, identifying together; :mod:`plexnet.data.privacy` generalises them."""
    return [c.name for c in schema.columns if _column_kind(c.name) is None and
            (set(_tokens(c.name)) & _QUASI or "zip" in "".join(_tokens(c.name)))]


def _identifier_columns(schema: Schema, x: np.ndarray | None, min_digits: int,
                        min_records: int) -> list[str]:
    """Numeric columns of all-distinct whole numbers of ``min_digits`` digits or more."""
    if x is None or len(x) < min_records:
        return []
    out = []
    for j, name in enumerate(schema.numeric_columns):
        v = x[:, j]
        if np.all(v == np.round(v)) and np.all(np.abs(v) >= 10 ** (min_digits - 1)) and \
                len(np.unique(v)) == len(v):
            out.append(name)
    return out


def personal_columns(schema: Schema, records: Records, *, kinds: tuple[str, ...] = CONTENT_KINDS,
                     id_min_digits: int = 7, id_min_records: int = 20) -> dict[str, str]:
    """Columns holding direct identifiers, ``{column: kind}``: named for personal data,
    a string column with personal data in any value, or a numeric identifier column."""
    out = {c.name: kind for c in schema.columns if (kind := _column_kind(c.name))}
    for name, values in records.strings.items():
        if name not in out:
            hit = next((m.kind for v in values for m in find_pii(v, kinds)), None)
            if hit:
                out[name] = hit
    for name in _identifier_columns(schema, records.x, id_min_digits, id_min_records):
        out.setdefault(name, "identifier")
    return out


@register("pii")
@dataclass(frozen=True)
class PiiGate(Gate):
    """Personal data in text, in string columns, and in what columns are called."""

    # Records holding a direct identifier are rejected: personal data cannot be
    # published on an open network without the person's consent; de-identify first.
    action: Action = "reject"
    # Which detectors run (see CONTENT_KINDS); drop one for a dataset that is about it.
    detect: tuple[str, ...] = CONTENT_KINDS
    # Whether column names like "email" or "last_name" count as personal data.
    column_names: bool = True
    # All-distinct whole numbers of 7+ digits over 20+ records look like patient or
    # account numbers, but so do timestamps and populations: flag, do not reject.
    id_action: Action = "flag"
    id_min_digits: int = 7
    id_min_records: int = 20

    def __post_init__(self) -> None:
        object.__setattr__(self, "detect", tuple(self.detect))
        unknown = set(self.detect) - set(CONTENT_KINDS)
        if unknown:
            raise GateError(f"pii: unknown detectors {sorted(unknown)}; choose from "
                            f"{', '.join(CONTENT_KINDS)}")

    def check(self, batch: Records, ctx: GateContext) -> GateResult:
        schema, n = ctx.schema, len(batch)
        hits: list[dict[str, set[str]]] = [{} for _ in range(n)]  # record → kind → places
        counts: Counter[str] = Counter()
        named = {c.name: k for c in schema.columns if self.column_names and
                 (k := _column_kind(c.name))}
        ids = [c for c in _identifier_columns(schema, ctx.candidates(batch).x,
                                              self.id_min_digits, self.id_min_records)
               if c not in named]
        texts = {f"column {k!r}": v for k, v in batch.strings.items()}
        if batch.text is not None:
            texts["the text"] = batch.text
        for place, values in texts.items():
            for i, value in enumerate(values):
                for match in find_pii(value, self.detect):
                    hits[i].setdefault(match.kind, set()).add(place)
                    counts[match.kind] += 1
        for name, kind in named.items():
            cells = batch.strings.get(name)
            for i in range(n):
                if cells is None or cells[i].strip():  # a blank cell discloses nothing
                    hits[i].setdefault(kind, set()).add(f"column {name!r} (by its name)")
                    counts[kind] += 1
        findings = []
        for i, found in enumerate(hits):
            parts = [f"{PII_LABELS[k]} in {', '.join(sorted(p))}" for k, p in sorted(found.items())]
            if ids:
                parts.append(f"{PII_LABELS['identifier']} in column(s) {', '.join(ids)}")
            if not parts:
                continue
            action = self.action if found else self.id_action
            findings.append(Finding(i, action, "personal data: " + "; ".join(parts) +
                                    "; remove it, or de-identify the table first "
                                    "(plexnet.data.privacy.deidentify)",
                                    float(sum(len(p) for p in found.values()))))
        counts.update({"identifier": n * len(ids)} if ids else {})
        return GateResult(self.name, tuple(findings), {
            "by_kind": dict(sorted(counts.items())),
            "columns": dict(sorted(named.items())) | dict.fromkeys(ids, "identifier"),
            "quasi_identifiers": quasi_identifier_columns(schema),
            "reject": sum(f.action == "reject" for f in findings),
            "flag": sum(f.action == "flag" for f in findings)})
