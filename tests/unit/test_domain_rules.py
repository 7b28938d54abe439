"""cmkit.domain.rules: the lifecycle rules as pure checks. Each returns its problems (empty: allowed); every
problem starts with the rule it comes from and says what would make the operation possible."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import pytest

from cmkit import Customer
from cmkit.domain import rules
from cmkit.domain.config import Config


def customer(
    id: int,
    kind: str = "contact",
    group: str = "retail",
    *,
    active: bool = True,
    company_id: int | None = None,
) -> Customer:
    """A customer as the rules see it: no database, no fields."""
    return Customer(
        id=id,
        kind=kind,  # type: ignore[arg-type]
        group=group,
        company_id=company_id,
        active=active,
        name=f"{kind.title()} {id}",
        fields=MappingProxyType({}),
        version=1,
    )


def rule_of(problems: list[str]) -> list[str]:
    """The rule each problem names ("R18" for "R18: cannot deactivate ...")."""
    return [p.split(":", 1)[0] for p in problems]


ANNA = customer(1, company_id=10)
ACME = customer(10, "company")
PART = customer(20, "company", "partners")
PRIV = customer(30, "contact", "private")


# -- R14, R15, R20: who may be on a ticket ---------------------------------------------------------------------


def test_r14_active_contacts_and_companies_of_groups_taking_them_may_be_main(config: Config) -> None:
    for c in (ANNA, PRIV, PART):
        for creating in (True, False):
            assert rules.main_customer_problems(c, config.group(c.group), creating=creating) == []


def test_r14_company_of_a_contacts_only_group_cannot_be_main(config: Config) -> None:
    problems = rules.main_customer_problems(ACME, config.group("retail"), creating=True)
    assert rule_of(problems) == ["R14"]
    assert (
        "'retail' takes tickets for contacts only" in problems[0]
        and "choose one of its contacts" in problems[0]
    )


def test_r20_deactivated_customer_cannot_be_main(config: Config) -> None:
    gone = customer(2, active=False)
    created = rules.main_customer_problems(gone, config.group("retail"), creating=True)
    assigned = rules.main_customer_problems(gone, config.group("retail"), creating=False)
    assert rule_of(created) == rule_of(assigned) == ["R20"]
    assert "cannot create a ticket for deactivated" in created[0] and "reactivate it first" in created[0]
    assert "cannot assign a ticket to deactivated" in assigned[0]
    both = rules.main_customer_problems(
        customer(11, "company", active=False), config.group("retail"), creating=True
    )
    assert rule_of(both) == ["R20", "R14"]  # every problem, not only the first


def test_r14_queue_must_be_assigned_to_the_customers_group(config: Config) -> None:
    assert rules.queue_problems(ANNA, "billing", config.queues_for("retail")) == []
    problems = rules.queue_problems(ANNA, "partnerdesk", config.queues_for("retail"))
    assert problems == [
        "R14: queue 'partnerdesk' is not assigned to group 'retail'; choose one of its queues: billing, helpdesk"
    ]
    assert rules.queue_problems(ANNA, "helpdesk", [])[0].endswith("choose one of its queues: none")


def test_r15_additional_customer_must_be_active_and_not_yet_on_the_ticket() -> None:
    assert rules.additional_customer_problems(ANNA, already=None) == []
    assert rule_of(rules.additional_customer_problems(customer(2, active=False), already=None)) == ["R15"]
    problems = rules.additional_customer_problems(ANNA, already="main")
    assert rule_of(problems) == ["R15"] and "already is the main customer" in problems[0]
    both = rules.additional_customer_problems(customer(2, active=False), already="additional")
    assert rule_of(both) == ["R15", "R15"]


# -- R17 transfer ----------------------------------------------------------------------------------------------


def transfer(config: Config, source: Customer, target: Customer, **kw: Any) -> list[str]:
    options = {"becomes_main": True, "open_tickets_moved": True} | kw
    return rules.transfer_problems(source, target, config.group(target.group), **options)


def test_r17_transfer_to_an_active_customer_is_allowed(config: Config) -> None:
    assert transfer(config, ANNA, customer(3, company_id=10)) == []
    assert transfer(config, ANNA, PART) == []  # partners take tickets for companies
    assert transfer(config, ANNA, ACME, becomes_main=False) == []  # additional only: R14 does not apply


def test_r17_target_must_not_be_the_source(config: Config) -> None:
    problems = transfer(config, ANNA, ANNA)
    assert rule_of(problems) == ["R17"] and "must not be the source" in problems[0]
    assert rule_of(transfer(config, customer(2, active=False), customer(2, active=False))) == ["R17"]


def test_r17_deactivated_target_refused(config: Config) -> None:
    problems = transfer(config, ANNA, customer(3, active=False))
    assert rule_of(problems) == ["R17"] and "reactivate it or choose an active customer" in problems[0]


def test_r17_company_of_contacts_only_group_cannot_become_main(config: Config) -> None:
    problems = transfer(config, ANNA, ACME)
    assert rule_of(problems) == ["R14"] and "would become main customer" in problems[0]
    assert rule_of(transfer(config, ANNA, customer(11, "company", active=False))) == ["R17", "R14"]


def test_r20_open_tickets_of_a_deactivated_source_are_not_moved(config: Config) -> None:
    gone = customer(2, active=False)
    assert rule_of(transfer(config, gone, ANNA, open_tickets_moved=True)) == ["R20"]
    assert transfer(config, gone, ANNA, open_tickets_moved=False) == []  # closed tickets may move (R20)


# -- R18 deactivate, R21 reactivate -----------------------------------------------------------------------------


def test_r18_deactivate_allowed_without_open_tickets() -> None:
    assert rules.deactivate_problems(ANNA, [], company_scope=False) == []
    assert rules.deactivate_problems(ACME, [], company_scope=True) == []


def test_r18_open_tickets_block_and_are_named() -> None:
    problems = rules.deactivate_problems(ANNA, ["T0001", "T0002"], company_scope=False)
    assert rule_of(problems) == ["R18"]
    assert "2 open ticket(s) name it as main or additional customer (T0001, T0002)" in problems[0]
    assert "transfer_tickets(1, <target>, only_open=True)" in problems[0]
    company = rules.deactivate_problems(ACME, ["T0003"], company_scope=True)[0]
    assert "name it or its contacts" in company and "transfer_tickets(<customer named on them>" in company


def test_r18_long_lists_of_blocking_tickets_are_shortened() -> None:
    numbers = [f"T{i:04d}" for i in range(13)]
    problem = rules.deactivate_problems(ANNA, numbers, company_scope=False)[0]
    assert "13 open ticket(s)" in problem and "T0009 and 3 more" in problem and "T0010" not in problem


def test_r18_deactivated_customer_is_not_deactivated_again() -> None:
    problems = rules.deactivate_problems(customer(2, active=False), ["T0001"], company_scope=False)
    assert rule_of(problems) == ["R18"] and "already deactivated" in problems[0]


def test_r21_reactivate_needs_a_deactivated_customer_and_an_active_company() -> None:
    gone = customer(2, active=False, company_id=10)
    assert rules.reactivate_problems(gone, ACME) == []
    assert rules.reactivate_problems(customer(30, group="private", active=False), None) == []
    active = rules.reactivate_problems(ANNA, ACME)
    assert rule_of(active) == ["R21"] and "nothing to reactivate" in active[0]
    company_gone = rules.reactivate_problems(gone, customer(10, "company", active=False))
    assert rule_of(company_gone) == ["R21"] and "reactivate the company first" in company_gone[0]


# -- R22, R23 delete -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tickets", [[], ["T0001"]])
def test_r22_companies_are_deactivated_never_deleted(config: Config, tickets: list[str]) -> None:
    for company in (ACME, PART):
        problems = rules.delete_problems(company, config.group(company.group), tickets)
        assert rule_of(problems) == ["R22"] and f"use deactivate({company.id})" in problems[0]


def test_r23_contact_named_on_a_ticket_is_not_deleted(config: Config) -> None:
    assert rules.delete_problems(ANNA, config.group("retail"), []) == []
    assert rules.delete_problems(PRIV, config.group("private"), []) == []
    problems = rules.delete_problems(ANNA, config.group("retail"), ["T0001", "T0002"])
    assert rule_of(problems) == ["R23"]
    assert "2 ticket(s), open or closed, name it (T0001, T0002)" in problems[0]
    assert "transfer_tickets(1, <target>, only_open=False)" in problems[0]


# -- R7 change of company --------------------------------------------------------------------------------------------


def test_r7_active_contact_moves_to_an_active_company_of_its_group(config: Config) -> None:
    assert rules.change_company_problems(ANNA, customer(12, "company"), config.group("retail")) == []


def test_r7_only_contacts_of_two_level_groups_have_a_company(config: Config) -> None:
    assert rule_of(rules.change_company_problems(PRIV, ACME, config.group("private"))) == ["R7"]
    assert rule_of(rules.change_company_problems(ACME, customer(12, "company"), config.group("retail"))) == [
        "R7"
    ]


def test_r7_target_must_be_a_company(config: Config) -> None:
    problems = rules.change_company_problems(ANNA, customer(3, company_id=10), config.group("retail"))
    assert rule_of(problems) == ["R7"] and "is not a company" in problems[0]


def test_r3_target_company_of_another_group_refused(config: Config) -> None:
    problems = rules.change_company_problems(ANNA, PART, config.group("retail"))
    assert rule_of(problems) == ["R3"] and "a contact belongs to a company of its own group" in problems[0]


def test_r7_deactivated_contact_or_company_refused(config: Config) -> None:
    gone = customer(2, active=False, company_id=10)
    closed = customer(12, "company", active=False)
    assert rule_of(rules.change_company_problems(gone, ACME, config.group("retail"))) == ["R7"]
    problems = rules.change_company_problems(ANNA, closed, config.group("retail"))
    assert rule_of(problems) == ["R7"] and "contacts cannot move into it" in problems[0]
    assert rule_of(rules.change_company_problems(gone, closed, config.group("retail"))) == ["R7", "R7"]
