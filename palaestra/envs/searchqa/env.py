"""SearchQA: multi-hop questions about invented entities, answered with a BM25 search tool."""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import Any

from palaestra.envs.core import InvalidAction, TextEnv, Transition, shorten
from palaestra.envs.searchqa.corpus import Question, build_world, make_question
from palaestra.errors import InvalidArgumentError
from palaestra.optional import require

_ACTION = re.compile(r"(search|answer)\s*\[(.*)\]", re.I | re.S)


def normalize_answer(text: str) -> list[str]:
    """SQuAD-style normalization: lower case, no punctuation or articles, split on spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in string.punctuation)
    return [w for w in text.split() if w not in {"a", "an", "the"}]


def word_f1(prediction: str, gold: str) -> float:
    """Word-level F1 between ``prediction`` and ``gold`` (the SQuAD/HotpotQA metric)."""
    pred, truth = normalize_answer(prediction), normalize_answer(gold)
    common = sum((Counter(pred) & Counter(truth)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(truth)
    return 2 * precision * recall / (precision + recall)


class SearchQAEnv(TextEnv):
    """Answer a multi-hop question about invented entities by searching a local corpus.

    **Task.** The corpus (one document per person, city and company of a seeded invented
    world, ``corpus_seed``) states facts no model knows in advance; each question chains
    two of them ("In which country was Kamiren Dosavel born?"). The episode seed picks the
    question.

    **Action.** ``search[query]`` returns the ``top_k`` documents a BM25 index ranks highest
    for the query; ``answer[text]`` ends the episode. Anything else is invalid.

    **Reward.** The word-level F1 of the answer against the gold answer (0 without an
    answer). ``success``: exact match after normalization. ``episode_metrics``: ``f1``,
    ``searches``, ``invalid_actions``.

    **Privileged.** With ``expose_ground_truth=True`` every ``info`` carries the gold answer
    as ``ground_truth`` (for IGPO); it never appears in an observation.

    Args:
        corpus_seed: Seed of the invented world (fixed across episodes).
        people: Number of invented persons (the corpus has about 1.4 documents per person).
        top_k: Documents returned per search.
        max_searches: Searches allowed; further ones are invalid actions.
        expose_ground_truth: Put the gold answer in ``info["ground_truth"]``.
        **kwargs: :class:`~palaestra.envs.core.TextEnv` arguments.

    Version History:
        * v0: Initial version.
    """

    free_text_actions = False

    def __init__(
        self,
        *,
        corpus_seed: int = 0,
        people: int = 60,
        top_k: int = 3,
        max_searches: int = 6,
        expose_ground_truth: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if people < 4:
            raise InvalidArgumentError(f"people must be at least 4, got {people}")
        if top_k < 1:
            raise InvalidArgumentError(f"top_k must be at least 1, got {top_k}")
        if max_searches < 0:
            raise InvalidArgumentError(f"max_searches must be >= 0, got {max_searches}")
        bm25s = require("bm25s", "search", "SearchQA")
        self.world = build_world(corpus_seed, people)
        self.top_k = top_k
        self.max_searches = max_searches
        self.expose_ground_truth = expose_ground_truth
        self._bm25s = bm25s
        self.index = bm25s.BM25()
        self.index.index(self._tokens(list(self.world.documents)), show_progress=False)
        self.question = Question("", "", ())
        self._searches = 0
        self._f1 = 0.0

    def _tokens(self, texts: list[str]) -> Any:
        return self._bm25s.tokenize(texts, stopwords="en", show_progress=False)

    def search(self, query: str) -> list[str]:
        """The ``top_k`` documents for ``query`` (those with a positive BM25 score)."""
        documents, scores = self.index.retrieve(
            self._tokens([query]), k=min(self.top_k, len(self.world.documents)), show_progress=False
        )
        return [
            self.world.documents[int(d)]
            for d, s in zip(documents[0], scores[0], strict=True)
            if s > 0
        ]

    def results_text(self, query: str) -> str:
        """What a search shows: the documents of :meth:`search`, numbered, or "No results."."""
        documents = self.search(query)
        return "\n".join(f"[{k + 1}] {doc}" for k, doc in enumerate(documents)) or "No results."

    def _reset(self, options: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
        self.question = make_question(self.world, self.np_random)
        self._searches = 0
        self._f1 = 0.0
        info: dict[str, Any] = {"instruction": self._instruction()}
        self._add_ground_truth(info)
        return f"Question: {self.question.text}", info

    def _parse_action(self, text: str) -> tuple[str, str]:
        match = _ACTION.fullmatch(text.strip())
        if match is None:
            raise InvalidAction(f"{shorten(text)} is not search[query] or answer[text]")
        kind, argument = match.group(1).lower(), match.group(2).strip()
        if not argument:
            raise InvalidAction(f"{kind}[] needs text inside the brackets")
        if kind == "search" and self._searches >= self.max_searches:
            raise InvalidAction(f"all {self.max_searches} searches are used; answer now")
        return kind, argument

    def _step(self, action: tuple[str, str]) -> Transition:
        kind, argument = action
        info: dict[str, Any] = {}
        self._add_ground_truth(info)
        if kind == "answer":
            self._f1 = word_f1(argument, self.question.answer)
            return Transition(f"You answered: {argument}", self._f1, True, info)
        self._searches += 1
        listing = self.results_text(argument)
        left = self.max_searches - self._searches
        text = (
            f"Results for {argument!r}:\n{listing}\n\n({left} searches left) "
            f"Question: {self.question.text}"
        )
        return Transition(text, 0.0, False, info)

    def _invalid_transition(self, reason: str) -> Transition:
        info: dict[str, Any] = {}
        self._add_ground_truth(info)
        return Transition(
            f"Invalid action: {reason}.\n\nQuestion: {self.question.text}", 0.0, False, info
        )

    def _success(self) -> bool:
        return self._f1 == 1.0

    def _metrics(self) -> dict[str, float]:
        return {"f1": self._f1, "searches": float(self._searches)}

    def oracle_action(self) -> str:
        """Search each hop's entity in turn, then answer (privileged)."""
        if self._searches < len(self.question.hops) and self._searches < self.max_searches:
            return f"search[{self.question.hops[self._searches]}]"
        return f"answer[{self.question.answer}]"

    @property
    def max_return(self) -> float:
        """A correct answer."""
        return 1.0

    def _instruction(self) -> str:
        return (
            "Answer the question using a search engine over a private encyclopedia about "
            "people, cities and companies you have never heard of. Reply with exactly one "
            "action: search[your query] to see the best-matching entries, or answer[your "
            f"answer] to finish. You may search up to {self.max_searches} times."
        )

    def _add_ground_truth(self, info: dict[str, Any]) -> None:
        if self.expose_ground_truth:
            info["ground_truth"] = self.question.answer
            info["answer_template"] = "answer[{answer}]"

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_bm25s", None)  # a module; re-imported on unpickling
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        import bm25s

        self.__dict__.update(state)
        self._bm25s = bm25s
