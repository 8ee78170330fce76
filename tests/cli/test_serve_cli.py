"""``plexnet serve`` in a real process: it answers over HTTP, and refuses bad models up front."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
from sklearn.datasets import load_digits

from plexnet.models.mlp import save_mlp
from plexnet.models.supervised import train_mlp
from tests.cli.test_cli import fails, ok, plexnet


def test_serve_answers_and_refuses_bad_models(tmp_path):
    home = tmp_path / "home"
    ok(plexnet(home, "ledger", "init", "--log-id", "serve-cli"))
    x, y = load_digits(return_X_y=True)
    model, _ = train_mlp(x[:500], y[:500], 10, {"epochs": 3, "hidden": [16]})
    (tmp_path / "m.safetensors").write_bytes(save_mlp(model))
    cid = ok(plexnet(home, "blob", "put", str(tmp_path / "m.safetensors"))).split()[-1]
    (tmp_path / "junk").write_bytes(b"junk")
    junk = ok(plexnet(home, "blob", "put", str(tmp_path / "junk"))).split()[-1]
    assert "neither a plexnet MLP artifact" in fails(plexnet(home, "serve", "-m", junk))
    assert "no blob" in fails(plexnet(home, "serve", "-m", "bafkrei" + "a" * 52))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PLEXNET_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "plexnet", "serve", "-m", cid, "--port",
                             str(port)], env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.time() < deadline and proc.poll() is None, proc.stderr.read()
            time.sleep(0.2)
        r = httpx.post(f"http://127.0.0.1:{port}/v1/models/{cid}/predict",
                       json={"inputs": x[500:503].tolist()})
        assert r.status_code == 200 and len(r.json()["predictions"]) == 3
    finally:
        proc.terminate()
        proc.wait(20)
