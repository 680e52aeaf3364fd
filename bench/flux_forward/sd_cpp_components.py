#!/usr/bin/env python3
"""Random stand-ins for the components stable-diffusion.cpp needs beside a FLUX transformer (compare_sd_cpp.sh).

sd.cpp refuses to sample FLUX without a CLIP-L text encoder and a VAE or tiny autoencoder (TAE), and neither is
timed: its per-step time covers the transformer only. Where a user has no real clip_l.safetensors and taef1
safetensors at hand, this writes random ones of their layout (Hugging Face's CLIPTextModel names, 12 layers of
width 768; TAESD's encoder.layers.N / decoder.layers.N with 16 latent channels), with Debian's python3-numpy:

    bench/flux_forward/sd_cpp_components.py DIR      # DIR/clip_l.safetensors (f16, 246 MB), DIR/taef1.safetensors
    compare_sd_cpp.sh --sd-args "--clip_l DIR/clip_l.safetensors --taesd DIR/taef1.safetensors --eager-load"
"""
import json
import os
import struct
import sys

import numpy as np


def clip_l_shapes():
    """CLIP ViT-L/14's text model: vocabulary 49 408, 77 positions, 12 layers of width 768, MLP 3 072."""
    shapes = {"text_model.embeddings.token_embedding.weight": [49408, 768],
              "text_model.embeddings.position_embedding.weight": [77, 768],
              "text_model.final_layer_norm.weight": [768], "text_model.final_layer_norm.bias": [768]}
    for i in range(12):
        layer = f"text_model.encoder.layers.{i}."
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            shapes[f"{layer}self_attn.{proj}.weight"] = [768, 768]
            shapes[f"{layer}self_attn.{proj}.bias"] = [768]
        for norm in ("layer_norm1", "layer_norm2"):
            shapes[f"{layer}{norm}.weight"] = [768]
            shapes[f"{layer}{norm}.bias"] = [768]
        shapes[f"{layer}mlp.fc1.weight"], shapes[f"{layer}mlp.fc1.bias"] = [3072, 768], [3072]
        shapes[f"{layer}mlp.fc2.weight"], shapes[f"{layer}mlp.fc2.bias"] = [768, 3072], [768]
    return shapes


def taef1_shapes(latent=16, width=64):
    """TAESD's layout with FLUX's 16 latent channels: numbered layers, residual blocks of three 3x3 convolutions.
    Unnumbered positions (ReLU, upsampling) hold no weights."""
    shapes = {}

    def conv(name, cin, cout, k, bias=True):
        shapes[name + ".weight"] = [cout, cin, k, k]
        if bias:
            shapes[name + ".bias"] = [cout]

    def block(name):
        for i in (0, 2, 4):
            conv(f"{name}.conv.{i}", width, width, 3)

    enc = ["conv_in", "block"] + ["down", "block", "block", "block"] * 3 + ["conv_out"]
    for i, kind in enumerate(enc):
        name = f"encoder.layers.{i}"
        if kind == "conv_in":
            conv(name, 3, width, 3)
        elif kind == "down":
            conv(name, width, width, 3, bias=False)
        elif kind == "conv_out":
            conv(name, width, latent, 3)
        else:
            block(name)
    dec = ["conv_in", "relu", "block", "block", "block"]
    dec += ["up", "conv", "block", "block", "block"] * 2 + ["up", "conv", "block", "conv_out"]
    for i, kind in enumerate(dec):
        name = f"decoder.layers.{i}"
        if kind == "conv_in":
            conv(name, latent, width, 3)
        elif kind == "conv":
            conv(name, width, width, 3, bias=False)
        elif kind == "conv_out":
            conv(name, width, 3, 3)
        elif kind == "block":
            block(name)
    return shapes


def write_safetensors(path, shapes, dtype, seed=0):
    """Normal values scaled by 1/sqrt(fan-in); norm weights 1. The file is written whole or not at all."""
    rng = np.random.default_rng(seed)
    header, blobs, offset = {}, [], 0
    for name, shape in shapes.items():
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        values = rng.standard_normal(int(np.prod(shape)), dtype=np.float32) / np.sqrt(fan_in)
        if "norm" in name and name.endswith(".weight"):
            values[:] = 1
        data = values.astype(dtype).tobytes()
        header[name] = {"dtype": "F16" if dtype == np.float16 else "F32", "shape": shape,
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path + ".part", "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for data in blobs:
            f.write(data)
    os.replace(path + ".part", path)
    print(f"{path}: {len(shapes)} tensors, {offset} bytes")


def main():
    if len(sys.argv) != 2 or sys.argv[1].startswith("-"):
        sys.exit(__doc__)
    os.makedirs(sys.argv[1], exist_ok=True)
    write_safetensors(os.path.join(sys.argv[1], "clip_l.safetensors"), clip_l_shapes(), np.float16)
    write_safetensors(os.path.join(sys.argv[1], "taef1.safetensors"), taef1_shapes(), np.float32)


if __name__ == "__main__":
    main()
