"""aha bench rewards: the code batch is what it says (half right, half wrong), and the sandbox scores it so."""

from __future__ import annotations

from aha.bench.rewards import CODE_TASKS, bench_code, code_batch


def test_the_code_batch_alternates_correct_and_wrong_programs():
    responses, samples, expected = code_batch(6)
    assert expected == [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]
    right, wrong, tests = CODE_TASKS[0]
    assert right in responses[0] and wrong in responses[1] and samples[0].meta["test_list"] == tests
    assert CODE_TASKS[1][0] in responses[2]  # the next task after each pair
    assert len({s.id for s in samples}) == 6


def test_the_sandbox_agrees_with_the_expected_rewards():
    result = bench_code(n=6, workers=2)
    assert result["programs"] == 6 and result["agreement"] == 1.0
    assert result["programs_per_s"] > 0
