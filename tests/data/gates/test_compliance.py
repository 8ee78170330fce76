"""Compliance gates: licence compatibility, values that carry nothing, personal data."""

from __future__ import annotations

import importlib
import inspect

import numpy as np
import pytest

from plexnet.data import Column, Records, Schema
from plexnet.data.errors import GateError
from plexnet.data.gates import GateContext, gate, registered
from plexnet.data.gates.compliance import (
    LICENCES,
    PiiGate,
    accepted_licences,
    compatible,
    find_pii,
    personal_columns,
    quasi_identifier_columns,
)
from plexnet.data.ingest import load_sklearn

TEXT = Schema(kind="text", labels=["a", "b"])


def _texts(texts):
    return Records.make([0] * len(texts), text=texts)


def test_gates_are_registered():
    assert {"licence", "pii", "schema_values"} <= set(registered())
    assert gate("pii", id_min_digits=9).id_min_digits == 9
    with pytest.raises(GateError, match="unknown detectors"):
        gate("pii", detect=("email", "face"))


# -- licence --------------------------------------------------------------------------


@pytest.mark.parametrize(("batch", "dataset", "ok"), [
    ("CC0-1.0", "CC-BY-4.0", True),
    ("PDDL-1.0", "ODbL-1.0", True),
    ("CC-BY-4.0", "CC-BY-4.0", True),
    ("cc-by-4.0", "CC-BY-SA-4.0", True),  # SPDX ids match case-insensitively
    ("CC-BY-4.0", "CC-BY-NC-4.0", True),
    ("MIT", "CC-BY-4.0", True),
    ("Apache-2.0", "CC-BY-SA-4.0", True),
    ("CC-BY-NC-4.0", "CC-BY-4.0", False),
    ("CC-BY-NC-4.0", "CC-BY-NC-SA-4.0", True),
    ("CC-BY-SA-4.0", "CC-BY-4.0", False),
    ("CC-BY-SA-4.0", "CC-BY-NC-SA-4.0", False),
    ("CC-BY-SA-3.0", "CC-BY-SA-4.0", True),
    ("CC-BY-4.0", "CC0-1.0", False),
    ("CC-BY-4.0", "ODbL-1.0", False),
    ("ODbL-1.0", "CC-BY-SA-4.0", False),
    ("CC-BY-ND-4.0", "CC-BY-4.0", False),
    ("proprietary", "CC-BY-4.0", False),
    ("LicenseRef-acme", "CC-BY-4.0", False),
    ("CC-BY-NC-4.0 OR MIT", "CC-BY-4.0", True),
    ("MIT AND CC-BY-NC-4.0", "CC-BY-4.0", False),
    ("(MIT AND CC0-1.0)", "CC-BY-4.0", True),
    ("MIT", "proprietary", False),
    ("MIT", None, False),
    (None, "MIT", False),
])
def test_compatibility_table(batch, dataset, ok):
    assert compatible(batch, dataset)[0] is ok


def test_every_listed_licence_enters_a_dataset_under_itself_unless_it_forbids_derivatives():
    for spdx, lic in LICENCES.items():
        assert compatible(spdx, spdx)[0]
        assert (spdx in accepted_licences("CC-BY-SA-4.0")) is (
            not lic.non_commercial and not lic.no_derivatives and (
                not lic.share_alike or "CC-BY-SA-4.0" in lic.share_alike))


def test_nc_batch_into_cc_by_dataset_is_rejected_with_what_would_do():
    batch = _texts(["one record here", "another record here", "and a third"])
    ctx = GateContext(schema=TEXT, batch_license="CC-BY-NC-4.0", dataset_license="CC-BY-4.0")
    result = gate("licence").check(batch, ctx)
    assert result.indices("reject") == {0, 1, 2}
    reason = result.findings[0].reason
    assert "non-commercial" in reason and "CC0-1.0" in reason and "CC-BY-4.0" in reason
    assert "CC-BY-NC-4.0," not in reason.split("one of")[1]  # not offered as a fix
    assert result.stats["compatible"] is False
    ok = gate("licence").check(batch, GateContext(schema=TEXT, batch_license="CC-BY-4.0",
                                                  dataset_license="CC-BY-SA-4.0"))
    assert ok.findings == () and ok.stats["compatible"] is True


def test_unknown_licences_are_rejected_or_flagged_as_told():
    batch = _texts(["one record here", "another one"])
    for lic in (None, "proprietary", "LicenseRef-x OR Foo AND MIT"):
        ctx = GateContext(schema=TEXT, batch_license=lic, dataset_license="CC-BY-4.0")
        assert gate("licence").check(batch, ctx).indices("reject") == {0, 1}
        assert gate("licence", unknown_action="flag").check(batch, ctx).indices("flag") == {0, 1}
    ctx = GateContext(schema=TEXT, batch_license="CC0-1.0", dataset_license=None)
    result = gate("licence").check(batch, ctx)
    assert result.indices("reject") == {0, 1} and "declares no licence" in result.findings[0].reason
    # A known but incompatible licence is always rejected, whatever unknown_action says.
    ctx = GateContext(schema=TEXT, batch_license="CC-BY-SA-4.0", dataset_license="CC-BY-4.0")
    assert gate("licence", unknown_action="flag").check(batch, ctx).indices("reject") == {0, 1}


# -- schema_values --------------------------------------------------------------------


def test_constant_and_blank_digits_are_found_and_real_digits_pass():
    schema, digits = load_sklearn("digits")
    real = gate("schema_values").check(digits, GateContext(schema=schema))
    assert real.findings == ()  # none of the 1797 real digits
    x = digits.x[:20].copy()
    x[3] = 0  # constant: rejected
    x[7] = 16  # constant: rejected
    x[11] = 0
    x[11, 27] = 16  # one speck on a blank frame: flagged
    x[15] = 5 + (np.arange(64) % 2) * 0.2  # a flat grey frame with noise: flagged
    batch = Records.make(digits.y[:20], x=x)
    result = gate("schema_values").check(batch, GateContext(schema=schema, existing=digits))
    assert result.indices("reject") == {3, 7} and result.indices("flag") == {11, 15}
    assert result.stats == {"constant": 2, "blank": 2}


def test_unit_slips_in_a_table_are_flagged_against_existing_ranges():
    schema, records = load_sklearn("breast_cancer")
    order = np.random.default_rng(0).permutation(len(records))
    existing, batch = records.subset(order[:400]), records.subset(order[400:])
    ctx = GateContext(schema=schema, existing=existing)
    natural = gate("schema_values").check(batch, ctx)
    assert len(natural.findings) <= 3  # of 169 real records: rare genuine extremes only
    x = batch.x.copy()
    slipped = [5, 17, 40, 41, 99, 120, 150, 160]
    x[slipped, schema.numeric_columns.index("mean_area")] *= 100  # a units slip
    result = gate("schema_values").check(Records.make(batch.y, x=x), ctx)
    assert set(slipped) <= result.indices("flag") and not result.indices("reject")
    assert "'mean_area'" in next(f for f in result.findings if f.index == 5).reason
    few = GateContext(schema=schema, existing=existing.subset(range(10)))
    assert gate("schema_values").check(batch, few).stats["skipped"]


def test_a_column_constant_in_the_dataset_flags_any_other_value():
    schema = Schema(kind="tabular", labels=["a"], columns=[Column(name="v"), Column(name="w")])
    rng = np.random.default_rng(1)
    existing = Records.make([0] * 100, x=np.c_[np.full(100, 3.0), rng.normal(size=100)])
    batch = Records.make([0, 0], x=[[3.0, 0.1], [4.0, 0.2]])
    result = gate("schema_values").check(batch, GateContext(schema=schema, existing=existing))
    assert result.indices() == {1} and result.findings[0].score == 1.0  # 4 - 3


def test_short_texts_are_flagged():
    batch = _texts(["ok", "lol!!", "aaaaaaaaaaaa", "12345678", "Great movie!",
                    "我很喜欢这部电影", "The service was slow but friendly."])
    result = gate("schema_values").check(batch, GateContext(schema=TEXT))
    assert result.indices("flag") == {0, 1, 2, 3} and result.stats == {"short_text": 4}


# -- pii ------------------------------------------------------------------------------

PII = {
    "email": "Write to jane.roe@mailhost.net for the results.",
    "phone": "Her number is +44 20 7946 0958, call after six.",
    "phone_us": "Reach the clinic at (415) 555-2671 today.",
    "ssn": "His SSN 123-45-6789 was on the form.",
    "credit_card": "Paid with 4111-1111-1111-1111 yesterday.",
    "ipv4": "The request came from 8.8.4.4 at noon.",
    "iban": "Transfer to GB82 WEST 1234 5698 7654 32 please.",
    "dob": "The patient was born on 12 March 1961 in Leeds.",
}
CLEAN = [
    "Paid with 4111-1111-1111-1112 yesterday.",  # fails Luhn
    "Transfer to GB82 WEST 1234 5698 7654 33 please.",  # fails mod 97
    "The server listens on 127.0.0.1 and 192.168.0.10.",  # not global addresses
    "Mail user@example.com, a reserved domain.",
    "The meeting is on 12 March 1961 in Leeds.",  # a date, but no birth
    "Order 1234567890123 shipped in 2019.",
    "Use version 1.2.3.4 or later, and call f(x) + 1234 - 5678.",
    "The ratio 0.25 and ISO date 2021-03-04 are not personal.",
]


def test_each_kind_of_pii_in_text_is_found_and_the_look_alikes_are_not():
    texts = list(PII.values()) + CLEAN
    result = gate("pii").check(_texts(texts), GateContext(schema=TEXT))
    assert result.indices("reject") == set(range(len(PII)))
    assert result.stats["by_kind"] == {"credit_card": 1, "dob": 1, "email": 1, "iban": 1,
                                       "ipv4": 1, "phone": 2, "ssn": 1}
    for finding, (kind, text) in zip(result.findings, PII.items(), strict=True):
        assert "in the text" in finding.reason
        match = find_pii(text)
        assert [m.kind for m in match] == [kind.removesuffix("_us")]
        assert text[match[0].start:match[0].end] not in finding.reason  # never the value


def test_detectors_can_be_switched_off():
    result = PiiGate(detect=("email",)).check(_texts(list(PII.values())),
                                              GateContext(schema=TEXT))
    assert result.indices() == {0}


def _people(n=40, seed=0):
    rng = np.random.default_rng(seed)
    first = ["Ana", "Bo", "Chen", "Dara", "Eli", "Femi", "Gus", "Hana"]
    schema = Schema(kind="tabular", labels=["flu", "healthy"], columns=[
        Column(name="PatientName", type="string"), Column(name="contact", type="string"),
        Column(name="age"), Column(name="zip", type="string"), Column(name="notes",
                                                                      type="string"),
        Column(name="record_no")])
    names = [f"{first[i % 8]} Smith{i}" for i in range(n)]
    contact = [f"{nm.split()[0].lower()}{i}@mailhost.org" for i, nm in enumerate(names)]
    notes = ["no complaints"] * n
    notes[5] = "call back on (212) 555-0199"
    x = np.c_[rng.integers(18, 90, n), rng.choice(np.arange(10_000_000, 99_999_999), n, False)]
    records = Records.make(rng.integers(0, 2, n), x=x, strings={
        "PatientName": names, "contact": contact, "zip": [f"0213{i % 3}" for i in range(n)],
        "notes": notes})
    return schema, records


def test_personal_columns_by_name_content_and_identifier_shape():
    schema, records = _people()
    assert personal_columns(schema, records) == {
        "PatientName": "name", "contact": "email", "notes": "phone", "record_no": "identifier"}
    assert quasi_identifier_columns(schema) == ["age", "zip"]


def test_a_people_table_is_rejected_naming_kinds_and_columns_not_values():
    schema, records = _people()
    result = gate("pii").check(records, GateContext(schema=schema))
    assert result.indices("reject") == set(range(40))
    reason = next(f.reason for f in result.findings if f.index == 5)
    assert "person's name in column 'PatientName' (by its name)" in reason
    assert "e-mail address in column 'contact'" in reason
    assert "phone number in column 'notes'" in reason
    assert "record identifier in column(s) record_no" in reason
    assert "Smith" not in reason and "@" not in reason and "555" not in reason
    assert result.stats["by_kind"]["email"] == 40 and result.stats["by_kind"]["name"] == 40
    assert result.stats["columns"] == {"PatientName": "name", "record_no": "identifier"}


def test_identifier_columns_alone_are_flagged_not_rejected():
    schema = Schema(kind="tabular", labels=["a"], columns=[Column(name="v"),
                                                           Column(name="ref")])
    rng = np.random.default_rng(2)
    x = np.c_[rng.normal(size=30), rng.choice(np.arange(1_000_000, 9_999_999), 30, False)]
    result = gate("pii").check(Records.make([0] * 30, x=x), GateContext(schema=schema))
    assert result.indices("flag") == set(range(30)) and not result.indices("reject")
    x[:, 1] = np.arange(30)  # small record numbers: not identifiers of people
    assert gate("pii").check(Records.make([0] * 30, x=x), GateContext(schema=schema)).findings \
        == ()


@pytest.mark.parametrize(("column", "kind"), [
    ("email", "email"), ("E-Mail", "email"), ("phone_number", "phone"), ("mobile", "phone"),
    ("SSN", "ssn"), ("date_of_birth", "dob"), ("DOB", "dob"), ("birthDate", "dob"),
    ("home_address", "address"), ("ip_address", "ipv4"), ("last_name", "name"),
    ("name", "name"), ("iban", "iban"), ("passport_no", "national_id"),
    ("file_name", None), ("species_name", None), ("zip", None), ("age", None),
    ("mean_radius", None), ("tip_amount", None), ("zip_code", None),
])
def test_column_names(column, kind):
    schema = Schema(kind="tabular", labels=["a"], columns=[Column(name=column)])
    assert personal_columns(schema, Records.make([0], x=[[1.0]])).get(column) == kind


def _stdlib_docstrings():
    docs = {}
    for name in ("os", "re", "json", "ipaddress", "email.utils", "urllib.parse", "socket",
                 "datetime", "collections", "string", "textwrap", "http.client", "smtplib",
                 "logging", "argparse", "pathlib", "subprocess", "csv", "decimal", "calendar"):
        module = importlib.import_module(name)
        for obj in (module, *vars(module).values()):
            members = vars(obj).values() if inspect.isclass(obj) else ()
            for item in (obj, *members):
                doc = inspect.getdoc(item) if callable(item) or inspect.ismodule(item) else None
                if doc:
                    docs[doc] = None
    return list(docs)


def test_ordinary_text_is_virtually_never_flagged():
    docs = [d[:10_000] for d in _stdlib_docstrings()]
    assert len(docs) > 1000
    result = gate("pii").check(_texts(docs), GateContext(schema=Schema(kind="text",
                                                                      labels=["a", "b"])))
    # What is found are real addresses in the docs (an author's e-mail, example IPs).
    assert len(result.findings) <= 0.01 * len(docs), result.stats
