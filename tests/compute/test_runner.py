"""Execution on a real local Ray cluster: pinned to the provider's node, receipt signed there."""

from __future__ import annotations

import pytest

from plexnet.compute import JobSpec, ProviderProfile
from plexnet.compute.cluster import LocalCluster
from plexnet.compute.errors import ExecutionError
from plexnet.compute.runner import run_job
from plexnet.compute.task import TaskKind, TaskResult, register
from plexnet.core.blobstore import LocalBlobStore
from plexnet.core.keystore import Keystore
from plexnet.ledger import Entry

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@register("test.hash_inputs")
class HashInputs(TaskKind):
    """Concatenate the input blobs and store the result (deterministic)."""

    def run(self, ctx, inputs, params):
        if params.get("fail"):
            raise RuntimeError("asked to fail")
        data = b"".join(ctx.blobs.get(c) for c in inputs) + ctx.provider.encode()
        return TaskResult(outputs={"joined": ctx.blobs.put(data)}, metrics={"bytes": len(data)})


def _profile(name):
    return ProviderProfile(name=name, device_kind="cpu", device_model="test", peak_flops=1e11,
                           memory_gb=4, tier="fog", region="local", bandwidth_mbps=100,
                           rtt_ms=1, price_per_device_hour=0.1)


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster([_profile("p1"), _profile("p2")]) as c:
        yield c


def test_job_runs_on_the_chosen_node_and_the_provider_signs(cluster, tmp_path):
    blobs = LocalBlobStore(tmp_path / "blobs")
    keys = Keystore(tmp_path / "keys")
    me = keys.create("p2")
    inp = blobs.put(b"input bytes ")
    job = JobSpec(job_id="j1", task="test.hash_inputs", inputs=[inp], budget_micro=1)
    result = run_job(job, _profile("p2"), blob_root=tmp_path / "blobs",
                     keystore_root=tmp_path / "keys", provider_key="p2")
    assert result.node_id == cluster.node_ids()["p2"]
    receipt = Entry.from_bytes(result.receipt)  # checks the signature
    assert receipt.signer == me.did and receipt.kind == "job.receipt"
    (out,) = receipt.body["outputs"]
    assert blobs.get(out) == b"input bytes p2"
    assert receipt.body["metrics"]["bytes"] == 14


def test_task_failure_is_an_execution_error(cluster, tmp_path):
    Keystore(tmp_path / "keys").create("p1")
    job = JobSpec(job_id="j2", task="test.hash_inputs", params={"fail": True}, budget_micro=1)
    with pytest.raises(ExecutionError, match="asked to fail"):
        run_job(job, _profile("p1"), blob_root=tmp_path / "blobs",
                keystore_root=tmp_path / "keys", provider_key="p1")
