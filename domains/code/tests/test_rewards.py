"""The code domain's tune rewards and the sandbox its unit-test reward runs in: the program cannot
write outside its temporary directory, reach the network, or outlive its timeout."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqdiff.plugins import load_domain
from seqdiff_code.rewards import filled_source, parses, reference_match, similarity, unit_tests, units, useful
from seqdiff_code.sandbox import SandboxLimits, landlock_abi, run_python
from seqdiff_code.syntax import MiddleJudge
from seqdiff_code.tasks import InfillTask

needs_landlock = pytest.mark.skipif(landlock_abi() == 0, reason="this kernel has no Landlock")


def test_the_domain_declares_its_rewards_through_the_hook():
    assert set(load_domain("code").rewards()) == {"parses", "useful", "reference_match", "unit_tests"}


def test_parses_judges_the_full_file_of_an_infill_task():
    task = InfillTask("single", "x.py", 2, 1, "def f(x):\n", "    return x\n", "\nprint(f(1))\n")
    canvases = [{"task": task, "editable_text": "    return x + 1\n"}, {"task": task, "editable_text": "  return (\n"}]
    assert filled_source("ignored", canvases[0]) == "def f(x):\n    return x + 1\n\nprint(f(1))\n"
    assert parses()(["", ""], canvases) == [1.0, 0.0]
    assert parses()(["x = 1\n", "x = = 1\n"], [{}, {}]) == [1.0, 0.0]


TASK = InfillTask("single", "x.py", 2, 1, "def f(x):\n", "    return x + 1\n", "\nprint(f(1))\n")


def canvases_of(*middles: str) -> list[dict]:
    return [{"task": TASK, "editable_text": m} for m in middles]


def test_a_blank_middle_parses_but_is_not_useful_where_a_statement_is_needed():
    task = InfillTask("single", "x.py", 3, 1, "x = 1\n", "y = 2\n", "print(x)\n")
    middles = ("", "   \n", "y = 2\n", "y = = 2\n", "#\n", "  # later\n", "y = 2  # two\n")
    blank = [{"task": task, "editable_text": m} for m in middles]
    assert parses()([""] * 7, blank) == [1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0]
    # a comment alone is no line of code (a tune on "not blank" learnt to answer "#")
    assert useful()([""] * 7, blank) == [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]


def test_useful_accepts_a_blank_middle_where_no_code_is_needed_and_judges_plain_texts():
    mid_line = InfillTask("single", "x.py", 1, 1, "x = ", "", " * 1\n")  # inside a line: blank allowed, parse decides
    assert useful()([""], [{"task": mid_line, "editable_text": ""}]) == [0.0]  # "x =  * 1" does not parse
    tail = InfillTask("single", "x.py", 1, 1, "x = 1", "", "\n")  # cursor at the end of a finished line
    assert useful()([""], [{"task": tail, "editable_text": ""}]) == [1.0]
    assert useful()(["x = 1\n", "   \n", "x = = 1\n"], [{}, {}, {}]) == [1.0, 0.0, 0.0]


def test_useful_takes_any_text_as_a_docstring_line_as_the_judge_does():
    doc = InfillTask("single", "x.py", 3, 1, 'def f():\n    """Sum.\n\n', "    # a line\n", '    """\n')
    got = useful()([""] * 3, [{"task": doc, "editable_text": m} for m in ("    # a line\n", "   \n", "Sums.\n")])
    assert got == [1.0, 0.0, 1.0]
    judge = MiddleJudge(doc.prefix, doc.suffix)
    assert [not judge.errors(m) for m in ("    # a line\n", "   \n", "Sums.\n")] == [True, False, True]


@pytest.mark.parametrize("unit", ["tokens", "lines"])
def test_reference_match_is_one_for_the_exact_middle_and_zero_for_a_blank_one(unit):
    got = reference_match(unit)([""] * 3, canvases_of("    return x + 1\n", "", "  \n"))
    assert got == [1.0, 0.0, 0.0]
    assert reference_match(unit)([""], canvases_of("return   x + 1")) == [1.0]  # whitespace does not count


def test_reference_match_gives_partial_credit_below_the_exact_middle():
    short, wrong = reference_match()([""] * 2, canvases_of("    return x\n", "pass\n"))
    assert short == pytest.approx(2 * 2 / (2 + 4))  # [return, x] matched inside [return, x, +, 1]
    assert wrong == 0.0


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="ab =(:)\n", max_size=24), st.text(alphabet="ab =(:)\n", max_size=24),
       st.sampled_from(["tokens", "lines"]))
def test_similarity_is_one_on_itself_and_bounded(a, b, unit):
    assert similarity(a, a, unit) == 1.0
    assert 0.0 <= similarity(a, b, unit) <= 1.0
    assert (similarity(a, b, unit) == 1.0) == (units(a, unit) == units(b, unit))


def test_reference_match_rejects_canvases_without_a_task_and_unknown_units():
    with pytest.raises(ValueError, match="carrying their task"):
        reference_match()(["x = 1\n"], [{}])
    with pytest.raises(ValueError, match="tokens or lines"):
        reference_match("chars")


@needs_landlock
def test_the_sandbox_cannot_write_outside_its_temporary_directory(tmp_path):
    canary = tmp_path / "canary.txt"
    existing = tmp_path / "existing.txt"
    existing.write_text("keep")
    program = f"""
import os
open("inside.txt", "w").write("ok")
for attempt in (lambda: open({str(canary)!r}, "w"), lambda: open({str(existing)!r}, "a"),
                lambda: os.remove({str(existing)!r}), lambda: os.mkdir({str(tmp_path / 'newdir')!r})):
    try:
        attempt()
        print("ESCAPED")
    except OSError as err:
        print("blocked", err.errno)
print(open("inside.txt").read())
"""
    result = run_python({"main.py": program}, "main.py")
    assert result.passed and "landlock-fs" in result.confinement
    assert "ESCAPED" not in result.stdout and result.stdout.count("blocked") == 4 and "ok" in result.stdout
    assert not canary.exists() and existing.read_text() == "keep" and not (tmp_path / "newdir").exists()


@needs_landlock
def test_the_sandbox_blocks_the_network_and_kills_at_its_timeout():
    program = """
import _socket
try:
    s = _socket.socket()
    s.connect(("127.0.0.1", 9))
    print("CONNECTED")
except OSError as err:
    print("blocked")
"""
    result = run_python({"main.py": program}, "main.py")
    assert "blocked" in result.stdout and "CONNECTED" not in result.stdout
    hung = run_python({"main.py": "while True:\n    pass\n"}, "main.py", SandboxLimits(timeout_s=0.5))
    assert hung.timed_out and not hung.passed and hung.returncode is None


@needs_landlock
def test_the_sandbox_limits_memory():
    result = run_python({"main.py": "x = bytearray(400 * 2**20)\n"}, "main.py", SandboxLimits(memory_mb=200))
    assert not result.passed and "MemoryError" in result.stderr


@needs_landlock
def test_unit_tests_reward_passing_and_failing_programs_in_the_sandbox():
    reward = unit_tests("import solution\nassert solution.f(2) == 4\n", timeout_s=5)
    assert reward(["def f(x):\n    return 2 * x\n", "def f(x):\n    return x\n", "def f(x):\n  while 1: pass\n"],
                  [{}, {}, {}]) == [1.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="needs `tests`"):
        unit_tests("  ")


@pytest.mark.parametrize("choice, split", [("train", "train"), ("validation", "validation"), ("bench", "test")])
def test_code_tune_canvases_come_from_the_chosen_split_never_the_held_out_one_by_default(choice, split):
    from pathlib import Path
    from types import SimpleNamespace

    from seqdiff.tune.config import load_config
    from seqdiff.tune.run import rollout_canvases
    from seqdiff_code.corpus import split_of_text
    from seqdiff_code.tokenizer import CodeTokenizer

    shipped = Path(__file__).resolve().parents[3] / "configs" / "tune-code-parse.yaml"
    overrides = ["rollout.num_prompts=6"] + ([f"rollout.canvases={choice}"] if choice != "train" else [])
    config = load_config(shipped, overrides)
    pretrained = SimpleNamespace(tokenizer=CodeTokenizer.bundled(), domain="code")
    canvases, _ = rollout_canvases(pretrained, load_domain("code"), config)
    assert len(canvases) == 6
    files = {c["task"].prefix + c["task"].middle + c["task"].suffix for c in canvases}
    assert {split_of_text(text) for text in files} == {split}
