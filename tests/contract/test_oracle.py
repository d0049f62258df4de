"""contracts.compat against Avro Java's SchemaCompatibility, the checker the registry runs, on generated schemas.

Hypothesis draws chains of three versions (tests/contract/schema_strategies.py). Java's parser and ours must find each
version valid alike or invalid alike. Java (tests/contract/oracle.py: one JVM for the session) judges each of the
three pairs (v1-v2, v2-v3, v1-v3) in both directions, and contracts.compat.check judges v2 after v1 and v3 after v1, v2
in every mode. Agreement, for each earlier version and direction a mode asks about:
- Java refuses: so do we, for registry reasons (never our stricter ones alone), and the reasons match: each of Java's
  incompatibilities is one of ours at its location (below it, for a union branch Java finds no match for: ours says
  why the branch of the same name does not match; where Java's checker memoized a pair its location is relative, or
  the first place it met the pair), and each of ours is of a kind Java gives (or explains a union branch it finds no
  match for); Java's exception on a field matching two writer fields is our AMBIGUOUS_FIELD_MATCH;
- Java accepts: so do we, or we refuse for documented stricter rules only (CONTRACT1xx), and the verdict says so.
A case where we accept what Java refuses fails, always. ORACLE_PROFILE=fast (the default) or deep
(`make contract-test DEEP=1`) sets how many chains; the run's numbers end pytest's report and go to
results/compat-oracle-<profile>.json. A sample of the chains goes to the live registry, in scratch subjects.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryError
from confluent_kafka.schema_registry.common._httpx_compat import httpx  # the client's HTTP library
from hypothesis import HealthCheck, assume, given, note, settings

from contracts import compat
from contracts.compat import MODES, NEW_READS_OLD, OLD_READS_NEW, STRICTER_KINDS, DefinedTwice, Reason, Verdict, check
from contracts.findings import RULES, rule_for
from contracts.registry import Registry, RegistryError, same_schema
from tests.contract.oracle import TALLY, Judgement, Oracle, OracleError, build
from tests.contract.schema_strategies import LOGICAL, chains


@dataclass(frozen=True)
class Profile:
    chains: int  # each gives three pairs
    registry: int  # chains also judged by the live registry
    timeout: int  # seconds for the whole property


PROFILES = {"fast": Profile(chains=1_100, registry=25, timeout=300), "deep": Profile(38_000, 250, 6 * 3600)}
PROFILE_NAME = os.environ.get("ORACLE_PROFILE", "fast")
PROFILE = PROFILES[PROFILE_NAME]
STRICTER_RULES = {rule.id for rule in RULES if rule.stricter_than_registry}  # the documented ones: CONTRACT1xx
TWICE = rule_for("TYPE_DEFINED_TWICE")  # a type defined twice with other aliases or defaults: refused, CONTRACT104
PAIRS = ((0, 1), (1, 2), (0, 2))  # (earlier, later) positions in a chain
JUDGED = [m for m in MODES if m != "NONE"]


@pytest.fixture(scope="module")
def oracle() -> Iterator[Oracle]:
    try:
        running = Oracle(build())
    except OracleError as error:  # Java or Maven missing is a failure to report, never a skip
        pytest.fail(str(error))
    TALLY.profile = PROFILE_NAME
    yield running
    running.close()


# ------------------------------------------------------------------------------------------- the property


def _directions(mode: str) -> tuple[str, ...]:
    return {"BACKWARD": (NEW_READS_OLD,), "FORWARD": (OLD_READS_NEW,)}.get(mode.removesuffix("_TRANSITIVE"),
                                                                          (NEW_READS_OLD, OLD_READS_NEW))


def _matches(reason: Reason, kind: str, at: str) -> bool:
    """Whether our reason is Java's incompatibility: the same kind at the same place, or below a union branch Java finds
    no match for (ours says why the branch of the same name or type does not match). Java's location is relative where
    its checker memoized the pair while trying a union's branches (its location starts again there): ours ends with it,
    or passes through it."""
    if reason.kind == kind and (reason.path == at or reason.path.endswith(at)):
        return True
    return kind == "MISSING_UNION_BRANCH" and (at == "/" or f"{at}/" in f"{reason.path}/")


def _agree(java: Judgement, ours: list[Reason], where: str) -> None:
    """One direction against one earlier version: the same answer, for the same reasons."""
    theirs = [r for r in ours if not r.stricter_than_registry]
    for reason in ours:
        if reason.stricter_than_registry:  # documented, and only where Java does not refuse for it
            rule = rule_for(reason.kind, reason.direction)
            assert reason.kind in STRICTER_KINDS and rule.id in STRICTER_RULES, (where, reason)
    if java.compatible:
        assert not theirs, f"{where}: we refuse, for a registry rule, what Java accepts: {theirs}"
        return
    assert theirs, (f"{where}: we accept what Java refuses ({java.types or java.thrown}): "
                    f"{'only our stricter reasons refuse it' if ours else 'no reason at all'}: {ours}")
    if java.thrown is not None:  # Java's checker threw: a reader field matching two writer fields
        assert any(r.kind == "AMBIGUOUS_FIELD_MATCH" for r in theirs), (where, java.thrown, theirs)
        return
    found = list(zip(java.types, java.locations, strict=True))
    missed = [(kind, at) for kind, at in found if not any(_matches(r, kind, at) for r in theirs)]
    # Java gives a memoized pair's reasons once, or again with the location they had the first time: each of ours is
    # of a kind Java gives, or explains a union branch Java finds no match for.
    extra = [r for r in theirs if not any(r.kind == kind or kind == "MISSING_UNION_BRANCH" for kind, _ in found)]
    assert not missed and not extra, f"{where}: Java says {found}; ours missing {missed}, ours beyond Java's {extra}"


def _judge_chain(chain: list[Any], oracle: Oracle) -> None:
    texts = [json.dumps(version) for version in chain]
    facts = oracle.inspect(texts)
    TALLY.chains += 1
    TALLY.schemas += len(texts)
    valid, twice = [], False
    for n, (text, fact) in enumerate(zip(texts, facts, strict=True)):
        try:
            check("NONE", text, [])
            ours: str | None = None
        except DefinedTwice:  # documented: the registry takes it, we refuse it
            assert fact.valid and TWICE.id in STRICTER_RULES, fact.message
            ours, twice = None, True
        except ValueError as error:
            ours = str(error)
        assert (ours is None) is fact.valid, (f"v{n + 1}: Java says {'valid' if fact.valid else fact.message}, we say "
                                              f"{ours or 'valid'}: {text}")
        valid.append(fact.valid)
    TALLY.invalid += valid.count(False)
    if twice and all(valid):
        TALLY.defined_twice += 1  # a chain we give no verdict on
        return
    if not all(valid):
        with pytest.raises(ValueError):  # no verdict on a chain holding a schema the registry would refuse
            check("FULL_TRANSITIVE", texts[2], texts[:2])
        return
    asked = [(texts[later], texts[earlier]) for earlier, later in PAIRS] + [(texts[e], texts[la]) for e, la in PAIRS]
    answers = oracle.judge(asked)
    java = {(later, earlier): answers[i] for i, (earlier, later) in enumerate(PAIRS)}  # (reader, writer) positions
    java |= {(earlier, later): answers[3 + i] for i, (earlier, later) in enumerate(PAIRS)}
    TALLY.pairs += len(PAIRS)
    TALLY.directions += len(answers)
    for answer in answers:
        for kind in answer.types + (("EXCEPTION",) if answer.thrown else ()):
            TALLY.java_reasons[kind] = TALLY.java_reasons.get(kind, 0) + 1
    for latest in (1, 2):
        for mode in MODES:
            verdict = check(mode, texts[latest], texts[:latest])
            if mode == "NONE":
                assert verdict == Verdict("NONE", True, ())
                continue
            _judge_verdict(verdict, latest, java)


def _judge_verdict(verdict: Verdict, latest: int, java: dict[tuple[int, int], Judgement]) -> None:
    against = range(1, latest + 1) if verdict.mode.endswith("_TRANSITIVE") else [latest]
    asked = {(n, d) for n in against for d in _directions(verdict.mode)}
    assert {(r.against, r.direction) for r in verdict.reasons} <= asked, verdict
    refused = False
    for n, direction in sorted(asked):
        answer = java[(latest, n - 1) if direction == NEW_READS_OLD else (n - 1, latest)]
        ours = [r for r in verdict.reasons if (r.against, r.direction) == (n, direction)]
        _agree(answer, ours, f"{verdict.mode}: v{latest + 1} against v{n}, {direction}")
        refused |= not answer.compatible
    assert verdict.compatible is (not verdict.reasons)
    assert verdict.stricter_than_registry is (not refused and not verdict.compatible), verdict
    TALLY.verdicts += 1
    if verdict.compatible is not refused:
        TALLY.agreed += 1
    else:
        for rule in sorted({rule_for(r.kind, r.direction).id for r in verdict.reasons}):
            TALLY.stricter[rule] = TALLY.stricter.get(rule, 0) + 1


@pytest.mark.timeout(PROFILE.timeout)
def test_every_verdict_is_avro_javas_or_refused_by_a_documented_stricter_rule(oracle: Oracle) -> None:
    started = time.monotonic()

    @settings(max_examples=PROFILE.chains, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
    @given(chains())
    def agrees(chain: list[Any]) -> None:
        note("the chain, v1 to v3:\n" + "\n".join(json.dumps(version) for version in chain))
        _judge_chain(chain, oracle)

    try:
        agrees()
    except BaseException:
        TALLY.disagreed = True
        raise
    finally:
        TALLY.seconds = time.monotonic() - started
    assert TALLY.verdicts > PROFILE.chains, "too few chains of valid schemas to say anything"


# ------------------------------------------------------------------------------------------- what it found


def record(name: str, *fields: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "record", "name": name, **extra, "fields": list(fields)}


def fixed(name: str, **extra: Any) -> dict[str, Any]:
    return {"type": "fixed", "name": name, "size": 2, **extra}


# Schemas where contracts.compat read otherwise than Java before the differential test found them, and Java's reading.
FOUND_SCHEMAS = [
    ("an empty namespace is the null one", True,
     record("R", {"name": "a", "type": fixed("R", namespace="")}, namespace="acme")),
    ("the types inside an error take its namespace", True,
     {"type": "error", "name": "E", "namespace": "acme", "fields": [
         {"name": "a", "type": fixed("F")}, {"name": "b", "type": "acme.F"}]}),
    ("a short name finds a type of the null namespace defined before", True,
     record("Top", {"name": "a", "type": fixed("F")},
            {"name": "b", "type": record("Inner", {"name": "x", "type": "F"}, namespace="acme")})),
    ("a name may be used before its definition", True,
     record("R", {"name": "a", "type": "acme.F"}, {"name": "b", "type": fixed("F", namespace="acme")})),
    ("a name not known yet is resolved by its full name only", False,
     record("R", {"name": "inner", "type": record("I", {"name": "back", "type": ["null", "R"]}, namespace="acme")})),
    ("a default for a name not known yet must be a record value", False,
     record("R", {"name": "s", "type": "S", "default": "OPEN"}, {"name": "t", "type": {
         "type": "enum", "name": "S", "symbols": ["OPEN"]}})),
    ("a default may not hold a value of a record Java has not finished", False,
     record("R", {"name": "next", "type": ["R", "null"], "default": {}})),
    ("NaN is a double field's default", True, record("R", {"name": "d", "type": "double", "default": "NaN"})),
    ("a number in text is a double field's default", True, record("R", {"name": "d", "type": "double", "default": "1.5"})),
    ("NaN is no default of a union", False, record("R", {"name": "d", "type": ["double", "null"], "default": "NaN"})),
    ("a union may not hold a type twice once its names are resolved", False,
     record("R", {"name": "u", "type": ["acme.M", fixed("M", namespace="acme")]})),
    ("a type may be defined twice the same", True,
     record("R", {"name": "a", "type": record("P", {"name": "x", "type": "string"})},
            {"name": "b", "type": record("P", {"name": "x", "type": "string"}, doc="The same, to Java.")})),
    ("a type may not be defined twice differently", False,
     record("R", {"name": "a", "type": record("P", {"name": "x", "type": "string"})},
            {"name": "b", "type": record("P", {"name": "x", "type": "int"})})),
    ("a type defined twice differently is invalid, whatever else is defined twice with other aliases", False,
     record("R", {"name": "a", "type": fixed("F", aliases=["Old"])}, {"name": "b", "type": fixed("F")},
            {"name": "c", "type": record("P", {"name": "x", "type": "string"})},
            {"name": "d", "type": record("P", {"name": "x", "type": "int"})})),
]


def test_a_type_defined_twice_with_other_aliases_is_refused_by_a_documented_stricter_rule(oracle: Oracle) -> None:
    """Java takes the same type twice with other aliases (or an enum's other default) and keeps each where it is
    written; avro's parser holds one: contracts compat refuses it, and the review says CONTRACT104."""
    schema = record("R", {"name": "a", "type": record("P", {"name": "x", "type": "string"}, aliases=["Old"])},
                    {"name": "b", "type": record("P", {"name": "x", "type": "string"})})
    (fact,) = oracle.inspect([json.dumps(schema)])
    assert fact.valid
    with pytest.raises(DefinedTwice, match="P is defined twice"):
        check("NONE", schema, [])
    assert (TWICE.id, TWICE.name, TWICE.stricter_than_registry) == ("CONTRACT104", "type-defined-twice", True)


@pytest.mark.parametrize(("name", "valid", "schema"), FOUND_SCHEMAS, ids=[case[0] for case in FOUND_SCHEMAS])
def test_each_schema_the_oracle_found_is_read_as_java_reads_it(oracle: Oracle, name: str, valid: bool,
                                                               schema: dict[str, Any]) -> None:
    (fact,) = oracle.inspect([json.dumps(schema)])
    assert fact.valid is valid, fact.message
    if valid:
        assert check("FULL", schema, [schema]).compatible
    else:
        with pytest.raises(ValueError, match="not a valid Avro schema"):
            check("NONE", schema, [])


# Changes contracts.compat judged otherwise than Java (or, the last, did not see change meaning) before the differential
# test: (old, new), Java's verdict per direction (new reads old, old reads new), and the stricter rule that refuses it
# under FULL where Java accepts.
FOUND_CHANGES = [
    ("an error is a record", record("R", {"name": "a", "type": "int"}),
     {"type": "error", "name": "R", "fields": [{"name": "a", "type": "int"}]}, (True, True), None),
    ("a field matching two writer fields in a union branch Java tries first",
     record("Top", {"name": "v", "type": record("B", {"name": "x", "type": "int"}, {"name": "y", "type": "int"})}),
     record("Top", {"name": "v", "type": [record("A", {"name": "x", "type": "int", "aliases": ["y"]}),
                                          record("B", {"name": "x", "type": "int"}, {"name": "y", "type": "int"})]}),
     (False, False), None),
    ("a field matching two writer fields in a union branch Java never tries (an earlier one reads it)",
     record("Top", {"name": "v", "type": record("B", {"name": "x", "type": "int"}, {"name": "y", "type": "int"})}),
     record("Top", {"name": "v", "type": [record("B", {"name": "x", "type": "int"}, {"name": "y", "type": "int"}),
                                          record("A", {"name": "x", "type": "int", "aliases": ["y"]})]}),
     (True, False), None),
    ("big-decimal read as plain bytes", record("R", {"name": "n", "type": {"type": "bytes", "logicalType": "big-decimal"}}),
     record("R", {"name": "n", "type": "bytes"}), (True, True), "CONTRACT103"),
]


@pytest.mark.parametrize(("name", "old", "new", "java", "stricter"), FOUND_CHANGES, ids=[c[0] for c in FOUND_CHANGES])
def test_each_change_the_oracle_found_is_judged_as_java_judges_it(
        oracle: Oracle, name: str, old: dict[str, Any], new: dict[str, Any], java: tuple[bool, bool], stricter: str | None
) -> None:
    texts = [json.dumps(old), json.dumps(new)]
    new_reads_old, old_reads_new = oracle.judge([(texts[1], texts[0]), (texts[0], texts[1])])
    assert (new_reads_old.compatible, old_reads_new.compatible) == java
    for mode in JUDGED:
        _judge_verdict(check(mode, texts[1], texts[:1]), 1, {(1, 0): new_reads_old, (0, 1): old_reads_new})
    full = check("FULL", new, [old])
    assert {rule_for(r.kind, r.direction).id for r in full.reasons if r.stricter_than_registry} == (
        {stricter} if stricter else set())


# ------------------------------------------------------------------------------------------- logical types


def _leaves() -> list[dict[str, Any]]:
    """Every logical type on every physical type the generator puts them on, and decimals' digits valid and not."""
    leaves: list[dict[str, Any]] = []
    names = sorted({name for names in LOGICAL.values() for name in names} | {"duration", "uuid", "decimal"})
    for physical in (*LOGICAL, "fixed"):
        for name in names:
            leaf: dict[str, Any] = {"type": physical, "logicalType": name}
            sizes = (1, 3, 12, 16) if physical == "fixed" else (None,)
            for size in sizes:
                sized = {**leaf, "name": "F", "size": size} if size else leaf
                leaves.append(sized)
                if name == "decimal":
                    leaves += [{**sized, "precision": p, "scale": s} for p, s in
                               [(0, 0), (3, 5), (5, 2), (5, -1), (5, 5), ("5", 2), (5.0, 2), (7, 1), (39, 2), (40, 2)]]
                    leaves.append({**sized, "precision": 4})
    return leaves


def test_each_logical_type_is_read_as_avro_java_reads_it(oracle: Oracle) -> None:
    """The stricter rules compare logical types as Java keeps them: one it ignores (on the wrong type, a decimal whose
    digits do not fit) is a plain value. uuid alone is kept by Java and not by us: its text or bytes read the same."""
    leaves = _leaves()
    for leaf, fact in zip(leaves, oracle.inspect([json.dumps(leaf) for leaf in leaves]), strict=True):
        assert fact.valid, (leaf, fact.message)
        expected = None if fact.logical == "uuid" else fact.logical
        assert compat._logical(compat._parse(leaf)) == expected, leaf  # private: what the stricter rules compare


# ------------------------------------------------------------------------------------------- the live registry


@pytest.mark.timeout(PROFILE.timeout)
def test_the_live_registry_gives_avro_javas_verdicts_on_a_sample(oracle: Oracle, registry: Registry) -> None:
    """v1 and v2 registered in a scratch subject (level NONE between them), then v3 tested under every level: the
    registry's answer is Java's (non-transitive levels against v2, transitive ones against both), and ours but where a
    documented stricter rule refuses it. (A chain whose v2 the registry takes as v1 is counted and left: Apicurio
    finds no new version in one that differs only in a field's aliases, for one.)"""
    prefix = f"test-oracle-{uuid.uuid4().hex[:12]}"
    count = iter(range(10**9))

    @settings(max_examples=PROFILE.registry, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
    @given(chains())
    def registry_agrees(chain: list[Any]) -> None:
        texts = [json.dumps(version) for version in chain]
        note("the chain, v1 to v3:\n" + "\n".join(texts))
        assume(all(fact.valid for fact in oracle.inspect(texts)))
        assume(not same_schema(texts[0], texts[1]))
        assume(not any(_defined_twice(text) for text in texts))  # no verdict of ours to compare
        answers = oracle.judge([(texts[2], texts[1]), (texts[1], texts[2]), (texts[2], texts[0]), (texts[0], texts[2])])
        java = {(2, 1): answers[0], (1, 2): answers[1], (2, 0): answers[2], (0, 2): answers[3]}
        subject = f"{prefix}-{next(count)}"
        try:
            _retrying(lambda: registry.register(subject, texts[0]))
            _retrying(lambda: registry.set_compatibility("NONE", subject))
            _retrying(lambda: registry.register(subject, texts[1]))
            if len(_retrying(lambda: registry.versions(subject))) < 2:  # noqa: B023  # called at once
                TALLY.registry_same += 1  # Apicurio took v2 as v1 (they differ only in a field's aliases, say)
                return
            for mode in JUDGED:
                expected = _java_verdict(mode, java)
                _retrying(lambda: registry.set_compatibility(mode, subject))  # noqa: B023  # called at once
                answer = _registry_answer(registry, subject, texts[2], mode)
                assert answer is expected, f"{mode}: the registry says {answer}, Java {expected}"
                ours = check(mode, texts[2], texts[:2])
                assert ours.compatible is answer or (ours.stricter_than_registry and answer), (mode, ours)
                TALLY.registry_verdicts += 1
        finally:
            _delete(registry, subject)

    try:
        registry_agrees()
    finally:
        for subject in _retrying(registry.subjects):
            if subject.startswith(prefix):
                _delete(registry, subject)


def _defined_twice(text: str) -> bool:
    try:
        check("NONE", text, [])
    except DefinedTwice:
        return True
    except ValueError:
        pass
    return False


def _java_verdict(mode: str, java: dict[tuple[int, int], Judgement]) -> bool:
    """Java's verdict on v3 after v1, v2 under `mode`, from its answers for (reader, writer) positions."""
    earlier = (0, 1) if mode.endswith("_TRANSITIVE") else (1,)
    asked = [(2, e) if d == NEW_READS_OLD else (e, 2) for e in earlier for d in _directions(mode)]
    return all(java[pair].compatible for pair in asked)


def _registry_answer(registry: Registry, subject: str, text: str, mode: str) -> bool:
    """Whether the registry accepts `text` after the subject's versions under `mode`, its level: against the latest
    version for a non-transitive level, against all for a transitive one. (Apicurio's endpoint for all versions judges
    against every version whatever the level, where Confluent's follows it: a non-transitive level asks the latest one.)
    Apicurio answers 422 where Java's checker throws (Confluent: not compatible)."""
    schema = Schema(text, "AVRO")
    try:
        if mode.endswith("_TRANSITIVE"):
            return bool(_retrying(lambda: registry.client.test_compatibility_all_versions(subject, schema)))
        return bool(_retrying(lambda: registry.client.test_compatibility(subject, schema, "latest")))
    except SchemaRegistryError as error:
        if error.http_status_code == 422:
            return False
        raise


def _retrying(call: Any) -> Any:
    """The shared registry may be down a few seconds while another engineer injects faults: wait for it."""
    for attempt in range(30):
        try:
            return call()
        except RegistryError as error:
            if "not reachable" not in str(error) or attempt == 29:
                raise
        except SchemaRegistryError as error:
            if error.http_status_code < 500 or attempt == 29:
                raise
        except httpx.TransportError:
            if attempt == 29:
                raise
        time.sleep(1)
    raise AssertionError("unreachable")


def _delete(registry: Registry, subject: str) -> None:
    for permanent in (False, True):  # soft, then hard: leave nothing behind
        with suppress(SchemaRegistryError, RegistryError):
            _retrying(lambda: registry.client.delete_subject(subject, permanent))  # noqa: B023
