"""De-identification: drop direct identifiers, generalise quasi-identifiers, k-anonymity."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from plexnet.data import Column, Provenance, Records, Schema, SchemaError, validate
from plexnet.data.gates import GateContext, gate
from plexnet.data.privacy import Band, Prefix, Year, deidentify, parse_rule, redact_text

DID = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
SCHEMA = Schema(kind="tabular", labels=["asthma", "diabetes", "healthy"], columns=[
    Column(name="full_name", type="string"), Column(name="email", type="string"),
    Column(name="age"), Column(name="zip", type="string"), Column(name="visit", type="string"),
    Column(name="bmi")])
FIRST = ["Ana", "Bo", "Chen", "Dara", "Eli", "Femi", "Gus", "Hana", "Ivo", "Jun"]


def _people():
    """300 people in three ZIP areas, ages 20..79 evenly; then 3 people from a fourth
    area (too few to hide: suppressed at k=5) and one 97-year-old (alone in the 90+ band)."""
    rng = np.random.default_rng(7)
    ages = [20 + i % 60 for i in range(300)] + [34, 35, 36, 97]
    zips = [f"{p}{i % 100:02d}" for p in ("021", "100", "606") for i in range(100)]
    zips += ["99950", "99951", "99952", "02139"]
    n = len(ages)
    names = [f"{FIRST[i % 10]} Doe{i}" for i in range(n)]
    records = Records.make(
        rng.integers(0, 3, n), x=np.c_[ages, rng.normal(25, 4, n).round(1)],
        strings={"full_name": names, "email": [f"p{i}@mailhost.org" for i in range(n)],
                 "zip": zips, "visit": [f"{2000 + i % 20}-0{1 + i % 9}-1{i % 10}"
                                        for i in range(n)]},
        contributor=DID, provenance=Provenance(tag="device"))
    validate(SCHEMA, records)
    return records


def test_deidentify_drops_identifiers_generalises_and_suppresses_rare_records():
    records = _people()
    schema, out, report = deidentify(records, SCHEMA, generalize={
        "age": Band(10, top=90), "zip": Prefix(3), "visit": "year"}, k=5, quasi=["age", "zip"])
    assert [c.name for c in schema.columns] == ["age", "zip", "visit", "bmi"]
    assert report.dropped == {"full_name": "name", "email": "email"}
    assert report.suppressed == (300, 301, 302, 303)  # the known answer
    assert report.kept == len(out) == 300 and report.k == 5
    groups = Counter(zip(out.x[:, 0].tolist(), out.strings["zip"], strict=True))
    assert min(groups.values()) == report.achieved_k >= 5
    assert set(out.x[:, 0].tolist()) == {20, 30, 40, 50, 60, 70}
    assert set(out.strings["zip"]) == {"021**", "100**", "606**"}
    assert out.strings["visit"][:3] == ("2000", "2001", "2002")
    assert np.array_equal(out.x[:, 1], records.x[:300, 1])  # bmi untouched
    assert out.contributor == (DID,) * 300 and out.provenance == (Provenance(tag="device"),) * 300
    assert report.quasi_identifiers == ("age", "zip")
    assert 1 <= report.l_diversity <= 3
    assert report.derivation().op == "deidentify"
    assert report.as_json()["suppressed"] == 4
    # The de-identified table passes the pii gate: nothing personal is left.
    assert gate("pii").check(out, GateContext(schema=schema)).findings == ()
    # ... and the original does not.
    assert gate("pii").check(records, GateContext(schema=SCHEMA)).indices("reject") == set(
        range(len(records)))


def test_without_generalising_raw_quasi_identifiers_leave_nothing():
    with pytest.raises(SchemaError, match="generalise more coarsely"):
        deidentify(_people(), SCHEMA, k=5)  # raw age x ZIP: everyone is unique


def test_k_one_keeps_everyone_and_no_quasi_identifiers_means_one_group():
    records = _people()
    _, out, report = deidentify(records, SCHEMA, k=1)
    assert len(out) == len(records) and report.achieved_k == 1
    _, out, report = deidentify(records, SCHEMA, quasi=[], k=50)
    assert len(out) == len(records) and report.achieved_k == len(records)


def test_l_diversity_reports_a_group_that_shares_one_label():
    schema = Schema(kind="tabular", labels=["a", "b"], columns=[Column(name="age")])
    x = [[21], [22], [23], [31], [32], [33]]
    _, _, report = deidentify(Records.make([0, 0, 0, 0, 1, 0], x=x), schema,
                              generalize={"age": "band:10"}, k=3)
    assert report.achieved_k == 3 and report.l_diversity == 1  # everyone in their 20s has "a"


def test_explicit_drop_and_string_bands():
    schema = Schema(kind="tabular", labels=["a"], columns=[
        Column(name="age", type="string"), Column(name="v"), Column(name="city", type="string")])
    records = Records.make([0] * 4, x=[[1], [2], [3], [4]],
                           strings={"age": ["34", "38", "", "91"], "city": list("abcd")})
    out_schema, out, report = deidentify(records, schema, drop=["city"],
                                         generalize={"age": "band:10:90"}, k=1)
    assert out.strings["age"] == ("30-39", "30-39", "", "90+")
    assert [c.name for c in out_schema.columns] == ["age", "v"]
    assert report.dropped == {"city": "asked"}


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"drop": ["height"]}, "no column 'height'"),
    ({"generalize": {"full_name": "band:10"}}, "'full_name' is not a number"),
    ({"generalize": {"age": "prefix:2"}}, "'age' is numeric: band it"),
    ({"generalize": {"full_name": "year"}}, "holds no four-digit year"),
    ({"generalize": {"age": "round"}}, "unknown generalisation rule"),
    ({"drop": ["age"], "generalize": {"age": "band:5"}}, "both dropped and generalised"),
    ({"drop": ["full_name", "email", "age", "zip", "visit", "bmi"]}, "leaves no feature"),
    ({"k": 0}, "at least 1"),
])
def test_bad_requests_are_typed_errors(kwargs, match):
    with pytest.raises(SchemaError, match=match):
        deidentify(_people(), SCHEMA, **({"drop": []} | kwargs))


def test_only_tables_are_deidentified():
    text = Schema(kind="text", labels=["a"])
    with pytest.raises(SchemaError, match="redact_text"):
        deidentify(Records.make([0], text=["x"]), text)


def test_parse_rule():
    assert parse_rule("band:5") == Band(5.0)
    assert parse_rule("BAND:10:90") == Band(10.0, 90.0)
    assert parse_rule("prefix:2") == Prefix(2)
    assert parse_rule("year") == Year()
    assert parse_rule(Prefix(4)) == Prefix(4)
    for bad in ("band:-1", "band:x", "prefix", "month"):
        with pytest.raises(SchemaError):
            parse_rule(bad)


def test_redact_text():
    text = "Mail ana@mailhost.org or call +44 20 7946 0958; born 1990-04-01."
    assert redact_text(text) == "Mail [EMAIL] or call [PHONE]; born [DOB]."
    assert redact_text("nothing personal here") == "nothing personal here"
