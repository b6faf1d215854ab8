"""No audit is worked on by two gateway replicas at once; nightly sampling happens once per day."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from helpline.gateway.v1 import gateway_pb2, gateway_service_pb2_grpc
from helpline_common.auth import Role
from helpline_common.storage import ObjectStore
from helpline_gateway.audits import Lease
from tests.conftest import bearer
from tests.gateway.conftest import gateway
from tests.gateway.test_roles import DAY


def test_only_one_of_many_racing_replicas_gets_the_lease(store_settings):
    store = ObjectStore(store_settings)
    store.ensure_bucket()
    start = threading.Barrier(8)

    def contend(i: int) -> bool:
        lease = Lease(store, "audit-1", f"replica-{i}", ttl_s=30)
        start.wait()
        return lease.acquire()

    with ThreadPoolExecutor(8) as pool:
        winners = [ok for ok in pool.map(contend, range(8)) if ok]
    assert len(winners) == 1


def test_an_expired_lease_is_taken_over_and_the_old_holder_knows(store_settings):
    store = ObjectStore(store_settings)
    store.ensure_bucket()
    first = Lease(store, "audit-2", "replica-a", ttl_s=0.5)
    second = Lease(store, "audit-2", "replica-b", ttl_s=30)
    assert first.acquire()
    assert not second.acquire()  # still valid
    time.sleep(0.6)  # let it expire: the holder stopped renewing (e.g. it crashed)
    assert second.acquire()
    assert not first.renew()  # the old holder learns it lost the audit and stops
    assert second.renew()
    second.release()
    assert Lease(store, "audit-2", "replica-c", ttl_s=30).acquire()


def test_nightly_sampling_runs_once_per_day_even_when_raced(store_settings):
    with gateway() as (_service, channel):
        stub = gateway_service_pb2_grpc.GatewayServiceStub(channel)
        sampler = bearer(Role.SAMPLER)
        request = gateway_pb2.StartNightlySamplingRequest(date=DAY)
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda _: stub.StartNightlySampling(request, metadata=sampler, timeout=30),
                                    range(4)))
        ids = {a.audits[0].audit_id for a in answers}
        assert len(ids) == 1
        assert sum(not a.already_sampled for a in answers) == 1
        later = stub.StartNightlySampling(request, metadata=sampler, timeout=30)
        assert later.already_sampled and later.audits[0].audit_id in ids
        listed = stub.ListAudits(gateway_pb2.ListAuditsRequest(), metadata=bearer(Role.ADMIN), timeout=10).audits
        assert [a.audit_id for a in listed] == list(ids)  # the losers' audits were removed


@pytest.mark.parametrize("plan_field, value", [("calls_per_region", 0), ("calls_per_region", 100000)])
def test_absurd_sampling_plans_are_invalid(store_settings, plan_field, value):
    import grpc

    from helpline.gateway.v1 import audit_pb2
    from tests.gateway.test_roles import PERIOD

    with gateway() as (_service, channel):
        stub = gateway_service_pb2_grpc.GatewayServiceStub(channel)
        plan = audit_pb2.SamplingPlan(**{plan_field: value})
        with pytest.raises(grpc.RpcError) as err:
            stub.RequestAudit(gateway_pb2.RequestAuditRequest(region_codes=["77"], period=PERIOD, sampling=plan),
                              metadata=bearer(Role.ADMIN), timeout=10)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_cancel_ends_an_audit_even_while_the_transcriber_is_away(store_settings):
    from helpline.gateway.v1 import audit_pb2
    from tests.gateway.test_roles import PERIOD

    with gateway() as (_service, channel):  # no transcriber or scorer: the audit cannot progress
        stub = gateway_service_pb2_grpc.GatewayServiceStub(channel)
        supervisor = bearer(Role.SUPERVISOR, "77")
        audit = stub.RequestAudit(gateway_pb2.RequestAuditRequest(region_codes=["77"], period=PERIOD),
                                  metadata=supervisor, timeout=10).audit
        cancelled = stub.CancelAudit(gateway_pb2.CancelAuditRequest(audit_id=audit.audit_id), metadata=supervisor,
                                     timeout=30).audit
        assert cancelled.state == audit_pb2.AUDIT_STATE_CANCELLED
        updates = list(stub.WatchAudit(gateway_pb2.WatchAuditRequest(audit_id=audit.audit_id), metadata=supervisor,
                                       timeout=30))
        assert updates[-1].audit.state == audit_pb2.AUDIT_STATE_CANCELLED


def test_an_audit_that_cannot_move_says_why(store_settings):
    """Without a transcriber the audit waits (and goes on when it is back); the people following it are
    told so on the audit, not only in the gateway's log."""
    import time

    from tests.gateway.test_roles import PERIOD

    with gateway() as (_service, channel):  # no transcriber or scorer
        stub = gateway_service_pb2_grpc.GatewayServiceStub(channel)
        supervisor = bearer(Role.SUPERVISOR, "77")
        audit = stub.RequestAudit(gateway_pb2.RequestAuditRequest(region_codes=["77"], period=PERIOD),
                                  metadata=supervisor, timeout=10).audit
        request = gateway_pb2.GetAuditRequest(audit_id=audit.audit_id)
        deadline = time.monotonic() + 20
        while not (seen := stub.GetAudit(request, metadata=supervisor, timeout=10).audit).waiting_for:
            assert time.monotonic() < deadline, "the audit never said why it waits"
            time.sleep(0.2)
        assert seen.waiting_for == "the transcriber is unavailable (UNAVAILABLE); the audit goes on when it is back"
        stub.CancelAudit(gateway_pb2.CancelAuditRequest(audit_id=audit.audit_id), metadata=supervisor, timeout=30)
