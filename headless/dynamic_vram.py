"""Dynamic VRAM (comfy-aimdo) switched on the way the host's own ``main.py`` does, for headless sessions on GPUs.

ComfyUI 0.16 and newer turn it on by default on NVIDIA (and recent ROCm): weights stay in RAM and are cast per use
into shared buffers. A headless session that skipped this would test and run another memory model than users get.
Hosts without it (0.3.64) and CPU sessions are left alone. Everything is feature-detected, never version-parsed.
"""

from __future__ import annotations

import logging

log = logging.getLogger("diffsensei")


def before_model_management(args) -> bool:
    """Phase 1, before ``comfy.model_management`` is imported: initialise comfy-aimdo when this host enables it.
    Returns whether phase 2 should run."""
    try:
        from comfy.cli_args import enables_dynamic_vram
    except ImportError:  # a host before dynamic VRAM
        return False
    if not enables_dynamic_vram():  # CPU mode, --disable-dynamic-vram, --highvram, …
        return False
    import comfy_aimdo.control

    headroom = None if getattr(args, "reserve_vram", None) is None else int(args.reserve_vram * 1024 ** 3)
    pressure = not getattr(args, "disable_nvml_pressure", False)
    for kwargs in ({"simple_vram_headroom": headroom, "nvml_pressure": pressure}, {"simple_vram_headroom": headroom},
                   {}):  # the protocols of comfy-aimdo 0.4.11+, 0.4.10, 0.4.9
        try:
            comfy_aimdo.control.init(**kwargs)
            return True
        except TypeError:
            continue
    return False


def after_model_management(args) -> bool:
    """Phase 2: per-device set-up and the dynamic ModelPatcher as ComfyUI's core patcher. Returns whether it is on."""
    import comfy.memory_management
    import comfy.model_management as mm
    import comfy.model_patcher
    import comfy_aimdo.control

    supported = mm.is_nvidia() or (mm.is_amd() and getattr(mm, "rocm_version", (0, 0)) >= (7, 14))
    if not (getattr(args, "enable_dynamic_vram", False) or supported) or mm.torch_version_numeric < (2, 8):
        log.info("dynamic VRAM not supported here; ComfyUI's legacy model loading is used")
        return False
    devices = mm.get_all_torch_devices()
    try:
        ready = comfy_aimdo.control.init_devices((d.index, int(args.vram_headroom * 1024 ** 3)) for d in devices)
    except TypeError:  # comfy-aimdo 0.4.9
        ready = comfy_aimdo.control.init_devices(d.index for d in devices)
    if not ready:
        log.warning("comfy-aimdo did not initialise; ComfyUI's legacy model loading is used")
        return False
    comfy.model_patcher.CoreModelPatcher = comfy.model_patcher.ModelPatcherDynamic  # what main.py does
    comfy.memory_management.aimdo_enabled = True
    log.info("dynamic VRAM on, as ComfyUI's main.py turns it on")
    return True
