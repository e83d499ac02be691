"""Backends: where an answer's text comes from.

``base`` holds the interface (``Backend.stream`` yields text pieces for chat messages); ``llama``
runs a local GGUF through llama-cpp-python, ``anthropic`` calls Claude (hybrid mode only),
``openai`` talks to an OpenAI-compatible model server you run (vLLM, llama.cpp's server, TGI;
local when ``privacy.trusted_hosts`` lists it, else treated like Claude), and ``fake`` replays
queued replies for tests. ``sending`` is what the two remote ones share: the last privacy gate
on the exact request bytes and the per-attempt record for the audit log. Nothing is imported
here so that importing the package never pulls in llama_cpp, an HTTP client or the anthropic SDK.
"""
