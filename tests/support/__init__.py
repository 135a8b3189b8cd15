"""Test support shared by the test groups and benchmarks: random models, example assets, a live ComfyUI server.

Nothing here is part of the pack; the runner's own modules (session, demo weights) live in ``headless/``.
"""
