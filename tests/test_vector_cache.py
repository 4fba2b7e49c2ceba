"""The previous index's vectors looked up by content hash: sorted 8-byte digests, rows read
from the index's arrays on demand, the same vectors the whole-dict cache gave."""

import json

import numpy as np
import pytest

from policyqa import vector_cache
from policyqa.api import build_index
from policyqa.index import embed_key, load_index
from policyqa.vector_cache import VectorCache, _file_digests, key_digests


def test_digests_streamed_from_a_keys_file_match_the_keys_across_block_edges(tmp_path, monkeypatch):
    keys = [embed_key(f"文本{i}") for i in range(1000)]
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(keys), encoding="utf-8")
    monkeypatch.setattr(vector_cache, "_BLOCK", 97)  # blocks cut keys in the middle
    assert np.array_equal(_file_digests(path), key_digests(keys))
    path.write_text("[]", encoding="utf-8")
    assert len(_file_digests(path)) == 0


def test_cache_of_a_loaded_index_gives_every_vector_it_holds(fake_settings, fake_embedder):
    build_index(fake_settings, fake_embedder)
    data = load_index(fake_settings.index_dir)
    cache = VectorCache.of_index(data)
    passages = data.vectors.reconstruct_n(0, data.vectors.ntotal)
    sentences = np.asarray(data.sentences.vectors, dtype=np.float32)
    want = {k: passages[i] for i, k in enumerate(data.embed_keys)}
    want.update({k: sentences[i] for i, k in enumerate(data.sentences.keys)})  # (what dict.update kept)
    tv = np.asarray(data.target_vectors, dtype=np.float32)
    want.update({k: tv[i] for i, k in enumerate(data.target_keys)})
    keys = list(want) + [embed_key("不在索引里的文本")]
    where = cache.find(keys)
    assert (where[:-1] >= 0).all() and where[-1] == -1
    assert np.array_equal(cache.read(where[:-1]), np.asarray([want[k] for k in keys[:-1]]))
    assert keys[0] in cache and keys[-1] not in cache
    assert np.array_equal(cache[keys[0]], want[keys[0]])
    with pytest.raises(KeyError):
        cache[keys[-1]]
    assert cache.nbytes() == 16 * len(cache)
    assert len(VectorCache.of_index(None)) == 0 and (VectorCache.of_index(None).find(keys[:2]) == -1).all()
