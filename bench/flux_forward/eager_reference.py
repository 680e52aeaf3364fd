#!/usr/bin/python3
"""PyTorch-eager FLUX transformer: the baseline genplug's C++ forward is compared against (issue 18).

Our own code with the module structure of Black Forest Labs' reference (github.com/black-forest-labs/flux,
flux/model.py, flux/modules/layers.py, flux/math.py): EmbedND/rope, MLPEmbedder, RMSNorm/QKNorm, Modulation,
DoubleStreamBlock, SingleStreamBlock, LastLayer, Flux.forward. Written for Debian's python3-torch (torch 1.13,
no F.scaled_dot_product_attention): attention is the plain softmax(q k^T / sqrt(d)) v. Needs only torch and
numpy (safetensors files are read by the small reader below).

  /usr/bin/python3 bench/flux_forward/eager_reference.py --check-golden [DIR]
      forward on the tiny golden model (DIR: $GENPLUG_GOLDEN_DIR/flux, else tests/golden/flux), prints the
      error vs the stored BFL output, exits 1 above the bound.
  /usr/bin/python3 bench/flux_forward/eager_reference.py --bench [--hidden 1024 --heads 8 ...]
      times the forward with random fp32 weights; same flags, defaults and JSON fields as build/bin/flux_forward.
"""
import argparse
import ctypes
import json
import math
import os
import resource
import struct
import sys
import time

import numpy as np
import torch
from torch import nn

# ---------------------------------------------------------------------------------------------------------
# Minimal safetensors reader: u64 little-endian header length, JSON header, raw little-endian data.

_NP_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
              "I8": "i1", "U8": "u1", "BOOL": "?"}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_len].decode("utf-8"))
    base = 8 + header_len
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = data[base + begin:base + end]
        shape = list(info["shape"])
        dtype = info["dtype"]
        if dtype == "BF16":  # the top 16 bits of a float32
            bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            tensor = torch.from_numpy(bits.view(np.float32).copy()).to(torch.bfloat16)
        elif dtype in _NP_DTYPES:
            tensor = torch.from_numpy(np.frombuffer(raw, dtype=_NP_DTYPES[dtype]).copy())
        else:
            raise ValueError(f"{path}: {name}: unsupported dtype {dtype}")
        if tensor.numel() != int(np.prod(shape, dtype=np.int64)):
            raise ValueError(f"{path}: {name}: {tensor.numel()} elements for shape {shape}")
        out[name] = tensor.reshape(shape)
    return out


# ---------------------------------------------------------------------------------------------------------
# flux/math.py


def attention(q, k, v, pe):
    q, k = apply_rope(q, k, pe)
    # torch 1.13 has no F.scaled_dot_product_attention: the formula it computes (no mask, no dropout).
    scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
    x = torch.matmul(torch.softmax(scores, dim=-1), v)
    b, h, l, d = x.shape
    return x.permute(0, 2, 1, 3).reshape(b, l, h * d)  # "B H L D -> B L (H D)"


def rope(pos, dim, theta):
    assert dim % 2 == 0
    scale = torch.arange(0, dim, 2, dtype=pos.dtype, device=pos.device) / dim
    omega = 1.0 / (theta ** scale)
    out = pos.unsqueeze(-1) * omega  # einsum("...n,d->...nd")
    out = torch.stack([torch.cos(out), -torch.sin(out), torch.sin(out), torch.cos(out)], dim=-1)
    return out.reshape(*out.shape[:-1], 2, 2).float()  # "b n d (i j) -> b n d i j"


def apply_rope(xq, xk, freqs_cis):
    xq_ = xq.float().reshape(*xq.shape[:-1], -1, 1, 2)
    xk_ = xk.float().reshape(*xk.shape[:-1], -1, 1, 2)
    xq_out = freqs_cis[..., 0] * xq_[..., 0] + freqs_cis[..., 1] * xq_[..., 1]
    xk_out = freqs_cis[..., 0] * xk_[..., 0] + freqs_cis[..., 1] * xk_[..., 1]
    return xq_out.reshape(*xq.shape).type_as(xq), xk_out.reshape(*xk.shape).type_as(xk)


# ---------------------------------------------------------------------------------------------------------
# flux/modules/layers.py


class EmbedND(nn.Module):
    def __init__(self, dim, theta, axes_dim):
        super().__init__()
        self.dim = dim
        self.theta = theta
        self.axes_dim = axes_dim

    def forward(self, ids):
        n_axes = ids.shape[-1]
        emb = torch.cat([rope(ids[..., i], self.axes_dim[i], self.theta) for i in range(n_axes)], dim=-3)
        return emb.unsqueeze(1)


def timestep_embedding(t, dim, max_period=10000, time_factor=1000.0):
    t = time_factor * t
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(start=0, end=half, dtype=torch.float32) / half).to(
        t.device)
    args = t[:, None].float() * freqs[None]
    embedding = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        embedding = torch.cat([embedding, torch.zeros_like(embedding[:, :1])], dim=-1)
    if torch.is_floating_point(t):
        embedding = embedding.to(t)
    return embedding


class MLPEmbedder(nn.Module):
    def __init__(self, in_dim, hidden_dim):
        super().__init__()
        self.in_layer = nn.Linear(in_dim, hidden_dim, bias=True)
        self.silu = nn.SiLU()
        self.out_layer = nn.Linear(hidden_dim, hidden_dim, bias=True)

    def forward(self, x):
        return self.out_layer(self.silu(self.in_layer(x)))


class RMSNorm(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        x_dtype = x.dtype
        x = x.float()
        rrms = torch.rsqrt(torch.mean(x ** 2, dim=-1, keepdim=True) + 1e-6)
        return (x * rrms).to(dtype=x_dtype) * self.scale


class QKNorm(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.query_norm = RMSNorm(dim)
        self.key_norm = RMSNorm(dim)

    def forward(self, q, k, v):
        q = self.query_norm(q)
        k = self.key_norm(k)
        return q.to(v), k.to(v)


def split_qkv(qkv, num_heads):
    """"B L (K H D) -> K B H L D" with K = 3."""
    b, l, _ = qkv.shape
    qkv = qkv.reshape(b, l, 3, num_heads, -1).permute(2, 0, 3, 1, 4)
    return qkv[0], qkv[1], qkv[2]


class SelfAttention(nn.Module):
    def __init__(self, dim, num_heads=8, qkv_bias=False):
        super().__init__()
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.norm = QKNorm(head_dim)
        self.proj = nn.Linear(dim, dim)


class ModulationOut:
    def __init__(self, shift, scale, gate):
        self.shift, self.scale, self.gate = shift, scale, gate


class Modulation(nn.Module):
    def __init__(self, dim, double):
        super().__init__()
        self.is_double = double
        self.multiplier = 6 if double else 3
        self.lin = nn.Linear(dim, self.multiplier * dim, bias=True)

    def forward(self, vec):
        out = self.lin(nn.functional.silu(vec))[:, None, :].chunk(self.multiplier, dim=-1)
        return ModulationOut(*out[:3]), ModulationOut(*out[3:]) if self.is_double else None


class DoubleStreamBlock(nn.Module):
    def __init__(self, hidden_size, num_heads, mlp_ratio, qkv_bias=False):
        super().__init__()
        mlp_hidden_dim = int(hidden_size * mlp_ratio)
        self.num_heads = num_heads
        self.hidden_size = hidden_size
        self.img_mod = Modulation(hidden_size, double=True)
        self.img_norm1 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.img_attn = SelfAttention(dim=hidden_size, num_heads=num_heads, qkv_bias=qkv_bias)
        self.img_norm2 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.img_mlp = nn.Sequential(nn.Linear(hidden_size, mlp_hidden_dim, bias=True), nn.GELU(approximate="tanh"),
                                     nn.Linear(mlp_hidden_dim, hidden_size, bias=True))
        self.txt_mod = Modulation(hidden_size, double=True)
        self.txt_norm1 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.txt_attn = SelfAttention(dim=hidden_size, num_heads=num_heads, qkv_bias=qkv_bias)
        self.txt_norm2 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.txt_mlp = nn.Sequential(nn.Linear(hidden_size, mlp_hidden_dim, bias=True), nn.GELU(approximate="tanh"),
                                     nn.Linear(mlp_hidden_dim, hidden_size, bias=True))

    def forward(self, img, txt, vec, pe):
        img_mod1, img_mod2 = self.img_mod(vec)
        txt_mod1, txt_mod2 = self.txt_mod(vec)

        img_modulated = self.img_norm1(img)
        img_modulated = (1 + img_mod1.scale) * img_modulated + img_mod1.shift
        img_q, img_k, img_v = split_qkv(self.img_attn.qkv(img_modulated), self.num_heads)
        img_q, img_k = self.img_attn.norm(img_q, img_k, img_v)

        txt_modulated = self.txt_norm1(txt)
        txt_modulated = (1 + txt_mod1.scale) * txt_modulated + txt_mod1.shift
        txt_q, txt_k, txt_v = split_qkv(self.txt_attn.qkv(txt_modulated), self.num_heads)
        txt_q, txt_k = self.txt_attn.norm(txt_q, txt_k, txt_v)

        q = torch.cat((txt_q, img_q), dim=2)
        k = torch.cat((txt_k, img_k), dim=2)
        v = torch.cat((txt_v, img_v), dim=2)
        attn = attention(q, k, v, pe=pe)
        txt_attn, img_attn = attn[:, :txt.shape[1]], attn[:, txt.shape[1]:]

        img = img + img_mod1.gate * self.img_attn.proj(img_attn)
        img = img + img_mod2.gate * self.img_mlp((1 + img_mod2.scale) * self.img_norm2(img) + img_mod2.shift)
        txt = txt + txt_mod1.gate * self.txt_attn.proj(txt_attn)
        txt = txt + txt_mod2.gate * self.txt_mlp((1 + txt_mod2.scale) * self.txt_norm2(txt) + txt_mod2.shift)
        return img, txt


class SingleStreamBlock(nn.Module):
    def __init__(self, hidden_size, num_heads, mlp_ratio=4.0):
        super().__init__()
        self.hidden_dim = hidden_size
        self.num_heads = num_heads
        head_dim = hidden_size // num_heads
        self.scale = head_dim ** -0.5
        self.mlp_hidden_dim = int(hidden_size * mlp_ratio)
        self.linear1 = nn.Linear(hidden_size, hidden_size * 3 + self.mlp_hidden_dim)
        self.linear2 = nn.Linear(hidden_size + self.mlp_hidden_dim, hidden_size)
        self.norm = QKNorm(head_dim)
        self.hidden_size = hidden_size
        self.pre_norm = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.mlp_act = nn.GELU(approximate="tanh")
        self.modulation = Modulation(hidden_size, double=False)

    def forward(self, x, vec, pe):
        mod, _ = self.modulation(vec)
        x_mod = (1 + mod.scale) * self.pre_norm(x) + mod.shift
        qkv, mlp = torch.split(self.linear1(x_mod), [3 * self.hidden_size, self.mlp_hidden_dim], dim=-1)
        q, k, v = split_qkv(qkv, self.num_heads)
        q, k = self.norm(q, k, v)
        attn = attention(q, k, v, pe=pe)
        output = self.linear2(torch.cat((attn, self.mlp_act(mlp)), 2))
        return x + mod.gate * output


class LastLayer(nn.Module):
    def __init__(self, hidden_size, patch_size, out_channels):
        super().__init__()
        self.norm_final = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(hidden_size, patch_size * patch_size * out_channels, bias=True)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 2 * hidden_size, bias=True))

    def forward(self, x, vec):
        shift, scale = self.adaLN_modulation(vec).chunk(2, dim=1)
        x = (1 + scale[:, None, :]) * self.norm_final(x) + shift[:, None, :]
        return self.linear(x)


# ---------------------------------------------------------------------------------------------------------
# flux/model.py


class Flux(nn.Module):
    def __init__(self, params):
        super().__init__()
        self.params = params
        self.in_channels = params["in_channels"]
        self.out_channels = params["out_channels"]
        hidden, heads = params["hidden_size"], params["num_heads"]
        if hidden % heads != 0:
            raise ValueError(f"hidden_size {hidden} must be divisible by num_heads {heads}")
        pe_dim = hidden // heads
        if sum(params["axes_dim"]) != pe_dim:
            raise ValueError(f"sum(axes_dim) = {sum(params['axes_dim'])} must equal the head dim {pe_dim}")
        self.hidden_size = hidden
        self.num_heads = heads
        self.pe_embedder = EmbedND(dim=pe_dim, theta=params["theta"], axes_dim=params["axes_dim"])
        self.img_in = nn.Linear(self.in_channels, hidden, bias=True)
        self.time_in = MLPEmbedder(in_dim=256, hidden_dim=hidden)
        self.vector_in = MLPEmbedder(params["vec_in_dim"], hidden)
        self.guidance_in = MLPEmbedder(in_dim=256, hidden_dim=hidden) if params["guidance_embed"] else nn.Identity()
        self.txt_in = nn.Linear(params["context_in_dim"], hidden)
        self.double_blocks = nn.ModuleList([
            DoubleStreamBlock(hidden, heads, mlp_ratio=params["mlp_ratio"], qkv_bias=params["qkv_bias"])
            for _ in range(params["depth"])])
        self.single_blocks = nn.ModuleList([
            SingleStreamBlock(hidden, heads, mlp_ratio=params["mlp_ratio"])
            for _ in range(params["depth_single_blocks"])])
        self.final_layer = LastLayer(hidden, 1, self.out_channels)

    def forward(self, img, img_ids, txt, txt_ids, timesteps, y, guidance=None, pe=None):
        """pe: optional precomputed rotary table (replaces pe_embedder(ids), as the DyPE golden does)."""
        if img.ndim != 3 or txt.ndim != 3:
            raise ValueError("Input img and txt tensors must have 3 dimensions.")
        img = self.img_in(img)
        vec = self.time_in(timestep_embedding(timesteps, 256))
        if self.params["guidance_embed"]:
            if guidance is None:
                raise ValueError("Didn't get guidance strength for guidance distilled model.")
            vec = vec + self.guidance_in(timestep_embedding(guidance, 256))
        vec = vec + self.vector_in(y)
        txt = self.txt_in(txt)

        if pe is None:
            ids = torch.cat((txt_ids, img_ids), dim=1)
            pe = self.pe_embedder(ids)

        for block in self.double_blocks:
            img, txt = block(img=img, txt=txt, vec=vec, pe=pe)
        img = torch.cat((txt, img), 1)
        for block in self.single_blocks:
            img = block(img, vec=vec, pe=pe)
        img = img[:, txt.shape[1]:, ...]
        return self.final_layer(img, vec)


def load_weights(model, weights):
    """Copies a BFL-named state dict into the model; every parameter must be present, nothing left over."""
    own = dict(model.named_parameters())
    missing = sorted(set(own) - set(weights))
    unexpected = sorted(set(weights) - set(own))
    if missing or unexpected:
        raise KeyError(f"weights: missing {missing[:5]}, unexpected {unexpected[:5]}")
    with torch.no_grad():
        for name, p in own.items():
            if tuple(weights[name].shape) != tuple(p.shape):
                raise ValueError(f"{name}: shape {tuple(weights[name].shape)}, model wants {tuple(p.shape)}")
            p.copy_(weights[name])


# ---------------------------------------------------------------------------------------------------------
# --check-golden

# Bound on max|out - golden| / max|golden|. The golden output is float32 (flux_tiny_io.safetensors stores
# F32), computed by BFL's code in float32 on torch 1.13 CPU, and this forward is float32 too: the only
# differences allowed are rounding-order ones (a different BLAS/kernel path or summation order). Those are a
# few float32 ulps (eps = 1.2e-7) per op, growing over the ~50 sequential ops of the tiny model: the README
# measured a float64 run of the whole model 2.4e-7 abs from the float32 one (|out| ~ 0.3-2), i.e. ~1e-7
# relative. 1e-5 leaves two orders of magnitude for that, and is ~100x below the smallest real error the
# golden set is built to detect (DyPE vs plain RoPE tables: 4.1e-3 abs on the same output).
GOLDEN_REL_BOUND = 1e-5


def golden_dir(arg):
    if arg:
        return arg
    env = os.environ.get("GENPLUG_GOLDEN_DIR")
    if env:
        return os.path.join(env, "flux")
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "golden", "flux")


def rel_error(out, ref):
    out, ref = out.double(), ref.double()
    return float((out - ref).abs().max() / ref.abs().max()), float((out - ref).abs().max())


def check_golden(directory):
    with open(os.path.join(directory, "flux_tiny_info.json")) as f:
        params = json.load(f)["meta"]["params"]
    weights = read_safetensors(os.path.join(directory, "flux_tiny_bfl.safetensors"))
    io = read_safetensors(os.path.join(directory, "flux_tiny_io.safetensors"))
    torch.manual_seed(0)
    model = Flux(params).eval()
    load_weights(model, weights)
    with torch.no_grad():
        pe = model.pe_embedder(torch.cat((io["txt_ids"], io["img_ids"]), dim=1))
        guidance = io.get("guidance")  # absent where the set's model has no guidance embedding
        out = model(io["img"], io["img_ids"], io["txt"], io["txt_ids"], io["timesteps"], io["y"], guidance)
        # Same model fed the stored DyPE table (checks the pe injection path and the attention on other angles).
        dype_out = model(io["img"], io["img_ids"], io["txt"], io["txt_ids"], io["timesteps"], io["y"],
                         guidance, pe=io["dype.pe"])
    checks = [("out", out, io["out"]), ("pe_plain", pe, io["pe_plain"]), ("dype.out", dype_out, io["dype.out"])]
    ok = True
    for name, got, ref in checks:
        if tuple(got.shape) != tuple(ref.shape):
            print(f"{name}: shape {tuple(got.shape)} vs golden {tuple(ref.shape)}")
            ok = False
            continue
        rel, absolute = rel_error(got, ref)
        passed = rel <= GOLDEN_REL_BOUND
        ok = ok and passed
        print(json.dumps({"check": name, "max_rel_error": rel, "max_abs_error": absolute,
                          "bound": GOLDEN_REL_BOUND, "pass": passed, "golden_dtype": str(ref.dtype),
                          "dir": os.path.normpath(directory)}))
    return 0 if ok else 1


# ---------------------------------------------------------------------------------------------------------
# --bench: mirrors bench/flux_forward/main.cpp and flops.hpp


def weight_shapes(p):
    """Names and shapes in the order of genplug's flux_weight_shapes (presets.cpp)."""
    H, M = p["hidden_size"], int(p["hidden_size"] * p["mlp_ratio"])
    D = H // p["num_heads"]
    s = []

    def linear(name, out, inp, bias=True):
        s.append((name + ".weight", (out, inp)))
        if bias:
            s.append((name + ".bias", (out,)))

    def mlp_embedder(name, inp, hidden):
        linear(name + ".in_layer", hidden, inp)
        linear(name + ".out_layer", hidden, hidden)

    linear("img_in", H, p["in_channels"])
    mlp_embedder("time_in", 256, H)
    mlp_embedder("vector_in", p["vec_in_dim"], H)
    if p["guidance_embed"]:
        mlp_embedder("guidance_in", 256, H)
    linear("txt_in", H, p["context_in_dim"])
    for i in range(p["depth"]):
        for stream in ("img", "txt"):
            b = f"double_blocks.{i}.{stream}"
            linear(b + "_mod.lin", 6 * H, H)
            linear(b + "_attn.qkv", 3 * H, H, p["qkv_bias"])
            s.append((b + "_attn.norm.query_norm.scale", (D,)))
            s.append((b + "_attn.norm.key_norm.scale", (D,)))
            linear(b + "_attn.proj", H, H)
            linear(b + "_mlp.0", M, H)
            linear(b + "_mlp.2", H, M)
    for i in range(p["depth_single_blocks"]):
        b = f"single_blocks.{i}."
        linear(b + "linear1", 3 * H + M, H)
        linear(b + "linear2", H, H + M)
        s.append((b + "norm.query_norm.scale", (D,)))
        s.append((b + "norm.key_norm.scale", (D,)))
        linear(b + "modulation.lin", 3 * H, H)
    linear("final_layer.linear", p["out_channels"], H)
    linear("final_layer.adaLN_modulation.1", 2 * H, H)
    return s


def init_random_weights(model, p, seed, dtype):
    """As random_flux_weights (random_weights.cpp): one CPU generator seeded `seed`, float32 draws tensor by
    tensor in the same order (ones for *.scale, 0.02 randn for biases, randn/sqrt(fan_in) for weights), so the
    weights equal the C++ bench's. Copied one tensor at a time (no second full copy of the weights)."""
    gen = torch.Generator().manual_seed(seed)
    own = dict(model.named_parameters())
    names = [n for n, _ in weight_shapes(p)]
    if sorted(names) != sorted(own):
        raise KeyError("model parameters do not match the weight table")
    with torch.no_grad():
        for name, shape in weight_shapes(p):
            if name.endswith(".scale"):
                t = torch.ones(shape, dtype=torch.float32)
            elif name.endswith(".bias"):
                t = torch.randn(shape, generator=gen, dtype=torch.float32) * 0.02
            else:
                t = torch.randn(shape, generator=gen, dtype=torch.float32) * (1.0 / math.sqrt(shape[1]))
            own[name].copy_(t.to(dtype))


def attention_flops(L, heads, head_dim):
    return 4.0 * L * L * heads * head_dim


def flux_forward_flops(p, img_tokens, txt_tokens):
    """flops.hpp: matrix products only, a multiply-add = 2 FLOPs."""
    H, M = float(p["hidden_size"]), float(int(p["hidden_size"] * p["mlp_ratio"]))
    heads, D = p["num_heads"], p["hidden_size"] // p["num_heads"]
    Li, Lt = float(img_tokens), float(txt_tokens)
    L = Li + Lt
    f = 0.0
    f += 2 * Li * p["in_channels"] * H + 2 * Lt * p["context_in_dim"] * H
    f += 2 * (256 * H + H * H) * (2 if p["guidance_embed"] else 1)
    f += 2 * (p["vec_in_dim"] * H + H * H)
    per_token_double = 2 * H * 3 * H + 2 * H * H + 2 * 2 * H * M
    f += p["depth"] * (L * per_token_double + 2 * 2 * H * 6 * H + attention_flops(L, heads, D))
    per_token_single = 2 * H * (3 * H + M) + 2 * (H + M) * H
    f += p["depth_single_blocks"] * (L * per_token_single + 2 * H * 3 * H + attention_flops(L, heads, D))
    f += 2 * Li * H * p["out_channels"] + 2 * H * 2 * H
    return f


def grid_for(tokens):
    """The most square grid with rows * cols == tokens (main.cpp)."""
    rows = int(math.sqrt(float(tokens)))
    while rows > 1 and tokens % rows:
        rows -= 1
    return rows, tokens // rows


def position_ids(txt_tokens, rows, cols, axis_count):
    """flux_position_ids: float64, text rows zero, image rows (0, row, col); with a batch dim as BFL's prepare()."""
    if axis_count < 3:
        raise ValueError("FLUX ids need at least 3 axes")
    img_ids = torch.zeros(rows, cols, axis_count, dtype=torch.float64)
    img_ids[..., 1] = torch.arange(rows, dtype=torch.float64)[:, None]
    img_ids[..., 2] = torch.arange(cols, dtype=torch.float64)[None, :]
    txt_ids = torch.zeros(txt_tokens, axis_count, dtype=torch.float64)
    return img_ids.reshape(1, rows * cols, axis_count), txt_ids.reshape(1, txt_tokens, axis_count)


def cpu_seconds():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


_DTYPES = {"f32": torch.float32, "float32": torch.float32, "fp32": torch.float32,
           "bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
           "f16": torch.float16, "float16": torch.float16, "fp16": torch.float16}


def allocator():
    """tcmalloc where the process runs on it (compare_eager.sh preloads it when flux_forward links it), else the C
    library's malloc, with which every large tensor is page-faulted afresh (docs/performance.md)."""
    return "tcmalloc" if hasattr(ctypes.CDLL(None), "tc_malloc") else "libc"


def blas_core():
    """The kernels the OpenBLAS libtorch loaded runs ("Haswell", "Prescott", ...), "" where it is no OpenBLAS:
    flux_forward reports its own (it may switch them: plugins/flux/transformer/.../openblas_core.hpp)."""
    for name in ("libopenblas.so.0", "libblas.so.3"):
        try:
            lib = ctypes.CDLL(name, mode=os.RTLD_NOLOAD)
        except OSError:
            continue
        if hasattr(lib, "openblas_get_corename"):
            lib.openblas_get_corename.restype = ctypes.c_char_p
            return lib.openblas_get_corename().decode()
    return ""


def bench(o):
    if o.dtype not in _DTYPES:
        raise SystemExit(f"eager_reference: dtype: '{o.dtype}' is not one of f32, bf16, f16")
    dtype = _DTYPES[o.dtype]
    device = torch.device(o.device)
    if o.threads > 0:
        torch.set_num_threads(o.threads)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    p = {"in_channels": o.in_channels, "out_channels": o.in_channels, "vec_in_dim": o.vec,
         "context_in_dim": o.context, "hidden_size": o.hidden, "mlp_ratio": 4.0, "num_heads": o.heads,
         "depth": o.double, "depth_single_blocks": o.single, "axes_dim": [int(a) for a in o.axes.split(",")],
         "theta": 10000, "qkv_bias": True, "guidance_embed": True}
    if any(a <= 0 or a % 2 for a in p["axes_dim"]):
        raise SystemExit("eager_reference: every axes entry must be even and > 0")
    model = Flux(p).eval()
    init_random_weights(model, p, o.seed, torch.float32)
    model.to(device=device, dtype=dtype)
    parameters = sum(t.numel() for t in model.parameters())

    rows, cols = grid_for(o.img_tokens)
    torch.manual_seed(o.seed + 1)
    img = torch.randn(1, o.img_tokens, p["in_channels"]).to(device, dtype)
    txt = torch.randn(1, o.txt_tokens, p["context_in_dim"]).to(device, dtype)
    y = torch.randn(1, p["vec_in_dim"]).to(device, dtype)
    t = torch.full((1,), 0.7, device=device, dtype=dtype)
    g = torch.full((1,), 3.5, device=device, dtype=dtype)

    def forward():
        # Ids (and, inside Flux.forward, the rotary table) are rebuilt every call, as main.cpp does.
        img_ids, txt_ids = position_ids(o.txt_tokens, rows, cols, len(p["axes_dim"]))
        return model(img, img_ids.to(device), txt, txt_ids.to(device), t, y, g)

    with torch.no_grad():
        # Untimed runs for --warmup-s seconds (at least one), as main.cpp: some VMs run at half speed for the
        # first second of load.
        warmup_end = time.perf_counter() + o.warmup_s
        while True:
            forward()
            sync()
            if time.perf_counter() >= warmup_end:
                break
        ms = []
        cpu0 = cpu_seconds()
        for _ in range(o.repeat):
            t0 = time.perf_counter()
            forward()
            sync()
            ms.append((time.perf_counter() - t0) * 1e3)
        cpu = cpu_seconds() - cpu0
    wall = sum(ms) / 1e3
    utilisation = cpu / wall
    ms.sort()
    median_ms, min_ms = ms[len(ms) // 2], ms[0]  # main.cpp's median: the upper middle for an even count
    flops = flux_forward_flops(p, o.img_tokens, o.txt_tokens)
    config = {"mode": "forward", "engine": "pytorch-eager", "torch": torch.__version__, "hidden": o.hidden,
              "heads": o.heads, "double": o.double, "single": o.single, "axes": p["axes_dim"],
              "img_tokens": o.img_tokens, "txt_tokens": o.txt_tokens, "grid": [rows, cols],
              "in_channels": p["in_channels"], "context": p["context_in_dim"], "vec": p["vec_in_dim"],
              "dtype": o.dtype, "device": o.device, "threads": torch.get_num_threads(),
              "parameters": parameters, "repeat": o.repeat, "warmup_s": o.warmup_s,
              "allocator": allocator(), "blas_core": blas_core()}
    print(json.dumps({"config": config, "median_ms": median_ms, "min_ms": min_ms,
                      "cpu_utilisation": utilisation, "peak_rss_mb": peak_rss_mb(), "gflop": flops / 1e9,
                      "gflops_per_s": flops / 1e9 / (median_ms / 1e3),
                      "gflops_per_cpu_s": flops / 1e9 / (median_ms / 1e3 * utilisation)}), flush=True)
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description="PyTorch-eager FLUX transformer (BFL structure): golden check or bench")
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check-golden", nargs="?", const="", metavar="DIR",
                      help="check against the golden forward (DIR: $GENPLUG_GOLDEN_DIR/flux or tests/golden/flux)")
    mode.add_argument("--bench", action="store_true", help="time the forward with random weights (flux_forward's flags)")
    ap.add_argument("--hidden", type=int, default=1024, help="hidden size")
    ap.add_argument("--heads", type=int, default=8, help="attention heads")
    ap.add_argument("--double", type=int, default=2, help="double-stream blocks")
    ap.add_argument("--single", type=int, default=4, help="single-stream blocks")
    ap.add_argument("--axes", default="16,56,56", help="rotary axes dims, comma separated (sum = hidden/heads)")
    ap.add_argument("--img-tokens", type=int, default=1024, help="image tokens")
    ap.add_argument("--txt-tokens", type=int, default=128, help="text tokens")
    ap.add_argument("--in-channels", type=int, default=64, help="packed latent channels")
    ap.add_argument("--context", type=int, default=4096, help="text context dim")
    ap.add_argument("--vec", type=int, default=768, help="pooled vector dim")
    ap.add_argument("--dtype", default="f32", help="f32, bf16 or f16 (weights drawn in f32, then cast)")
    ap.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs (after the warm-up)")
    ap.add_argument("--warmup-s", type=float, default=1.0,
                    help="untimed warm-up runs until this many seconds have passed (at least one run)")
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    ap.add_argument("--seed", type=int, default=0, help="weights and inputs seed")
    o = ap.parse_args(argv)
    if o.repeat < 1:
        ap.error("--repeat must be positive")
    if not 0.0 <= o.warmup_s <= 600.0:
        ap.error("--warmup-s must be in [0, 600]")
    try:
        if o.check_golden is not None:
            return check_golden(golden_dir(o.check_golden))
        return bench(o)
    except (OSError, ValueError, KeyError, RuntimeError) as e:  # config, file and torch errors: one line
        print(f"eager_reference: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
