"""Language balancing math on the build guide's hour counts."""

import pytest

from maya.balance import BalanceSettings, balance

# Build guide 2.3, estimated hours of the final-export corpus per language.
GUIDE_HOURS = {
    "en": 28000,
    "hi": 16000,
    "te": 13000,
    "ml": 12000,
    "pa": 11000,
    "ta": 10000,
    "kn": 7000,
    "gu": 6000,
    "bn": 5000,
    "mr": 5000,
    "or": 3000,
    "as": 1000,
}


def test_temperature_flattens_the_28x_spread():
    out = balance({("fe", lang): h for lang, h in GUIDE_HOURS.items()}, BalanceSettings(temperature=0.3))
    langs = out["languages"]
    assert sum(e["weight"] for e in out["entries"]) == pytest.approx(1.0)
    before = langs["en"]["share_before"] / langs["as"]["share_before"]
    after = langs["en"]["share_after"] / langs["as"]["share_after"]
    assert before == pytest.approx(28.0)
    assert after == pytest.approx(28.0**0.3)  # ~2.72: Assamese is seen ~10x more often than natural
    # T=1 is natural sampling, T=0 uniform.
    natural = balance({("fe", lang): h for lang, h in GUIDE_HOURS.items()}, BalanceSettings(temperature=1.0))
    assert natural["languages"]["hi"]["share_after"] == pytest.approx(16000 / 117000)
    uniform = balance({("fe", lang): h for lang, h in GUIDE_HOURS.items()}, BalanceSettings(temperature=0.0))
    assert {round(v["share_after"], 6) for v in uniform["languages"].values()} == {round(1 / 12, 6)}


def test_corpus_tier_within_a_language():
    hours = {("final_export", "hi"): 900.0, ("indicvoices", "hi"): 100.0, ("final_export", "ta"): 500.0}
    out = balance(hours, BalanceSettings(temperature=1.0, corpus_temperature=0.5))
    w = {(e["corpus"], e["language"]): e["weight"] for e in out["entries"]}
    assert w[("final_export", "hi")] / w[("indicvoices", "hi")] == pytest.approx(3.0)  # sqrt(900/100)
    assert w[("final_export", "hi")] + w[("indicvoices", "hi")] == pytest.approx(1000 / 1500)


def test_two_stage_upsampling_is_deterministic_and_equalises():
    hours = {("a", "hi"): 100.0, ("b", "hi"): 25.0, ("a", "as"): 10.0}
    out = balance(hours, BalanceSettings(method="two_stage_upsampling"))
    f = {(e["corpus"], e["language"]): e["repeat_factor"] for e in out["entries"]}
    assert f[("b", "hi")] == pytest.approx(4.0)  # intra-language: up to the largest hi corpus
    assert f[("a", "hi")] == pytest.approx(1.0)
    assert f[("a", "as")] == pytest.approx(20.0)  # inter-language: 10 h -> 200 h (hi after stage 1)
    assert out["languages"]["hi"]["share_after"] == pytest.approx(0.5)
    assert out == balance(hours, BalanceSettings(method="two_stage_upsampling"))


def test_bad_inputs():
    with pytest.raises(ValueError, match="no training hours"):
        balance({("a", "hi"): 0.0}, BalanceSettings())
    with pytest.raises(ValueError, match="unknown balancing method"):
        BalanceSettings(method="magic")
