"""The LLM runtime: models, batched generation, prompting, chat-template checks, LLM agents.

:class:`~palaestra.llm.hf_agent.HFAgent` runs a local ``transformers`` model (the trainer's
policy); :class:`~palaestra.llm.openai_agent.OpenAIChatAgent` talks to any
OpenAI-compatible server. Both implement :class:`palaestra.agents.BatchAgent`, so
:func:`palaestra.rollout.play` drives them like any other agent.
"""
