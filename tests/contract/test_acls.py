"""The rights each service's principal gets are derived from the manifest, and the README shows exactly those."""

from __future__ import annotations

from pathlib import Path

from contracts.acls import acl_table, grants
from contracts.manifest import load_manifest

README = Path(__file__).resolve().parents[2] / "README.md"
MANIFEST = load_manifest()


def rights(principal: str) -> set[tuple[str, str, str]]:
    return {(g.operation, g.resource, g.name + ("*" if g.prefixed else "")) for g in grants(MANIFEST)
            if g.principal == principal}


def test_a_service_may_write_what_it_produces_and_read_what_it_consumes_and_nothing_else() -> None:
    assert rights("score") == {
        ("read", "topic", "calculate-score"), ("describe", "topic", "calculate-score"),
        ("read", "topic", "invoice-generated"), ("describe", "topic", "invoice-generated"),
        ("write", "topic", "calculate-score"), ("write", "topic", "invoice-generated"),  # forwards misplaced records
        ("write", "topic", "score-calculated"), ("describe", "topic", "score-calculated"),
        ("read", "topic", "score-history-changelog"), ("write", "topic", "score-history-changelog"),
        ("describe", "topic", "score-history-changelog"),
        ("write", "topic", "calculate-score-dead-letters"), ("describe", "topic", "calculate-score-dead-letters"),
        ("write", "topic", "invoice-generated-dead-letters"), ("describe", "topic", "invoice-generated-dead-letters"),
        ("read", "group", "score-calculator*"), ("describe", "group", "score-calculator*"),
        ("write", "transactional_id", "score-calculator/*"), ("describe", "transactional_id", "score-calculator/*"),
        ("describe", "group", "repartition-score"),  # whether a move to more partitions fills a partition it is given
    }


def test_the_dashboard_may_also_look_at_every_lag_and_dead_letter_for_the_operator_view_and_write_nothing_more() -> None:
    dashboard = rights("dashboard")
    written = {name for operation, resource, name in dashboard if operation == "write" and resource == "topic"}
    assert written == {"generate-invoice", "calculate-score", "invoice-generated-dead-letters",
                       "score-calculated-dead-letters"}
    assert {("read", "topic", "generate-invoice-dead-letters"), ("describe", "group", "invoice-generator*"),
            ("describe", "topic", "invoice-decisions-changelog")} <= dashboard
    assert ("read", "group", "invoice-generator*") not in dashboard  # it may look at their offsets, not join
    assert not any(resource == "transactional_id" for _, resource, _ in dashboard)
    assert {
        ("write", "topic", "generate-invoice"), ("describe", "topic", "generate-invoice"),
        ("write", "topic", "calculate-score"), ("describe", "topic", "calculate-score"),
        ("read", "topic", "invoice-generated"), ("describe", "topic", "invoice-generated"),
        ("read", "topic", "score-calculated"), ("describe", "topic", "score-calculated"),
        ("write", "topic", "invoice-generated-dead-letters"), ("describe", "topic", "invoice-generated-dead-letters"),
        ("write", "topic", "score-calculated-dead-letters"), ("describe", "topic", "score-calculated-dead-letters"),
        ("read", "group", "dashboard*"), ("describe", "group", "dashboard*"),
    } <= dashboard


def test_a_worker_with_state_may_write_the_topics_of_its_group_it_reads_to_forward_records_and_nothing_more() -> None:
    forwarding = {(g.principal, g.name) for g in grants(MANIFEST) if g.operation == "write" and "forwards" in g.why}
    assert forwarding == {("invoice", "generate-invoice"), ("score", "invoice-generated"), ("score", "calculate-score")}


def test_a_worker_that_answers_requests_owns_its_changelog_and_its_transactional_ids() -> None:
    invoice = rights("invoice")
    assert {("read", "topic", "invoice-decisions-changelog"), ("write", "topic", "invoice-decisions-changelog"),
            ("write", "transactional_id", "invoice-generator/*")} <= invoice
    assert not any(name.startswith(("score", "calculate")) for _, _, name in invoice)


def test_the_readme_shows_the_table_the_manifest_gives() -> None:
    text = README.read_text()
    shown = text.split("<!-- acls:begin -->\n", 1)[1].split("<!-- acls:end -->", 1)[0]
    assert shown.strip() == acl_table(MANIFEST), "README.md's ACL table is stale: paste `python -m contracts acls`"
