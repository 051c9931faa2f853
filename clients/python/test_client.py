"""Checks the Python client against a running server over the bundled arithmetic model.

    python3 clients/python/test_client.py --base-url http://127.0.0.1:8000 [--model-dir models/treeroll-arith]

Exits 0 when every check passes; otherwise prints the failed check and exits 1. The server's
test suite runs it (server/src/test/java/org/treeroll/server/PythonClientTest.java).
"""

from __future__ import annotations

import argparse
import sys
import traceback

from example_trainer_batch import RESPONSE_COLUMNS, trainer_batch
from treeroll_client import TreeRollClient, TreeRollError

VOCAB = 259  # the bundled model's: bytes, then <|endoftext|> (256) and two more specials


def expect_error(call, status: int, param):
    """``call()`` must raise TreeRollError with this status and param."""
    try:
        call()
    except TreeRollError as e:
        assert e.status == status, f"status {e.status}, wanted {status}: {e}"
        assert e.param == param, f"param {e.param!r}, wanted {param!r}: {e}"
        assert e.message, "an empty message"
        return e
    raise AssertionError(f"no TreeRollError (wanted {status} on {param})")


def check_rollout(client: TreeRollClient) -> None:
    problems = ["Q: 2+3=?\n", "Q: 7-4=?\n"]
    r = client.rollout(problems, tree={"leaf_budget": 4, "segment_length": 16, "max_tokens": 64},
                       sampling={"seed": 5}, reward="math", references=["5", "3"], estimator="treepo")
    assert r["object"] == "rollout" and r["status"] == "completed", r.get("status")
    assert len(r["trees"]) == 2, len(r["trees"])
    assert r["estimator"].startswith("treepo"), r["estimator"]
    assert r["stats"]["answers"] == 8, r["stats"]
    assert r["rewards"]["scored"] == 8 and r["rewards"]["errors"] == 0, r["rewards"]
    rows = r["advantages"]
    assert len(rows) == 8, len(rows)
    for row in rows:
        assert row["reward"] in (0.0, 1.0), row["reward"]
        assert all(0 <= t < VOCAB for t in row["responses"]), "a token outside the vocabulary"
    # Each tree's prompt is its problem's bytes (the model's tokenizer is byte-level).
    for tree, problem in zip(r["trees"], problems):
        assert tree["prompt"] == list(problem.encode("utf-8")), tree["prompt"]

    kept = client.get_rollout(r["id"])
    assert kept["id"] == r["id"] and kept["status"] == "completed", kept.get("status")

    batch = trainer_batch(r)
    n, p_len, r_len = len(rows), len(batch["prompts"][0]), len(batch["responses"][0])
    assert p_len == max(len(row["prompts"]) for row in rows)
    assert r_len == max(len(row["responses"]) for row in rows)
    for key in ("prompts", "responses", "input_ids", "attention_mask", "position_ids", *RESPONSE_COLUMNS, "uid",
                "reward"):
        assert len(batch[key]) == n, f"{key}: {len(batch[key])} rows for {n} answers"
    for i, row in enumerate(rows):
        p, resp = row["prompts"], row["responses"]
        assert len(batch["input_ids"][i]) == p_len + r_len
        assert len(batch["attention_mask"][i]) == p_len + r_len
        assert len(batch["position_ids"][i]) == p_len + r_len
        for col in RESPONSE_COLUMNS:
            assert len(batch[col][i]) == r_len, f"{col}[{i}]: {len(batch[col][i])} for {r_len}"
            assert batch[col][i][:len(resp)] == row[col], f"{col}[{i}] differs from the row"
        # The real tokens, in place: the prompt ends where the responses begin.
        mask = batch["attention_mask"][i]
        assert sum(mask) == len(p) + len(resp)
        assert [t for t, m in zip(batch["input_ids"][i], mask) if m] == p + resp
        assert batch["input_ids"][i][p_len:p_len + len(resp)] == resp
        # Training only where the response is.
        assert all(m == 0 for m in batch["response_mask"][i][len(resp):])
        assert batch["position_ids"][i][p_len - 1] == len(p) - 1
    groups = {}
    for uid, reward in zip(batch["uid"], batch["reward"]):
        groups.setdefault(uid, []).append(reward)
    assert sorted(map(len, groups.values())) == [4, 4], groups


def check_stream(client: TreeRollClient) -> None:
    events = list(client.stream_rollout(["Q: 4+4=?\n"], tree={"leaf_budget": 2, "segment_length": 16, "max_tokens": 48},
                                        sampling={"seed": 2}, reward="math", references=["8"]))
    kinds = [e["event"] for e in events]
    assert kinds[-1] == "done", kinds
    assert kinds.count("answer") == 2 and kinds.count("tree") == 1, kinds
    for e in events:
        if e["event"] == "answer":
            assert len(e["tokens"]) == len(e["logprobs"]) > 0, e
            assert e["reward"] in (0.0, 1.0), e
    done = events[-1]
    assert done["status"] == "completed" and "trees" not in done, done.keys()
    assert len(done["advantages"]) == 2, done["advantages"]


def check_errors(client: TreeRollClient, model_dir) -> None:
    e = expect_error(lambda: client.rollout(["Q: 1+1=?\n"], tree={"leaf_budget": 0}), 400, "tree.leaf_budget")
    assert e.type == "invalid_request_error", e.type
    expect_error(lambda: client.rollout(["Q: 1+1=?\n"], reward="math", references=["2", "3"]), 400, "references")
    expect_error(lambda: client.rollout([[1, VOCAB]]), 400, "prompts[0].token_ids[1]")
    expect_error(lambda: list(client.stream_rollout([])), 400, "prompts")
    expect_error(lambda: client.get_rollout("no-such-rollout"), 404, "id")
    expect_error(lambda: client.update_weights(path="/no/such/model"), 400, "path")
    expect_error(lambda: client.update_weights(safetensors=b"not safetensors"), 400, "body")

    # A finished rollout: kept by id until deleted, and its id is then free again.
    r = client.rollout([[81, 58, 32, 49, 43, 49, 61, 63, 10]], tree={"leaf_budget": 1, "max_tokens": 8},
                       id="py-client-1")
    expect_error(lambda: client.rollout(["Q: 1+1=?\n"], id="py-client-1"), 409, "id")
    assert client.cancel_rollout(r["id"])["status"] == "deleted"
    expect_error(lambda: client.get_rollout(r["id"]), 404, "id")

    if model_dir:
        before = client.health()["weight_version"]
        v = client.update_weights(path=model_dir, policy="wait")["weight_version"]
        assert v > before, (v, before)
        assert client.health()["weight_version"] == v


def main(argv) -> int:
    ap = argparse.ArgumentParser(description="Checks the TreeRoll Python client against a server.")
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--model-dir", default=None, help="the served model's directory, for a weight update")
    args = ap.parse_args(argv)
    client = TreeRollClient(args.base_url, timeout=120)
    health = client.health()
    assert health["status"] == "ok", health
    assert client.models()["data"][0]["id"] == health["model"]
    checks = [("rollout", check_rollout), ("stream", check_stream),
              ("errors", lambda c: check_errors(c, args.model_dir))]
    for name, check in checks:
        try:
            check(client)
        except Exception:  # report which check, then fail
            print(f"FAILED: {name}", file=sys.stderr)
            traceback.print_exc()
            return 1
    print("python client: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
