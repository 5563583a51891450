"""SearchQA: multi-hop questions over a generated corpus, with a BM25 search tool."""

from palaestra.envs.searchqa.corpus import Question, World, build_world, make_question
from palaestra.envs.searchqa.env import SearchQAEnv, word_f1

__all__ = ["Question", "SearchQAEnv", "World", "build_world", "make_question", "word_f1"]
