"""Multi-turn RL algorithms for LLM agents."""
