"""Backends: where an answer's text comes from.

``base`` holds the interface (``Backend.stream`` yields text pieces for chat messages); ``llama``
runs a local GGUF through llama-cpp-python, ``anthropic`` calls Claude (hybrid mode only), and
``fake`` replays queued replies for tests. Nothing is imported here so that importing the package
never pulls in llama_cpp or the anthropic SDK.
"""
