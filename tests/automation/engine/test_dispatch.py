"""Events become queued runs in the transaction that emitted them."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from rentguy_crm.automation.runs.models import AutomationRun
from rentguy_crm.automation.runs.service import start_manual_run
from rentguy_crm.errors import NotFound
from rentguy_crm.events.service import emit
from tests.automation_support import install_workflow, workflow_doc


async def _runs(db) -> list[AutomationRun]:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        return list((await session.scalars(select(AutomationRun).order_by(AutomationRun.id))).all())


async def test_lead_created_event_queues_a_run_of_each_matching_workflow(db, factory) -> None:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant()
    await install_workflow(db, tenant, workflow_doc("lead_intake", sla="15m", retry={"max_attempts": 3}))
    await install_workflow(db, tenant, workflow_doc("proposal_followup",
                                                    triggers=[{"event": "deal.stage.proposal_sent"}]))
    lead = await factory.lead(tenant)
    async with db.session() as session:
        event = await emit(session, tenant.id, "lead.created", subject_type="lead", subject_id=lead.id)
    runs = await _runs(db)
    assert [(r.workflow_key, r.status, r.lead_id, r.trigger_event_id, r.max_attempts) for r in runs] == [
        ("lead_intake", "queued", lead.id, event.id, 3)]
    assert (runs[0].sla_due_at - runs[0].run_after).total_seconds() == pytest.approx(900, abs=1)


async def test_run_is_not_created_when_the_emitting_transaction_rolls_back(db, factory) -> None:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant()
    await install_workflow(db, tenant, workflow_doc())
    lead = await factory.lead(tenant)
    with pytest.raises(RuntimeError):
        async with db.session() as session:
            await emit(session, tenant.id, "lead.created", subject_type="lead", subject_id=lead.id)
            raise RuntimeError("request failed after the event")
    assert await _runs(db) == []


async def test_entering_a_stage_starts_the_stages_automation_flow(db, factory) -> None:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant()
    # No trigger names the stage: the stage's automation_flow (proposal_followup in mrdj.json) starts it.
    await install_workflow(db, tenant, workflow_doc("proposal_followup", triggers=[{"event": "manual"}]))
    deal = await factory.deal(tenant, stage_key="proposal_sent")
    async with db.session() as session:
        await emit(session, tenant.id, "deal.stage.changed", subject_type="deal", subject_id=deal.id,
                   payload={"stage": "proposal_sent"})
    runs = await _runs(db)
    assert [(r.workflow_key, r.deal_id, r.trigger_type) for r in runs] == [
        ("proposal_followup", deal.id, "deal.stage.changed")]


async def test_stage_trigger_matches_deal_stage_events(db, factory) -> None:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant()
    await install_workflow(db, tenant, workflow_doc("negotiation_nudge",
                                                    triggers=[{"event": "deal.stage.negotiation"}]))
    deal = await factory.deal(tenant, stage_key="negotiation")
    async with db.session() as session:
        await emit(session, tenant.id, "deal.stage.changed", subject_type="deal", subject_id=deal.id,
                   payload={"stage": "negotiation"})
        await emit(session, tenant.id, "deal.stage.changed", subject_type="deal", subject_id=deal.id,
                   payload={"stage": "booked"})
    assert [r.workflow_key for r in await _runs(db)] == ["negotiation_nudge"]


async def test_condition_that_cannot_be_evaluated_does_not_start_the_workflow(db, factory) -> None:  # type: ignore[no-untyped-def]
    from rentguy_crm.automation.workflows import expressions

    tenant = await factory.tenant()
    await install_workflow(db, tenant, workflow_doc(
        triggers=[{"event": "lead.created", "condition": "lead.event_type == nonsense("}]))
    lead = await factory.lead(tenant)
    async with db.session() as session:
        await emit(session, tenant.id, "lead.created", subject_type="lead", subject_id=lead.id)
    assert await _runs(db) == []
    with pytest.raises(expressions.ExpressionError):
        expressions.evaluate("lead.event_type == nonsense(", {})


async def test_manual_start_for_a_lead_of_another_tenant_is_not_found(db, factory) -> None:  # type: ignore[no-untyped-def]
    mrdj = await factory.tenant()
    other = await factory.tenant("other")
    await install_workflow(db, mrdj, workflow_doc())
    lead = await factory.lead(other)
    with pytest.raises(NotFound):
        async with db.session() as session:
            await start_manual_run(session, mrdj, "lead_intake", lead_id=lead.id)
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(AutomationRun)) == 0
