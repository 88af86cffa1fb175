"""With fault_rate 0 nothing is wrong: no faults, valid NHS numbers (bar VCSE's designed gaps), and
the landing area, read naively (latest month wins), says exactly what the truth says."""

from __future__ import annotations

from collections import defaultdict

from carebridge.core.nhs_number import is_valid
from carebridge.core.reference import codes

PERSON_TABLES = {("gp", "patient"): "nhs_number", ("mhsds", "MHS001MPI"): "NHSNumber",
                 ("talking_therapies", "IDS001MPI"): "NHSNumber", ("vcse", "person"): "nhs_number"}


def latest(files) -> dict[tuple[str, str, str], dict[str, dict[str, str]]]:
    """(source, provider, table) -> local id -> the latest month's row (as a dict)."""
    out: dict[tuple, dict] = defaultdict(dict)
    for f in sorted(files, key=lambda f: (f.month, f.submission)):
        for row in f.rows:
            out[(f.source, f.provider, f.table)][row[0]] = dict(zip(f.columns, row))
    return out


def keys(records, tables: set[tuple[str, str]], where=lambda row: True) -> set[tuple[str, str, str, str]]:
    return {(s, p, t, key) for (s, p, t), rows in records.items() if (s, t) in tables
            for key, row in rows.items() if where(row)}


def truth_keys(rows) -> set[tuple[str, str, str, str]]:
    return {(r["source"], r["provider_ods"], r["table"], r["local_id"]) for r in rows}


def test_no_faults_are_written(clean, truth_table):
    assert clean.summary.faults == {}
    assert truth_table(clean.truth, "faults") == []


def test_nhs_numbers_are_valid_except_the_designed_vcse_gaps(clean, landed):
    records = latest(landed(clean.landing))
    for (source, table), column in PERSON_TABLES.items():
        numbers = [row[column] for (s, _, t), rows in records.items() if (s, t) == (source, table)
                   for row in rows.values()]
        present = [n for n in numbers if n]
        assert all(is_valid(n) for n in present)
        missing = 1 - len(present) / len(numbers)
        assert (0.3 < missing < 0.5) if source == "vcse" else missing == 0


def test_every_file_is_utf8_with_one_submission_and_no_duplicate_lines(clean, landed):
    for f in landed(clean.landing):
        assert f.encoding in ("utf-8", "parquet")
        assert len({tuple(row) for row in f.rows}) == len(f.rows)


def test_landing_records_are_exactly_the_truth_records(clean, landed, truth_table):
    records = latest(landed(clean.landing))
    truth = {name: truth_table(clean.truth, name)
             for name in ("records", "contacts", "scores", "care_plans", "referrals")}
    measure_codes = {c for m in ("PHQ9", "GAD7") for c in codes()["measures"][m]["snomed"]}
    plan_codes = {c for c, body in codes()["gp_snomed"].items() if body["kind"] == "care_plan"}
    assert truth_keys(truth["records"]) == keys(records, set(PERSON_TABLES))
    assert truth_keys(truth["contacts"]) == keys(
        records, {("gp", "appointment"), ("mhsds", "MHS201CareContact"), ("talking_therapies", "IDS201CareContact"),
                  ("vcse", "contact")})
    score_tables = {("mhsds", "MHS606CodedScoreAssessmentRefer"),
                    ("talking_therapies", "IDS606CodedScoreAssessmentRefer"), ("vcse", "wellbeing_score")}
    assert truth_keys(truth["scores"]) == keys(records, score_tables) | keys(
        records, {("gp", "coded_event")}, lambda r: r["snomed_code"] in measure_codes)
    assert truth_keys(truth["care_plans"]) == keys(records, {("mhsds", "MHS008CarePlanType"), ("vcse", "plan")}) | keys(
        records, {("gp", "coded_event")}, lambda r: r["snomed_code"] in plan_codes)
    held = [r for r in truth["referrals"] if r["status"] != "not_received"]
    assert truth_keys(held) == keys(records, {("mhsds", "MHS101Referral"), ("talking_therapies", "IDS101Referral"),
                                              ("vcse", "referral")})
    gp_referrals = keys(records, {("gp", "referral")})
    assert {("gp", r["gp_provider_ods"], "referral", r["gp_referral_id"]) for r in truth["referrals"]
            if r["gp_referral_id"]} == gp_referrals


def _landed_status(table: str, row: dict[str, str]) -> str:
    if table == "referral":
        return {"declined": "rejected", "closed": "closed", "accepted": "open"}[row["status"]]
    if row.get("ReferRejectionDate"):
        return "rejected"
    return "closed" if row["ServDischDate"] else "open"


def test_latest_referral_versions_carry_the_truth_status_and_dates(clean, landed, truth_table):
    records = latest(landed(clean.landing))
    for r in truth_table(clean.truth, "referrals"):
        if r["status"] == "not_received":
            continue
        row = records[(r["source"], r["provider_ods"], r["table"])][r["local_id"]]
        assert _landed_status(r["table"], row) == r["status"]
        assert row.get("ReferralRequestReceivedDate", row.get("referral_date")) == r["received_date"]


def test_scores_and_person_attributes_match_the_truth(clean, landed, truth_table):
    records = latest(landed(clean.landing))
    value_column = {"MHS606CodedScoreAssessmentRefer": "PersScore", "IDS606CodedScoreAssessmentRefer": "PersScore",
                    "wellbeing_score": "value", "coded_event": "value"}
    for s in truth_table(clean.truth, "scores"):
        row = records[(s["source"], s["provider_ods"], s["table"])][s["local_id"]]
        assert row[value_column[s["table"]]] == s["value"]
    persons = {p["person_id"]: p for p in truth_table(clean.truth, "persons")}
    for r in truth_table(clean.truth, "records"):
        row, person = records[(r["source"], r["provider_ods"], r["table"])][r["local_id"]], persons[r["person_id"]]
        assert row.get("PersonBirthDate", row.get("birth_date")) == person["birth_date"]
        assert row.get("NHSNumber", row.get("nhs_number")) in (person["nhs_number"], "")
        if r["source"] in ("gp", "vcse"):
            assert (row["given_name"], row["family_name"], row["postcode"]) == (
                person["given_name"], person["family_name"], person["postcode"])


DATED = {"appointment": "start", "coded_event": "event_date", "referral": "referral_date",
         "MHS201CareContact": "CareContDate", "MHS606CodedScoreAssessmentRefer": "AssToolCompTimestamp",
         "IDS201CareContact": "CareContDate", "IDS606CodedScoreAssessmentRefer": "AssToolCompTimestamp",
         "contact": "contact_date", "wellbeing_score": "recorded_date"}
KNOWN_LATER = ("ServDischDate", "ReferRejectionDate", "closed_date", "registration_end", "EndDateGMPRegistration",
               "CarePlanLastUpdateDate")


def test_records_are_sent_in_the_months_they_belong_to(clean, landed):
    for f in landed(clean.landing):
        if f.table in DATED and not (f.source == "vcse" and f.table == "referral"):
            assert all(dict(zip(f.columns, row))[DATED[f.table]][:7] == f.month for row in f.rows), f.path
        for column in set(KNOWN_LATER) & set(f.columns):  # not known before it happens
            assert all(dict(zip(f.columns, row))[column][:7] <= f.month for row in f.rows), (f.path, column)
        if f.table == "referral" and f.source == "vcse":
            assert all((row[f.columns.index("status")] == "accepted") == (row[f.columns.index("closed_date")] == "")
                       for row in f.rows)


def test_open_referrals_are_re_sent_every_month_until_they_close(clean, landed, truth_table):
    months = defaultdict(set)
    for f in landed(clean.landing):
        if f.table in ("MHS101Referral", "IDS101Referral") or (f.source, f.table) == ("vcse", "referral"):
            for row in f.rows:
                months[(f.source, f.provider, f.table, row[0])].add(f.month)
    last = clean.summary.months[-1]
    for r in truth_table(clean.truth, "referrals"):
        if r["status"] == "not_received":
            continue
        until = (r["discharge_date"] or r["rejected_date"] or last)[:7]
        sent = months[(r["source"], r["provider_ods"], r["table"], r["local_id"])]
        assert sent == {m for m in clean.summary.months if r["received_date"][:7] <= m <= until}
