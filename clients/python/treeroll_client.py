"""A client for the TreeRoll rollout server (``./treeroll serve``).

Standard library only (urllib, json); Python 3.9 or newer. Copy this one file next to a trainer.

    from treeroll_client import TreeRollClient, TreeRollError

    client = TreeRollClient("http://127.0.0.1:8000")
    r = client.rollout(["Q: 2+3=?\\n"], tree={"leaf_budget": 8}, reward="math", references=["5"],
                       estimator="treepo")
    for row in r["advantages"]:          # one row per answer; columns in docs/export.md
        print(row["reward"], len(row["responses"]))

Every method returns the server's JSON as plain dicts and lists. A refused request raises
:class:`TreeRollError` with the HTTP status, the field at fault (``param``, e.g.
``"tree.leaf_budget"``) and the server's message.
"""

from __future__ import annotations

import collections.abc
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, Iterator, Optional, Sequence, Union

__all__ = ["TreeRollClient", "TreeRollError"]

# A prompt: text, a list of token ids, or the server's own form ({"text": ...} or {"token_ids": [...]}).
Prompt = Union[str, Sequence[int], Dict[str, Any]]


class TreeRollError(Exception):
    """A request the server refused (or could not be reached for).

    Attributes:
        status: the HTTP status (400, 404, 409, 413, ...), or None when no answer came.
        param: the request field at fault, as the server names it (``"prompts[0]"``), or None.
        message: the server's explanation.
        type: the server's error type (``"invalid_request_error"``, ...), or None.
    """

    def __init__(self, status: Optional[int], message: str, param: Optional[str] = None,
                 type: Optional[str] = None):
        super().__init__(f"{status}: {message}" if status is not None else message)
        self.status = status
        self.message = message
        self.param = param
        self.type = type


class TreeRollClient:
    """The TreeRoll HTTP API (docs/http-api.md) over urllib.

    Args:
        base_url: the server, e.g. ``"http://127.0.0.1:8000"``.
        api_key: sent as ``Authorization: Bearer <key>`` when the server runs with ``--api-key``.
        timeout: seconds to wait for each answer (for a stream: between two events). Rollouts
            can take long; the server has its own limit too (``--request-timeout-s``).
    """

    def __init__(self, base_url: str, api_key: Optional[str] = None, timeout: float = 600.0):
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout

    # ---- Rollouts. ----

    def rollout(self, prompts: Sequence[Prompt], tree: Optional[dict] = None, sampling: Optional[dict] = None,
                reward: Optional[str] = None, references: Optional[Sequence[str]] = None,
                estimator: Optional[str] = None, id: Optional[str] = None) -> dict:
        """Samples one tree per prompt and waits for the whole rollout.

        Args:
            prompts: texts, token id lists, or ``{"text": ...}`` / ``{"token_ids": [...]}``.
            tree: tree options (``leaf_budget``, ``segment_length``, ``max_tokens``, ``policy``, ...).
            sampling: sampling options (``temperature``, ``top_p``, ``top_k``, ``seed``, ...).
            reward: a reward spec (``"math"``, ``"exact"``, ``"regex:pattern=..."``, ``"http:url=..."``).
            references: one reference answer per prompt, for the reward.
            estimator: an advantage estimator spec (``"grpo"``, ``"treepo"``, ``"rose:lambda=0.5"``, ...);
                with a reward only (the server's default is grpo).
            id: your id for the rollout (1-64 of letters, digits and ``. _ : -``); one is made otherwise.

        Returns:
            The rollout: ``id``, ``trees`` (tree dumps), and with a reward ``rewards``, ``estimator``
            and ``advantages`` (one trainer row per answer), and ``stats``.
        """
        body = self._rollout_body(prompts, tree, sampling, reward, references, estimator, id, stream=False)
        return self._json("POST", "/v1/rollouts", body)

    def stream_rollout(self, prompts: Sequence[Prompt], tree: Optional[dict] = None,
                       sampling: Optional[dict] = None, reward: Optional[str] = None,
                       references: Optional[Sequence[str]] = None, estimator: Optional[str] = None,
                       id: Optional[str] = None) -> Iterator[dict]:
        """As :meth:`rollout`, but yields events as they happen (NDJSON): ``{"event": "answer", ...}``
        when an answer ends (scored, with a reward), ``{"event": "tree", "tree": ...}`` when a tree
        is done, and last ``{"event": "done", ...}``: the rollout without its trees. An error after
        the stream began raises :class:`TreeRollError` from the iterator.
        """
        body = self._rollout_body(prompts, tree, sampling, reward, references, estimator, id, stream=True)
        res = self._open("POST", "/v1/rollouts", _encode(body), "application/json")
        with res:
            for raw in res:
                line = raw.strip()
                if not line:
                    continue
                event = json.loads(line)
                if "error" in event and "event" not in event:
                    raise _error(event.get("error"), None)
                yield event

    def get_rollout(self, id: str) -> dict:
        """A finished rollout (kept for a while), or ``{"status": "running"}`` while it runs."""
        return self._json("GET", "/v1/rollouts/" + urllib.parse.quote(id, safe=""))

    def cancel_rollout(self, id: str) -> dict:
        """Cancels a running rollout (``status`` "cancelled"; its memory is freed at once) or
        forgets a finished one (``status`` "deleted")."""
        return self._json("DELETE", "/v1/rollouts/" + urllib.parse.quote(id, safe=""))

    # ---- Weights, models, health. ----

    def update_weights(self, path: Optional[str] = None, policy: Optional[str] = None,
                       timeout_s: Optional[int] = None, version: Optional[int] = None,
                       safetensors: Optional[bytes] = None) -> dict:
        """Swaps in new weights at a step boundary; no tree mixes two versions.

        Args:
            path: a HF model directory or a ``.safetensors`` file on the server's machine.
            policy: ``"wait"`` (the default: requests in flight finish first) or ``"abort"``.
            timeout_s: how long a ``wait`` may wait.
            version: the weight version to report from now on (default: the next one).
            safetensors: the contents of a safetensors file, sent in the body instead of ``path``.

        Returns:
            ``{"object": "weights", "weight_version": n}``.
        """
        options = {k: v for k, v in (("policy", policy), ("timeout_s", timeout_s), ("version", version))
                   if v is not None}
        if safetensors is not None:
            if path is not None:
                raise ValueError("give path or safetensors, not both")
            query = "?" + urllib.parse.urlencode(options) if options else ""
            return _read_json(self._open("POST", "/v1/weights" + query, bytes(safetensors),
                                         "application/octet-stream"))
        body = dict(options)
        if path is not None:
            body["path"] = str(path)
        return self._json("POST", "/v1/weights", body)

    def health(self) -> dict:
        """``{"status": "ok", "model", "weight_version", "requests_in_flight"}``."""
        return self._json("GET", "/health")

    def models(self) -> dict:
        """The served model, in OpenAI's list shape: ``{"object": "list", "data": [{"id", ...}]}``."""
        return self._json("GET", "/v1/models")

    # ---- Plumbing. ----

    @staticmethod
    def _rollout_body(prompts, tree, sampling, reward, references, estimator, id, stream: bool) -> dict:
        if isinstance(prompts, (str, bytes)) or not isinstance(prompts, collections.abc.Sequence):
            raise TypeError("prompts must be a list of prompts")
        body: Dict[str, Any] = {"prompts": [_prompt(p) for p in prompts]}
        for key, value in (("tree", tree), ("sampling", sampling), ("reward", reward), ("estimator", estimator),
                           ("id", id)):
            if value is not None:
                body[key] = value
        if references is not None:
            body["references"] = list(references)
        if stream:
            body["stream"] = True
        return body

    def _json(self, method: str, path: str, body: Optional[dict] = None) -> dict:
        data = None if body is None else _encode(body)
        return _read_json(self._open(method, path, data, "application/json" if data is not None else None))

    def _open(self, method: str, path: str, data: Optional[bytes], content_type: Optional[str]):
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        req.add_header("Accept", "application/json, application/x-ndjson")
        if content_type is not None:
            req.add_header("Content-Type", content_type)
        if self.api_key is not None:
            req.add_header("Authorization", "Bearer " + self.api_key)
        try:
            return urllib.request.urlopen(req, timeout=self.timeout)
        except urllib.error.HTTPError as e:
            try:
                raw = e.read()
            finally:
                e.close()
            try:
                err = json.loads(raw.decode("utf-8")).get("error")
            except (ValueError, AttributeError):
                err = None
            raise _error(err, e.code, raw.decode("utf-8", "replace").strip() or e.reason) from None
        except urllib.error.URLError as e:
            raise TreeRollError(None, f"cannot reach {self.base_url}: {e.reason}") from None
        except OSError as e:  # a timeout, or the connection dropped
            raise TreeRollError(None, f"{method} {path}: {e}") from None


def _prompt(p: Prompt) -> Union[str, dict]:
    if isinstance(p, (str, dict)):
        return p
    return {"token_ids": [int(t) for t in p]}


def _encode(body: dict) -> bytes:
    # allow_nan=False: NaN and Infinity are not JSON, and the server refuses them.
    return json.dumps(body, allow_nan=False).encode("utf-8")


def _read_json(res) -> dict:
    with res:
        return json.loads(res.read().decode("utf-8"))


def _error(err: Any, status: Optional[int], fallback: str = "request failed") -> TreeRollError:
    if not isinstance(err, dict):
        return TreeRollError(status, fallback)
    code = err.get("code")
    return TreeRollError(status if status is not None else code if isinstance(code, int) else None,
                         str(err.get("message") or fallback), err.get("param"), err.get("type"))
