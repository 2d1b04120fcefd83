"""Backends: OpenAI-compatible HTTP, litellm, the embedded llama.cpp model, vLLM in-process.

Each module imports its heavy dependency only when a backend is constructed.
"""
