"""Follow-up questions made standalone: the stated rule without a chat model, the model's
rewrite with one (a stub server), and through the engine, the CLI's --after and REST history."""

from __future__ import annotations

from policyqa.followup import by_rule, is_followup, standalone
from tests.fake_engine import FakeEngine


class Rewriter:
    """A stand-in chat backend that records what it was sent."""

    def __init__(self, reply: str | Exception) -> None:
        self.reply, self.sent = reply, []

    def complete(self, messages):
        self.sent.append(messages)
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply


def test_a_follow_up_carries_the_previous_questions_topic():
    assert is_followup("那农村呢？") and is_followup("具体有哪些措施？") and is_followup("初中呢？")
    assert by_rule("那农村呢？", ["学前三年幼儿入园率的目标是多少？"]) == "农村 学前三年幼儿入园率 目标"
    assert "校车" in by_rule("具体有哪些措施？", ["校车安全由谁来管？"])


def test_a_question_naming_its_own_topic_is_searched_as_asked():
    question = "义务教育阶段教师交流轮岗的比例要求是什么？"
    assert not is_followup(question)
    assert standalone(question, ["学前三年幼儿入园率的目标是多少？"]) == question
    assert standalone("那农村呢？", []) == "那农村呢？"  # no history: nothing to carry


def test_the_topic_of_a_chain_of_follow_ups_goes_back_to_the_first_question():
    history = ["学前三年幼儿入园率的目标是多少？", "那农村呢？"]
    assert "入园率" in by_rule("城区呢？", history)


def test_with_a_chat_model_its_rewrite_is_used_and_its_failure_falls_back_to_the_rule():
    from policyqa.llm import LLMError

    model = Rewriter("农村学前三年幼儿入园率的目标是多少？")
    assert standalone("那农村呢？", ["学前三年幼儿入园率的目标是多少？"], model) == "农村学前三年幼儿入园率的目标是多少？"
    sent = model.sent[0][-1].content
    assert "问1：学前三年幼儿入园率的目标是多少？" in sent and "问2：那农村呢？" in sent
    down = Rewriter(LLMError("server down"))
    assert standalone("那农村呢？", ["学前三年幼儿入园率的目标是多少？"], down) == "农村 学前三年幼儿入园率 目标"
    rambling = Rewriter("好的，改写如下：\n农村学前三年……\n希望有帮助")
    assert standalone("那农村呢？", ["学前三年幼儿入园率的目标是多少？"], rambling) == "农村 学前三年幼儿入园率 目标"


def test_the_engine_answers_the_standalone_question_and_says_so():
    engine = FakeEngine()
    alone = engine.ask("比例呢？")
    follow = engine.ask("比例呢？", history=["教师交流轮岗有什么要求？"])
    assert follow.question == "比例呢？" and "交流轮岗" in follow.searched_as
    assert follow.to_json()["searched_as"] == follow.searched_as and alone.searched_as == ""
    assert follow.citations and "交流" in follow.citations[0].text

