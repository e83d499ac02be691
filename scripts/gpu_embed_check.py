"""GPU check: the Embedder on CUDA vs CPU with the same weights (agreement and chunks/s).

Run on a machine with a CUDA build of PyTorch: ``python scripts/gpu_embed_check.py [MODEL_DIR]``.
Prints whether the default device picks CUDA, the lowest cosine between GPU and CPU vectors,
and the encode rate of each.
"""

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from appliance.embedding import Embedder

out = {
    "torch": torch.__version__,
    "cuda": torch.cuda.is_available(),
    "device_name": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
}
rng = np.random.default_rng(0)
vocab = (
    "lease rent deposit tenant landlord clinic patient revenue quarter policy staff leave "
    "insurance premises notice period annual report cash flow operating margin balance".split()
)
texts = [" ".join(rng.choice(vocab, 150)) for _ in range(4000)]
model = Path(sys.argv[1]) if len(sys.argv) > 1 else None  # None: the bundled model
auto = Embedder(model)  # device=None: what users get by default
out["auto_device"] = str(auto.model.device)
gpu = Embedder(model, device="cuda")
cpu = Embedder(model, device="cpu")
sample = texts[:256]
a, b = gpu.encode(sample), cpu.encode(sample)
out["min_cosine_gpu_vs_cpu"] = float((a * b).sum(1).min())
for name, emb, n in (("cuda", gpu, 4000), ("cpu", cpu, 512)):
    emb.encode(texts[:64])
    if name == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    emb.encode(texts[:n], batch_size=128 if name == "cuda" else 32)
    if name == "cuda":
        torch.cuda.synchronize()
    out[f"{name}_chunks_per_s"] = round(n / (time.perf_counter() - t), 1)
print(json.dumps(out, indent=1))
Path(os.environ.get("OUT", "/tmp"), "gpu_embed.json").write_text(json.dumps(out, indent=1))
