"""Peak memory of DiffSensei's MLLM stage for each precision / placement option.

* With a CUDA GPU and ``--mllm <path to the release's mllm/ folder>``: loads the real LLM + resamplers per option
  (bf16, fp16, and 8-bit / 4-bit when bitsandbytes is installed), runs the stage once on random character tokens and
  prints ``torch.cuda.max_memory_allocated`` — the peak the MLLM node adds. Each option runs in its own process.
* Without a GPU (or with ``--cpu``): the same stage on a scaled-down LLaMA (``--hidden``, ``--layers``; real
  vocabulary size, real 2048-wide tokens, 64 image tokens) written to a temporary folder and loaded through the
  pack's loader; prints the peak resident set size (RSS) of each process, and the weight bytes of the scaled model.

In a ComfyUI graph the LLM is unloaded before the UNet is loaded when memory is short, so the full panel's peak is
about max(MLLM stage, UNet + encoders stage); the UNet stage is measured by the panel benchmarks.

    python benchmarks/mllm_memory.py                      # CPU, scaled-down config
    python benchmarks/mllm_memory.py --mllm /models/diffsensei/mllm   # GPU, the release
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TOKEN_DIM = 2048
VOCAB = 32330


def write_scaled_mllm(root: Path, hidden: int, layers: int) -> None:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from diffsensei_core.mllm.qwen_resampler import QwenResampler
    from diffsensei_core.mllm.template import BOI, EOI, IMAGE_TOKEN

    words = ["<unk>", "<s>", "</s>", "\n", *(f"▁w{i}" for i in range(200))]
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    wrapped.add_tokens([BOI, EOI, *(IMAGE_TOKEN.format(i) for i in range(100))], special_tokens=True)
    wrapped.save_pretrained(str(root / "tokenizer"))
    config = LlamaConfig(hidden_size=hidden, intermediate_size=hidden * 27 // 10, num_hidden_layers=layers,
                         num_attention_heads=hidden // 128, num_key_value_heads=hidden // 128, vocab_size=VOCAB)
    LlamaForCausalLM(config).save_pretrained(str(root / "llm"))
    state = {}
    for prefix, embed, kv in (("input_resampler.", hidden, TOKEN_DIM), ("output_resampler.", TOKEN_DIM, hidden)):
        module = QwenResampler(grid=8, embed_dim=embed, kv_dim=kv, heads=32)
        state.update({prefix + k: v.clone() for k, v in module.state_dict().items()})
    (root / "agent").mkdir(parents=True)
    torch.save(state, root / "agent" / "pytorch_model.bin")


def peak_rss_gib() -> float:
    """VmHWM of this process (ru_maxrss would include the parent's peak, inherited across fork + exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def run_option(folder: str, precision: str, device: str) -> dict:
    """One option, in this process: load, adapt once, report peaks."""
    import torch

    from diffsensei_core.mllm import adapt_character_tokens, build_prompt, load_agent, load_llm, load_tokenizer

    dtypes = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
    quantization = {"8bit": "8bit", "4bit": "4bit"}.get(precision)
    dtype = dtypes.get(precision, torch.float16)
    import transformers  # noqa: F401  (imported before the baseline is taken)

    root = Path(folder)
    baseline = peak_rss_gib()
    start = time.perf_counter()
    tokenizer = load_tokenizer(root / "tokenizer")
    agent = load_agent(root / "agent").to(device, dtype)
    llm = load_llm(root / "llm", dtype=dtype, quantization=quantization, device=device)
    if quantization is None:
        llm = llm.to(device)
    loaded = time.perf_counter()
    prompt = build_prompt(tokenizer, "a girl with long hair smiles at the boy who runs across the street")
    boi = tokenizer.convert_tokens_to_ids(BOI_TOKEN)
    llm.lm_head.register_forward_hook(lambda module, args, out: _prefer(out, boi))
    characters = torch.randn(1, 64, agent.token_dim, device=device)
    result = adapt_character_tokens(llm, agent, prompt, characters, device=device)
    done = time.perf_counter()
    report = {"precision": precision, "device": device, "load_s": round(loaded - start, 2),
              "adapt_s": round(done - loaded, 2), "tokens": list(result.tokens.shape),
              "weights_gib": round(sum(p.numel() * p.element_size() for p in llm.parameters()) / 2**30, 3)}
    if device.startswith("cuda"):
        report["peak_gpu_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    report["peak_rss_gib"] = round(peak_rss_gib(), 2)
    report["base_rss_gib"] = round(baseline, 2)
    return report


BOI_TOKEN = "<img>"


def _prefer(logits, token_id):
    """Make the random scaled model answer <img> at once (the released model does so by itself)."""
    logits = logits.clone()
    logits[..., token_id] = logits.max() + 10
    return logits


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} threads)"
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mllm", help="the release's mllm/ folder (GPU mode)")
    parser.add_argument("--cpu", action="store_true", help="force the CPU mode")
    parser.add_argument("--hidden", type=int, default=1024, help="scaled-down LLM width (CPU mode)")
    parser.add_argument("--layers", type=int, default=8, help="scaled-down LLM depth (CPU mode)")
    parser.add_argument("--_child", nargs=3, metavar=("FOLDER", "PRECISION", "DEVICE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._child:
        print(json.dumps(run_option(*args._child)))
        return 0

    import importlib.util

    import torch

    gpu = torch.cuda.is_available() and not args.cpu
    if gpu and not args.mllm:
        parser.error("GPU mode needs --mllm (the release's mllm/ folder); use --cpu for the scaled-down run")
    precisions = ["bf16", "fp16"] + (["8bit", "4bit"] if gpu and importlib.util.find_spec("bitsandbytes") else [])
    if not gpu:
        precisions = ["fp32", "bf16", "fp16"]
    machine = torch.cuda.get_device_name() if gpu else cpu_name()
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.mllm
        if folder is None:
            folder = str(Path(scratch) / "mllm")
            write_scaled_mllm(Path(folder), args.hidden, args.layers)
            print(f"scaled-down LLaMA: hidden {args.hidden}, {args.layers} layers, vocabulary {VOCAB}")
        print(f"machine: {machine}; torch {torch.__version__}")
        print(f"{'precision':>10} {'device':>7} {'weights GiB':>12} {'peak GPU GiB':>13} {'base RSS GiB':>13} "
              f"{'peak RSS GiB':>13} {'load s':>7} {'adapt s':>8}")
        for precision in precisions:
            device = "cuda" if gpu else "cpu"
            proc = subprocess.run([sys.executable, __file__, "--_child", folder, precision, device],
                                  capture_output=True, text=True, cwd=REPO)
            if proc.returncode:
                print(f"{precision:>10} failed: {proc.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"{r['precision']:>10} {r['device']:>7} {r['weights_gib']:>12} {r.get('peak_gpu_gib', '-'):>13} "
                  f"{r['base_rss_gib']:>13} {r['peak_rss_gib']:>13} {r['load_s']:>7} {r['adapt_s']:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
