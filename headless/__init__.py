"""ComfyUI without its web server: find a checkout, import it, load the pack, run workflows (the headless runner
behind ``scripts/run_workflow.py``), and the demo mode's tiny random weights and stand-in nodes.

Imports ComfyUI only when asked (``comfy_session.import_comfyui``); never imported by the pack itself.
"""
