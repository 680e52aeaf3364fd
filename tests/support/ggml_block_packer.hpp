// Test support: ggml's block-quantised types written from their fields, the way ggml's quantize_row_*_ref packs
// them (ggml-quants.c), and the value each field set stands for by ggml's formulas. The decoder under test walks
// the bytes; this packer places each field by the quantiser's loops, so the two meet only in the format.
// Fields are stored (unsigned) values: q in [0, 2^bits), scales and mins 4 bits (Q2_K) or 6 bits (Q3_K to Q5_K),
// Q6_K's scales signed 8-bit. d and m are float16-representable. Tests that include it link genplug_gguf.
#pragma once
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include <genplug/gguf.hpp>
#include <genplug/safetensors.hpp>

namespace genplug::test {

struct BlockFields {
  float d = 0.0f, m = 0.0f;  // m: Q4_1/Q5_1's min, the K types' dmin
  std::vector<int> scales, mins, q;
};

// Values per scale of the K types (Q2_K, Q3_K, Q6_K: 16; Q4_K, Q5_K: 32); 0 for the 32-value types.
inline int sub_block(gguf::Type t) {
  switch (t) {
    case gguf::Type::Q2_K:
    case gguf::Type::Q3_K:
    case gguf::Type::Q6_K: return 16;
    case gguf::Type::Q4_K:
    case gguf::Type::Q5_K: return 32;
    default: return 0;
  }
}

inline int q_bits(gguf::Type t) {
  switch (t) {
    case gguf::Type::Q2_K: return 2;
    case gguf::Type::Q3_K: return 3;
    case gguf::Type::Q4_0:
    case gguf::Type::Q4_1:
    case gguf::Type::Q4_K: return 4;
    case gguf::Type::Q6_K: return 6;
    default: return 5;
  }
}

// Value i of a block, by ggml's formulas (the products in ggml's order).
inline float block_value(gguf::Type t, const BlockFields& f, int i) {
  const int q = f.q[i];
  const int s = sub_block(t) ? i / sub_block(t) : 0;
  switch (t) {
    case gguf::Type::Q4_0: return float(q - 8) * f.d;
    case gguf::Type::Q4_1: return float(q) * f.d + f.m;
    case gguf::Type::Q5_0: return float(q - 16) * f.d;
    case gguf::Type::Q5_1: return float(q) * f.d + f.m;
    case gguf::Type::Q3_K: return (f.d * float(f.scales[s] - 32)) * float(q - 4);
    case gguf::Type::Q6_K: return (f.d * float(f.scales[s])) * float(q - 32);
    default: return (f.d * float(f.scales[s])) * float(q) - f.m * float(f.mins[s]);  // Q2_K, Q4_K, Q5_K
  }
}

inline void put_f16(std::vector<uint8_t>& b, std::size_t at, float v) {
  const uint16_t h = safetensors::float_to_f16(v);
  b[at] = uint8_t(h & 0xff), b[at + 1] = uint8_t(h >> 8);
}

// Q2_K/Q3_K's 2-bit fields: byte 32·half + l holds values 128·half + 32k + l at bits 2k (k < 4).
inline void pack_2_bit(const std::vector<int>& q, uint8_t* qs) {
  for (int half = 0; half < 2; ++half)
    for (int l = 0; l < 32; ++l)
      for (int k = 0; k < 4; ++k) qs[32 * half + l] |= uint8_t((q[128 * half + 32 * k + l] & 3) << (2 * k));
}

// Q4_K/Q5_K's scales and mins: j < 4 in bytes j and j+4; j ≥ 4 as nibbles of byte j+4, top bits in bytes j-4, j.
inline void pack_scale_min_k4(const BlockFields& f, uint8_t* s) {
  for (int j = 0; j < 8; ++j) {
    const int ls = f.scales[j], lm = f.mins[j];
    if (j < 4) {
      s[j] = uint8_t(ls), s[j + 4] = uint8_t(lm);
    } else {
      s[j + 4] = uint8_t((ls & 0xF) | ((lm & 0xF) << 4));
      s[j - 4] |= uint8_t((ls >> 4) << 6);
      s[j] |= uint8_t((lm >> 4) << 6);
    }
  }
}

inline std::vector<uint8_t> pack_block(gguf::Type t, const BlockFields& f) {
  std::vector<uint8_t> b(gguf::block_layout(uint32_t(t))->bytes, 0);
  const auto& q = f.q;
  switch (t) {
    case gguf::Type::Q4_0:
    case gguf::Type::Q4_1:
    case gguf::Type::Q5_0:
    case gguf::Type::Q5_1: {
      const bool min = t == gguf::Type::Q4_1 || t == gguf::Type::Q5_1, five = q_bits(t) == 5;
      put_f16(b, 0, f.d);
      if (min) put_f16(b, 2, f.m);
      std::size_t at = min ? 4 : 2;
      if (five) {
        uint32_t qh = 0;
        for (int j = 0; j < 32; ++j) qh |= uint32_t(q[j] >> 4) << j;
        std::memcpy(&b[at], &qh, 4);
        at += 4;
      }
      for (int j = 0; j < 16; ++j) b[at + j] = uint8_t((q[j] & 15) | ((q[j + 16] & 15) << 4));
      break;
    }
    case gguf::Type::Q2_K:
      for (int s = 0; s < 16; ++s) b[s] = uint8_t(f.scales[s] | (f.mins[s] << 4));
      pack_2_bit(q, &b[16]);
      put_f16(b, 80, f.d), put_f16(b, 82, f.m);
      break;
    case gguf::Type::Q3_K:
      for (int j = 0; j < 256; ++j) b[j % 32] |= uint8_t((q[j] >> 2) << (j / 32));  // hmask
      pack_2_bit(q, &b[32]);
      for (int s = 0; s < 16; ++s) {
        b[96 + (s < 8 ? s : s - 8)] |= uint8_t((f.scales[s] & 0xF) << (s < 8 ? 0 : 4));
        b[96 + 8 + s % 4] |= uint8_t((f.scales[s] >> 4) << (2 * (s / 4)));
      }
      put_f16(b, 108, f.d);
      break;
    case gguf::Type::Q4_K:
    case gguf::Type::Q5_K: {
      const bool five = t == gguf::Type::Q5_K;
      put_f16(b, 0, f.d), put_f16(b, 2, f.m);
      pack_scale_min_k4(f, &b[4]);
      uint8_t* qs = &b[five ? 48 : 16];
      for (int g = 0; g < 4; ++g)
        for (int l = 0; l < 32; ++l) {
          const int lo = q[64 * g + l], hi = q[64 * g + 32 + l];
          qs[32 * g + l] = uint8_t((lo & 15) | ((hi & 15) << 4));
          if (five) b[16 + l] |= uint8_t(((lo >> 4) << (2 * g)) | ((hi >> 4) << (2 * g + 1)));
        }
      break;
    }
    case gguf::Type::Q6_K:
      for (int half = 0; half < 2; ++half) {
        const int j = 128 * half;
        for (int l = 0; l < 32; ++l) {
          b[64 * half + l] = uint8_t((q[j + l] & 15) | ((q[j + l + 64] & 15) << 4));
          b[64 * half + l + 32] = uint8_t((q[j + l + 32] & 15) | ((q[j + l + 96] & 15) << 4));
          b[128 + 32 * half + l] = uint8_t((q[j + l] >> 4) | ((q[j + l + 32] >> 4) << 2) |
                                           ((q[j + l + 64] >> 4) << 4) | ((q[j + l + 96] >> 4) << 6));
        }
      }
      for (int s = 0; s < 16; ++s) b[192 + s] = uint8_t(int8_t(f.scales[s]));
      put_f16(b, 208, f.d);
      break;
    default: break;
  }
  return b;
}

// The largest |value| a block can hold per unit of |d| and |m| (the scales' and quants' extremes).
inline float value_span(gguf::Type t) {
  switch (t) {
    case gguf::Type::Q4_0: return 8.0f;
    case gguf::Type::Q4_1: return 16.0f;
    case gguf::Type::Q5_0: return 16.0f;
    case gguf::Type::Q5_1: return 32.0f;
    case gguf::Type::Q2_K: return 15.0f * 3 + 15;
    case gguf::Type::Q3_K: return 32.0f * 4;
    case gguf::Type::Q4_K: return 63.0f * 15 + 63;
    case gguf::Type::Q5_K: return 63.0f * 31 + 63;
    case gguf::Type::Q6_K: return 128.0f * 32;
    default: return 1.0f;
  }
}

// Fields drawn over their whole ranges; d and m from [-r, r] rounded to float16 (d non-zero), r = 2 or, given
// `max_abs`, max_abs / value_span(t) so that no value exceeds it. Every value the format can hold at each
// position is reachable.
inline BlockFields random_fields(gguf::Type t, std::mt19937& rng, float max_abs = 0.0f) {
  const int values = int(gguf::block_layout(uint32_t(t))->values);
  auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  auto half = [&] {
    const float r = max_abs > 0.0f ? max_abs / value_span(t) : 2.0f;
    const float v = std::uniform_real_distribution<float>(-r, r)(rng);
    const float h = safetensors::f16_to_float(safetensors::float_to_f16(v));
    return h != 0.0f ? h : safetensors::f16_to_float(safetensors::float_to_f16(r));
  };
  BlockFields f;
  f.d = half(), f.m = half();
  for (int i = 0; i < values; ++i) f.q.push_back(uniform(0, (1 << q_bits(t)) - 1));
  if (sub_block(t)) {
    const int scale_max = t == gguf::Type::Q2_K ? 15 : 63;
    for (int s = 0; s < values / sub_block(t); ++s) {
      f.scales.push_back(t == gguf::Type::Q6_K ? uniform(-128, 127) : uniform(0, scale_max));
      f.mins.push_back(uniform(0, scale_max));
    }
  }
  return f;
}

// `blocks` random blocks of `t` one after the other, and the values they stand for.
struct PackedBlocks {
  std::vector<uint8_t> bytes;
  std::vector<float> values;
};

inline PackedBlocks random_blocks(gguf::Type t, int blocks, std::mt19937& rng, float max_abs = 0.0f) {
  PackedBlocks out;
  for (int k = 0; k < blocks; ++k) {
    const BlockFields f = random_fields(t, rng, max_abs);
    const std::vector<uint8_t> b = pack_block(t, f);
    out.bytes.insert(out.bytes.end(), b.begin(), b.end());
    for (int i = 0; i < int(f.q.size()); ++i) out.values.push_back(block_value(t, f, i));
  }
  return out;
}

inline const std::vector<gguf::Type>& quantised_types() {
  static const std::vector<gguf::Type> types = {gguf::Type::Q4_0, gguf::Type::Q4_1, gguf::Type::Q5_0,
                                                gguf::Type::Q5_1, gguf::Type::Q2_K, gguf::Type::Q3_K,
                                                gguf::Type::Q4_K, gguf::Type::Q5_K, gguf::Type::Q6_K};
  return types;
}

}  // namespace genplug::test
