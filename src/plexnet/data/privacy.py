"""De-identification of tabular personal data, before it is contributed.

:func:`deidentify` makes a table safer to publish in three steps:

1. **drop** the columns that identify a person directly (names, e-mail addresses,
   phone numbers, ...; by default those the ``pii`` gate names, see
   :func:`plexnet.data.gates.compliance.personal_columns`);
2. **generalise** quasi-identifiers, which identify people in combination (87% of
   Americans are unique by ZIP code, birth date and sex): ages into bands
   (:class:`Band`), ZIP or postcodes to a prefix (:class:`Prefix`), dates to their
   year (:class:`Year`);
3. **suppress** every record whose combination of quasi-identifiers occurs fewer
   than ``k`` times, so each remaining record hides among at least ``k`` (k-anonymity).

The :class:`Report` says what was dropped, generalised and suppressed, the k
achieved, and the l-diversity (fewest distinct labels in any group: k-anonymity
alone does not stop a group whose members share one diagnosis from disclosing it).
Kept records keep their contributor and provenance; the new dataset version records
the step with :meth:`Report.derivation`. :func:`redact_text` masks personal data in text.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from plexnet.data.errors import SchemaError
from plexnet.data.gates.compliance import (
    CONTENT_KINDS,
    find_pii,
    personal_columns,
    quasi_identifier_columns,
)
from plexnet.data.records import Records
from plexnet.data.schema import Schema, validate

if TYPE_CHECKING:
    from plexnet.data.dataset import Derivation

__all__ = ["Band", "Prefix", "Report", "Year", "deidentify", "parse_rule", "redact_text"]


@dataclass(frozen=True)
class Band:
    """Numbers into bands ``width`` wide, each named by its lower bound (34 → 30 for
    ``width=10``); values at or above ``top`` become ``top`` (HIPAA tops ages at 90)."""

    width: float
    top: float | None = None

    def describe(self) -> str:
        top = "" if self.top is None else f", {self.top:g} and above as {self.top:g}"
        return f"bands of {self.width:g} (lower bound){top}"

    def number(self, v: float) -> float:
        if self.top is not None and v >= self.top:
            return self.top
        return math.floor(v / self.width) * self.width

    def text(self, v: float) -> str:
        low = self.number(v)
        if self.top is not None and low >= self.top:
            return f"{self.top:g}+"
        return f"{low:g}-{low + self.width - (1 if self.width == int(self.width) else 0):g}"


@dataclass(frozen=True)
class Prefix:
    """Strings cut to their first ``keep`` characters, the rest masked with ``*``
    (ZIP 02139 → 021**: the 3-digit ZIP HIPAA's safe harbour allows)."""

    keep: int = 3

    def describe(self) -> str:
        return f"first {self.keep} characters kept"


@dataclass(frozen=True)
class Year:
    """Dates (any common format with a four-digit year) cut to the year."""

    def describe(self) -> str:
        return "year only"


Rule = Band | Prefix | Year
_YEAR = re.compile(r"(?<!\d)(1[89]\d\d|20\d\d)(?!\d)")


def parse_rule(rule: str | Rule) -> Rule:
    """A rule from text: ``band:10``, ``band:10:90`` (top 90), ``prefix:3``, ``year``.

    Raises:
        SchemaError: for text that names no rule.
    """
    if isinstance(rule, Band | Prefix | Year):
        return rule
    parts = str(rule).strip().lower().split(":")
    try:
        if parts[0] == "band" and len(parts) in (2, 3) and float(parts[1]) > 0:
            return Band(float(parts[1]), float(parts[2]) if len(parts) == 3 else None)
        if parts[0] == "prefix" and len(parts) == 2 and int(parts[1]) >= 0:
            return Prefix(int(parts[1]))
    except ValueError:
        pass
    if parts == ["year"]:
        return Year()
    raise SchemaError(f"unknown generalisation rule {rule!r}; write band:WIDTH[:TOP], "
                      "prefix:N or year")


@dataclass(frozen=True)
class Report:
    """What :func:`deidentify` did; ``suppressed`` are indices into its input."""

    k: int
    achieved_k: int
    l_diversity: int
    kept: int
    dropped: dict[str, str]
    generalized: dict[str, str]
    quasi_identifiers: tuple[str, ...]
    suppressed: tuple[int, ...]

    def as_json(self) -> dict[str, Any]:
        return {"k": self.k, "achieved_k": self.achieved_k, "l_diversity": self.l_diversity,
                "kept": self.kept, "dropped": self.dropped, "generalized": self.generalized,
                "quasi_identifiers": list(self.quasi_identifiers),
                "suppressed": len(self.suppressed)}

    def derivation(self) -> Derivation:
        """The ``deidentify`` derivation a dataset version made this way records."""
        from plexnet.data.dataset import Derivation

        return Derivation(op="deidentify", params=self.as_json())


def _generalise_strings(name: str, values: Sequence[str], rule: Rule) -> tuple[str, ...]:
    out = []
    for i, value in enumerate(values):
        if not value.strip():
            out.append(value)  # a blank stays blank: nothing to disclose
        elif isinstance(rule, Prefix):
            out.append(value[:rule.keep] + "*" * max(len(value) - rule.keep, 0))
        elif isinstance(rule, Year):
            year = _YEAR.search(value)
            if year is None:
                raise SchemaError(f"record {i}: column {name!r} holds no four-digit year")
            out.append(year.group(1))
        else:
            try:
                out.append(rule.text(float(value)))
            except ValueError:
                raise SchemaError(f"record {i}: column {name!r} is not a number, so it "
                                  "cannot be banded") from None
    return tuple(out)


def deidentify(records: Records, schema: Schema, *, drop: Sequence[str] | None = None,
               generalize: Mapping[str, str | Rule] | None = None, k: int = 5,
               quasi: Sequence[str] | None = None) -> tuple[Schema, Records, Report]:
    """De-identify a table (see the module docstring); changes nothing in place.

    Args:
        records: the table's records.
        schema: its (tabular) schema.
        drop: columns to remove; default the direct identifiers the ``pii`` gate names.
        generalize: ``{column: rule}`` (a :class:`Band`, :class:`Prefix`,
            :class:`Year`, or their text form, see :func:`parse_rule`).
        k: the least number of records that must share a combination of
            quasi-identifiers; rarer records are suppressed.
        quasi: the quasi-identifier columns, exactly; default the generalised
            columns plus those named like one (age, zip, gender, ...).

    Returns:
        The new schema, the kept records and the :class:`Report`.

    Raises:
        SchemaError: for a non-tabular schema, an unknown column, a rule that does not
            fit its column, ``k < 1``, or a ``k`` that leaves no record.
    """
    if schema.kind != "tabular":
        raise SchemaError("de-identification works on tables; for text use redact_text")
    if k < 1:
        raise SchemaError(f"k must be at least 1, not {k}")
    names = [c.name for c in schema.columns]
    personal = personal_columns(schema, records)
    drops = list(personal) if drop is None else list(drop)
    rules = {col: parse_rule(rule) for col, rule in (generalize or {}).items()}
    for col in [*drops, *rules, *(quasi or [])]:
        if col not in names:
            raise SchemaError(f"no column {col!r}; the table has {', '.join(names)}")
    if set(drops) & set(rules):
        raise SchemaError(f"columns {sorted(set(drops) & set(rules))} are both dropped and "
                          "generalised; choose one")
    kept_cols = [c for c in schema.columns if c.name not in drops]
    if not kept_cols:
        raise SchemaError("dropping those columns leaves no feature to publish")
    numeric = {c: j for j, c in enumerate(schema.numeric_columns)}
    assert records.x is not None
    x = records.x.copy()
    strings = dict(records.strings)
    for col, rule in rules.items():
        if col in numeric:
            if not isinstance(rule, Band):
                raise SchemaError(f"column {col!r} is numeric: band it; prefix and year apply "
                                  "to string columns (ingest codes with kinds={col: 'string'})")
            x[:, numeric[col]] = [rule.number(v) for v in x[:, numeric[col]].tolist()]
        else:
            strings[col] = _generalise_strings(col, strings[col], rule)
    wanted = [*rules, *quasi_identifier_columns(schema)] if quasi is None else quasi
    qi = [c for c in dict.fromkeys(wanted) if c not in drops]

    def key(i: int) -> tuple[Any, ...]:
        return tuple(float(x[i, numeric[c]]) if c in numeric else strings[c][i] for c in qi)

    keys = [key(i) for i in range(len(records))]
    sizes = Counter(keys)
    keep = np.array([sizes[kk] >= k for kk in keys], dtype=bool)
    if not keep.any():
        raise SchemaError(f"no combination of {', '.join(qi)} occurs {k} times; generalise "
                          "more coarsely (wider bands, shorter prefixes) or lower k")
    labels: dict[tuple[Any, ...], set[int]] = {}
    for kk, label, ok in zip(keys, records.y.tolist(), keep.tolist(), strict=True):
        if ok:
            labels.setdefault(kk, set()).add(label)
    out_numeric = [numeric[c.name] for c in kept_cols if c.type == "number"]
    out = Records(y=records.y, x=x[:, out_numeric],
                  strings={c: v for c, v in strings.items() if c not in drops},
                  contributor=records.contributor, provenance=records.provenance,
                  annotations=records.annotations, annotators=records.annotators
                  ).subset(np.flatnonzero(keep))
    out_schema = Schema.model_validate(schema.model_dump() | {"columns": kept_cols})
    validate(out_schema, out)
    report = Report(
        k=k, achieved_k=min(sizes[kk] for kk in labels), l_diversity=min(map(len,
                                                                              labels.values())),
        kept=len(out), dropped={c: personal.get(c, "asked") for c in drops},
        generalized={c: r.describe() for c, r in rules.items()}, quasi_identifiers=tuple(qi),
        suppressed=tuple(np.flatnonzero(~keep).tolist()))
    return out_schema, out, report


def redact_text(text: str, kinds: tuple[str, ...] = CONTENT_KINDS) -> str:
    """``text`` with each piece of personal data replaced by its kind (``[EMAIL]``)."""
    out, end = [], 0
    for match in find_pii(text, kinds):
        if match.start >= end:
            out += [text[end:match.start], f"[{match.kind.upper()}]"]
            end = match.end
    return "".join([*out, text[end:]])
