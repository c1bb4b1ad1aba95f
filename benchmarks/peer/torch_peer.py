"""PyTorch peer of the engine benchmarks: the same models, shapes and measurements on PyTorch
(float32, CPU or CUDA), driven line by line from benchmarks/micro/peer.ts so that its rounds
interleave with the engine's in one invocation.

Protocol: one JSON command per stdin line, one JSON answer per stdout line (logs go to stderr).
  {"cmd": "setup", "model": "gpt" | "qwen2", "config": {...}, "seed": 0, "device": "cpu" | "cuda"}
      builds the model from its config with random weights (no download, no checkpoint)
  {"cmd": "logprobs", "batch": B, "time": T}   teacher-forced log-probs + entropy of B x T tokens
  {"cmd": "train", "batch": B, "time": T}      forward + backward of sum(w * logp) over B x T tokens
  {"cmd": "decode", "batch": B, "context": C, "steps": N}
      greedy KV-cache decoding: one row of C tokens is prefilled (not timed), its cache repeated
      to B rows, then N steps are timed (each: one token per row, argmax and its log-prob)
  {"cmd": "rollout", "batch": B, "prompt": P, "new": N}
      greedy rollout as the engine benchmark times it: prefill of B x P tokens, then N - 1 steps
  {"cmd": "quit"}
Every answer has "seconds" (wall time of the measured part), "cpuSeconds" (CPU time of all the
process's threads during the whole command, untimed set-up included) and "peakRssMiB" (the
process's peak resident memory during the command: the kernel's high-water mark is reset before
it).

The GPT is a transcription of harness/engine/models/gpt.ts (token + learned position
embeddings, pre-norm LayerNorm blocks, causal attention, tanh-GELU MLP, final LayerNorm, head
tied to the token embedding); it uses PyTorch's fused scaled_dot_product_attention, its
strongest CPU path. The Qwen2 model is transformers' Qwen2ForCausalLM, run through its forward
with a DynamicCache (generate() would only add overhead).
"""

import json
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def log(msg):
    print(f"[torch-peer] {msg}", file=sys.stderr, flush=True)


def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss_mib():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Block(nn.Module):
    def __init__(self, d, h, mlp):
        super().__init__()
        self.h = h
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.fc = nn.Linear(d, mlp * d)
        self.out = nn.Linear(mlp * d, d)

    def forward(self, x, cache=None, pos=0):
        B, T, D = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(D, dim=-1)
        heads = lambda t: t.view(B, T, self.h, D // self.h).transpose(1, 2)
        q, k, v = heads(q), heads(k), heads(v)
        if cache is None:
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            kc, vc = cache
            kc[:, :, pos : pos + T] = k
            vc[:, :, pos : pos + T] = v
            # A prompt attends causally; a single new column sees every cached one.
            o = F.scaled_dot_product_attention(q, kc[:, :, : pos + T], vc[:, :, : pos + T], is_causal=T > 1)
        x = x + self.proj(o.transpose(1, 2).reshape(B, T, D))
        return x + self.out(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class Gpt(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg["dModel"]
        self.cfg = cfg
        self.wte = nn.Embedding(cfg["vocabSize"], d)
        self.wpe = nn.Embedding(cfg["contextLength"], d)
        self.blocks = nn.ModuleList([Block(d, cfg["nHeads"], cfg["mlpRatio"]) for _ in range(cfg["nLayers"])])
        self.lnf = nn.LayerNorm(d)
        for n, p in self.named_parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, ids, caches=None, pos=0):
        T = ids.shape[1]
        x = self.wte(ids) + self.wpe(torch.arange(pos, pos + T, device=ids.device))
        for i, b in enumerate(self.blocks):
            x = b(x, None if caches is None else caches[i], pos)
        return x

    def logits(self, h):
        return self.lnf(h) @ self.wte.weight.t()

    def new_cache(self, batch, length):
        d, H = self.cfg["dModel"], self.cfg["nHeads"]
        dev = self.wte.weight.device
        return [(torch.zeros(batch, H, length, d // H, device=dev), torch.zeros(batch, H, length, d // H, device=dev)) for _ in self.blocks]


class Peer:
    def __init__(self):
        self.model = None
        self.kind = None
        self.vocab = 0
        self.gen = torch.Generator().manual_seed(0)
        self.device = "cpu"

    def tokens(self, b, t):
        return torch.randint(0, self.vocab, (b, t), generator=self.gen).to(self.device)

    def now(self):
        # CUDA runs asynchronously: a time is taken only once the queued work has finished.
        if self.device != "cpu":
            torch.cuda.synchronize()
        return time.perf_counter()

    def setup(self, msg):
        torch.manual_seed(msg.get("seed", 0))
        cfg = msg["config"]
        self.kind = msg["model"]
        if self.kind == "gpt":
            self.model = Gpt(cfg)
            self.vocab = cfg["vocabSize"]
        elif self.kind == "qwen2":
            from transformers import Qwen2Config, Qwen2ForCausalLM

            conf = Qwen2Config(**cfg)
            conf._attn_implementation = "sdpa"
            self.model = Qwen2ForCausalLM(conf)
            self.vocab = conf.vocab_size
        else:
            raise ValueError(f"unknown model {self.kind}")
        self.device = msg.get("device", "cpu")
        self.model.float().eval().to(self.device)
        n = sum(p.numel() for p in self.model.parameters())
        return {"params": n}

    def full_logits(self, ids):
        if self.kind == "gpt":
            return self.model.logits(self.model(ids))
        return self.model(input_ids=ids, use_cache=False).logits

    def logprobs(self, msg):
        ids = self.tokens(msg["batch"], msg["time"] + 1)
        with torch.inference_mode():
            t0 = self.now()
            ls = torch.log_softmax(self.full_logits(ids[:, :-1]), -1)
            logp = ls.gather(-1, ids[:, 1:, None]).squeeze(-1)
            entropy = -(ls.exp() * ls).sum(-1)
            float(logp.sum() + entropy.sum())
            return self.now() - t0

    def train(self, msg):
        B, T = msg["batch"], msg["time"]
        ids = self.tokens(B, T + 1)
        w = torch.full((B, T), -1.0 / (B * T), device=self.device)
        self.model.zero_grad(set_to_none=True)
        t0 = self.now()
        ls = torch.log_softmax(self.full_logits(ids[:, :-1]), -1)
        value = (w * ls.gather(-1, ids[:, 1:, None]).squeeze(-1)).sum()
        value.backward()
        seconds = self.now() - t0
        self.model.zero_grad(set_to_none=True)
        return seconds

    def pick(self, logits):
        tok = logits.argmax(-1)
        logp = torch.log_softmax(logits, -1).gather(-1, tok[:, None])
        return tok, logp

    def decode(self, msg):
        from transformers import DynamicCache

        B, C, N = msg["batch"], msg["context"], msg["steps"]
        with torch.inference_mode():
            cache = DynamicCache(config=self.model.config)
            out = self.model(input_ids=self.tokens(1, C), past_key_values=cache, use_cache=True, logits_to_keep=1)
            cache = out.past_key_values
            cache.batch_repeat_interleave(B)
            tok, _ = self.pick(out.logits[:, -1].expand(B, -1))
            t0 = self.now()
            for _ in range(N):
                out = self.model(input_ids=tok[:, None], past_key_values=cache, use_cache=True)
                tok, logp = self.pick(out.logits[:, -1])
            float(logp.sum())
            return self.now() - t0

    def rollout(self, msg):
        B, P, N = msg["batch"], msg["prompt"], msg["new"]
        prompt = self.tokens(B, P)
        m = self.model
        with torch.inference_mode():
            t0 = self.now()
            caches = m.new_cache(B, P + N)
            tok, _ = self.pick(m.logits(m(prompt, caches, 0)[:, -1]))
            for k in range(N - 1):
                tok, logp = self.pick(m.logits(m(tok[:, None], caches, P + k)[:, -1]))
            float(tok.sum())
            return self.now() - t0


def main():
    threads = int(os.environ.get("PEER_THREADS", "0")) or os.cpu_count()
    torch.set_num_threads(threads)
    import transformers

    peer = Peer()
    print(json.dumps({"ready": True, "torch": torch.__version__, "transformers": transformers.__version__, "threads": torch.get_num_threads(), "mkl": torch.backends.mkl.is_available()}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        msg = json.loads(line)
        cmd = msg.get("cmd")
        if cmd == "quit":
            break
        try:
            reset_peak()
            if cmd == "setup":
                ans = peer.setup(msg)
            elif cmd in ("logprobs", "train", "decode", "rollout"):
                c0 = time.process_time()
                ans = {"seconds": getattr(peer, cmd)(msg)}
                ans["cpuSeconds"] = time.process_time() - c0
            else:
                raise ValueError(f"unknown command {cmd}")
            ans["peakRssMiB"] = peak_rss_mib()
        except Exception as e:  # reported to the bench, which prints n/a for this item
            ans = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(ans), flush=True)


if __name__ == "__main__":
    main()
