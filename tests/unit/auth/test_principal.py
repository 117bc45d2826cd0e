"""Which owners a principal may act for."""

from __future__ import annotations

from uuid import uuid4

from infra.security.auth import Principal, Scope

OWNER = uuid4()


def test_an_owner_bound_principal_acts_for_its_owner_only() -> None:
    principal = Principal("c", "c", frozenset({Scope.LEDGER_READ}), owner_id=OWNER)

    assert principal.may_act_for(OWNER)
    assert not principal.may_act_for(uuid4())
    assert not principal.acts_for_any_owner


def test_a_service_principal_without_all_owners_acts_for_nobody() -> None:
    principal = Principal("c", "c", frozenset({Scope.LEDGER_READ}))

    assert not principal.may_act_for(OWNER)


def test_a_service_principal_with_all_owners_acts_for_everybody() -> None:
    principal = Principal("c", "c", frozenset({Scope.LEDGER_READ, Scope.ALL_OWNERS}))

    assert principal.acts_for_any_owner
    assert principal.may_act_for(OWNER)


def test_has_scopes_needs_every_one() -> None:
    principal = Principal("c", "c", frozenset({Scope.LEDGER_READ}))

    assert principal.has_scopes(Scope.LEDGER_READ)
    assert not principal.has_scopes(Scope.LEDGER_READ, Scope.LEDGER_WRITE)
