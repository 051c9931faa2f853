"""From a rollout to the per-token arrays a policy-gradient trainer consumes.

A rollout with a reward and an estimator carries ``advantages``: one row per answer, whose
columns are documented in docs/export.md (``prompts``, ``responses``, ``response_mask``,
``old_log_probs``, ``advantages``, ``token_level_scores``, ``uid``, ``reward``, ...). Their lists
are per answer and unpadded; :func:`trainer_batch` pads them into one batch, in verl's layout:

* ``prompts``: left-padded to the longest prompt, ``responses``: right-padded to the longest
  response, and ``input_ids`` = prompt + response, so every response starts at the same column;
* ``attention_mask`` (over ``input_ids``): 1 on real tokens, 0 on padding;
* ``position_ids`` (over ``input_ids``): 0, 1, 2, ... over the real tokens, as verl computes them;
* ``response_mask``, ``old_log_probs``, ``advantages``, ``token_level_scores`` (over the
  response columns): the row's values, 0 on padding. ``response_mask`` is also 0 on every token
  of an answer whose reward failed, so such answers train nothing.

Plain lists, no third-party packages: ``torch.tensor(batch["input_ids"])`` makes a tensor.

Run it against a server (``./treeroll serve``, the bundled arithmetic model):

    python3 clients/python/example_trainer_batch.py --base-url http://127.0.0.1:8000
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Dict, List

from treeroll_client import TreeRollClient

# Per-token columns over the response, and what pads them.
RESPONSE_COLUMNS = {"response_mask": 0, "old_log_probs": 0.0, "advantages": 0.0, "token_level_scores": 0.0}


def trainer_batch(rollout: Dict[str, Any], pad_id: int = 0) -> Dict[str, Any]:
    """Pads the rollout's ``advantages`` rows into a batch (see the module's description).

    Raises ValueError when the rollout has no advantages (it was run without a reward) or a row
    is inconsistent (a per-token list whose length differs from the response's).
    """
    rows = rollout.get("advantages")
    if not rows:
        raise ValueError("the rollout has no advantages: run it with a reward (and an estimator)")
    for i, row in enumerate(rows):
        n = len(row["responses"])
        for col in RESPONSE_COLUMNS:
            if len(row[col]) != n:
                raise ValueError(f"row {i}: {col} has {len(row[col])} values for {n} response tokens")
    p_len = max(len(r["prompts"]) for r in rows)
    r_len = max(len(r["responses"]) for r in rows)
    batch: Dict[str, Any] = {k: [] for k in ("prompts", "responses", "input_ids", "attention_mask",
                                            "position_ids", *RESPONSE_COLUMNS, "uid", "reward")}
    for row in rows:
        prompt, response = list(row["prompts"]), list(row["responses"])
        left, right = p_len - len(prompt), r_len - len(response)
        mask = [0] * left + [1] * (len(prompt) + len(response)) + [0] * right
        batch["prompts"].append([pad_id] * left + prompt)
        batch["responses"].append(response + [pad_id] * right)
        batch["input_ids"].append(batch["prompts"][-1] + batch["responses"][-1])
        batch["attention_mask"].append(mask)
        batch["position_ids"].append(_positions(mask))
        for col, pad in RESPONSE_COLUMNS.items():
            batch[col].append(list(row[col]) + [pad] * right)
        batch["uid"].append(row["uid"])  # answers of one prompt share it (GRPO-style grouping)
        batch["reward"].append(row["reward"])  # None when scoring failed
    return batch


def _positions(mask: List[int]) -> List[int]:
    # As verl computes them: clip(cumsum(mask) - 1, 0); padding repeats a neighbour's position.
    out, seen = [], 0
    for m in mask:
        seen += m
        out.append(max(seen - 1, 0))
    return out


def summary(batch: Dict[str, Any]) -> str:
    """A few lines a person can check a batch by."""
    n = len(batch["input_ids"])
    trained = sum(sum(m) for m in batch["response_mask"])
    advs = [a for row, mask in zip(batch["advantages"], batch["response_mask"]) for a, m in zip(row, mask) if m]
    rewards = [r for r in batch["reward"] if r is not None]
    lines = [
        f"answers: {n} from {len(set(batch['uid']))} prompts",
        f"input_ids: {n} x {len(batch['input_ids'][0])} (prompts {len(batch['prompts'][0])}"
        f" + responses {len(batch['responses'][0])})",
        f"tokens: {sum(map(sum, batch['attention_mask']))} real, {trained} trained (response_mask)",
        f"reward: mean {sum(rewards) / len(rewards):.3f} over {len(rewards)} scored" if rewards else "reward: none scored",
    ]
    if advs:
        mean = sum(advs) / len(advs)
        lines.append(f"advantages on trained tokens: mean {mean:+.4f}, min {min(advs):+.4f}, max {max(advs):+.4f}")
    return "\n".join(lines)


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base-url", default="http://127.0.0.1:8000")
    ap.add_argument("--api-key", default=None)
    ap.add_argument("--estimator", default="treepo")
    ap.add_argument("--leaf-budget", type=int, default=8)
    ap.add_argument("--json", action="store_true", help="print the whole batch as JSON too")
    args = ap.parse_args(argv)
    # Problems of the bundled model's arithmetic task, with their answers as references.
    problems = {"Q: 2+3=?\n": "5", "Q: 17+4*6-9=?\n": "32", "Q: 8*7-5=?\n": "51", "Q: 40-13+2=?\n": "29"}
    client = TreeRollClient(args.base_url, api_key=args.api_key)
    rollout = client.rollout(list(problems), tree={"leaf_budget": args.leaf_budget, "max_tokens": 96},
                             sampling={"seed": 1}, reward="math", references=list(problems.values()),
                             estimator=args.estimator)
    print(f"rollout {rollout['id']}: estimator {rollout['estimator']}, weight version {rollout['weight_version']}")
    batch = trainer_batch(rollout)
    print(summary(batch))
    if args.json:
        print(json.dumps(batch))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
