"""Shared fixtures. Unit tests use the deterministic ``HashEmbedder`` (no model); the
integration fixtures build the real index of the sample corpus once per test session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from policyqa.config import load_settings
from policyqa.embed import HashEmbedder

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_CORPUS = ROOT / "corpus"
DEV_SET = ROOT / "eval" / "dev.jsonl"


@pytest.fixture
def fake_embedder() -> HashEmbedder:
    return HashEmbedder(dim=128)


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


PLAN_A = """某县教育局2023年工作计划

一、加强学前教育
（一）扩大普惠资源
全县学前三年毛入园率达到92%以上。新建公办幼儿园3所，改扩建5所。
（二）提高保教质量
开展幼儿园保教质量评估，杜绝“小学化”倾向。
二、推进义务教育优质均衡
1.实施薄弱学校改造工程，完成44所标准化学校建设。
2.深入开展控辍保学工作，辍学率控制在0.5%以内。
三、加强教师队伍建设
组织500名教师参加72学时的全员培训，教师培训经费不低于公用经费的5%。
"""

PLAN_B = """某市教育局2022年工作总结

一、主要成绩
校园足球活动广泛开展，组建足球队120支。
二、存在问题
农村学校食堂食品安全管理仍需加强。
"""


@pytest.fixture
def small_corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    write(root / "plan_a.txt", PLAN_A)
    write(root / "sub" / "plan_b_gbk.txt", PLAN_B, encoding="gbk")
    write(root / "broken.txt", "")
    return root


@pytest.fixture
def fake_settings(small_corpus: Path, tmp_path: Path):
    return load_settings(env={}, corpus=small_corpus, index_dir=tmp_path / "index", model="hash:128")


@pytest.fixture(scope="session")
def real_engine(tmp_path_factory):
    """The real default model over a copy of the sample corpus, built once per session."""
    from policyqa.api import Engine

    base = tmp_path_factory.mktemp("real")
    corpus = base / "corpus"
    shutil.copytree(SAMPLE_CORPUS, corpus)
    settings = load_settings(env={}, corpus=corpus, index_dir=base / "index")
    return Engine.open(settings, build_if_needed=True)
