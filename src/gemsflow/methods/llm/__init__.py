"""LLM branch: text embeddings, hidden states, prompts, letter scoring backends, agentic CoT, LoRA.

Heavy dependencies (transformers, sentence-transformers, peft, vLLM, openai) are imported inside the
functions that need them, so that importing a module here stays cheap.
"""
