// ggml's block-quantised types decoded to float32: the layouts of ggml's ggml-common.h and the arithmetic of its
// dequantize_row_* reference functions (ggml-quants.c), operation for operation, so the values are the ones ggml
// computes. Built with -ffp-contract=off: a fused multiply-add would round once where ggml's scalar code rounds
// twice. f16 fields are little-endian, like every GGUF field.
#include <genplug/gguf.hpp>

#include <array>
#include <cstring>

#include <genplug/safetensors.hpp>

namespace genplug::gguf {
namespace {

float f16_at(const uint8_t* p) { return safetensors::f16_to_float(static_cast<uint16_t>(p[0] | (p[1] << 8))); }

uint32_t u32_at(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;  // little-endian host, as everywhere in genplug
}

// Q4_0 {f16 d; u8 qs[16]} per 32: x[j] = (lo4(qs[j]) - 8)·d, x[j+16] = (hi4(qs[j]) - 8)·d.
// Q4_1 {f16 d, m; u8 qs[16]}:    x[j] = lo4(qs[j])·d + m,     x[j+16] = hi4(qs[j])·d + m.
void q4_block(const uint8_t* b, float* y, bool with_min) {
  const float d = f16_at(b);
  if (with_min) {  // two branch-free loops each way, so that they vectorise
    const float m = f16_at(b + 2);
    const uint8_t* qs = b + 4;
    for (int j = 0; j < 16; ++j) y[j] = (qs[j] & 0x0F) * d + m;
    for (int j = 0; j < 16; ++j) y[j + 16] = (qs[j] >> 4) * d + m;
  } else {
    const uint8_t* qs = b + 2;
    for (int j = 0; j < 16; ++j) y[j] = ((qs[j] & 0x0F) - 8) * d;
    for (int j = 0; j < 16; ++j) y[j + 16] = ((qs[j] >> 4) - 8) * d;
  }
}

// Q5_0 {f16 d; u32 qh; u8 qs[16]} per 32: the fifth bit of value j is bit j of qh, so
// x[j] = ((lo4(qs[j]) | 16·bit j) - 16)·d and x[j+16] = ((hi4(qs[j]) | 16·bit (j+16)) - 16)·d.
// Q5_1 {f16 d, m; u32 qh; u8 qs[16]}: the same 5-bit q without the -16, times d plus m.
void q5_block(const uint8_t* b, float* y, bool with_min) {
  const float d = f16_at(b), m = with_min ? f16_at(b + 2) : 0.0f;
  const uint8_t* p = b + (with_min ? 4 : 2);
  const uint32_t qh = u32_at(p);
  const uint8_t* qs = p + 4;
  // The fifth bits as 0 or 16, tested against constant masks rather than shifted by j: branch-free loops that
  // vectorise.
  static constexpr auto kBit = [] {
    std::array<uint32_t, 32> bits{};
    for (int j = 0; j < 32; ++j) bits[j] = 1u << j;
    return bits;
  }();
  int high[32];
  for (int j = 0; j < 32; ++j) high[j] = (qh & kBit[j]) ? 16 : 0;
  if (with_min) {
    for (int j = 0; j < 16; ++j) y[j] = ((qs[j] & 0x0F) | high[j]) * d + m;
    for (int j = 0; j < 16; ++j) y[j + 16] = ((qs[j] >> 4) | high[j + 16]) * d + m;
  } else {
    for (int j = 0; j < 16; ++j) y[j] = (((qs[j] & 0x0F) | high[j]) - 16) * d;
    for (int j = 0; j < 16; ++j) y[j + 16] = (((qs[j] >> 4) | high[j + 16]) - 16) * d;
  }
}

// Q2_K {u8 scales[16]; u8 qs[64]; f16 d, dmin} per 256, 16 sub-blocks of 16: scales[s] holds a 4-bit scale (low)
// and min (high); x = (d·sc)·q - dmin·mn, q the 2-bit field at `shift` of qs. Each 128-value half reads 32 qs
// bytes four times, shifts 0, 2, 4, 6, each time two sub-blocks (bytes 0..15 and 16..31).
void q2_k_block(const uint8_t* b, float* y) {
  const uint8_t* scales = b;
  const uint8_t* q = b + 16;
  const float d = f16_at(b + 80), dmin = f16_at(b + 82);
  int s = 0;
  for (int half = 0; half < 2; ++half, q += 32)
    for (int shift = 0; shift < 8; shift += 2)
      for (int part = 0; part < 32; part += 16, ++s) {
        const float dl = d * (scales[s] & 0xF), ml = dmin * (scales[s] >> 4);
        for (int l = 0; l < 16; ++l) *y++ = dl * ((q[part + l] >> shift) & 3) - ml;
      }
}

// Q3_K's twelve scale bytes as sixteen 6-bit scales: the low nibbles of bytes 0..7 (scales 0..7) and their high
// nibbles (scales 8..15), each with two high bits from bytes 8..11 (scale i takes bits 2·(i/4)..+1 of byte
// 8 + i%4). Signed by subtracting 32.
void q3_k_scales(const uint8_t* packed, int* out) {
  for (int i = 0; i < 16; ++i) {
    const int low = i < 8 ? packed[i] & 0xF : packed[i - 8] >> 4;
    const int high = (packed[8 + i % 4] >> (2 * (i / 4))) & 3;
    out[i] = (low | (high << 4)) - 32;
  }
}

// Q3_K {u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d} per 256, 16 sub-blocks of 16: q = the 2-bit field of qs
// (walked as Q2_K) minus 4 unless the value's bit in hmask is set (bit k of hmask[l], k counting the shifts of
// both halves); x = (d·sc)·q.
void q3_k_block(const uint8_t* b, float* y) {
  const uint8_t* hmask = b;
  const uint8_t* q = b + 32;
  int sc[16];
  q3_k_scales(b + 96, sc);
  const float d = f16_at(b + 108);
  int s = 0;
  uint8_t bit = 1;
  for (int half = 0; half < 2; ++half, q += 32)
    for (int shift = 0; shift < 8; shift += 2, bit = static_cast<uint8_t>(bit << 1))
      for (int part = 0; part < 32; part += 16, ++s) {
        const float dl = d * sc[s];
        for (int l = 0; l < 16; ++l)
          *y++ = dl * (((q[part + l] >> shift) & 3) - ((hmask[part + l] & bit) ? 0 : 4));
      }
}

// The K4/K5 packing of eight 6-bit scales and eight 6-bit mins in twelve bytes (ggml's get_scale_min_k4): for
// j < 4, scale = bytes[j] & 63 and min = bytes[j+4] & 63; for j ≥ 4, the low four bits come from byte j+4 (scale
// low nibble, min high nibble) and the top two from the spare high bits of bytes j-4 (scale) and j (min).
void scale_min_k4(int j, const uint8_t* bytes, int* scale, int* min) {
  if (j < 4) {
    *scale = bytes[j] & 63, *min = bytes[j + 4] & 63;
  } else {
    *scale = (bytes[j + 4] & 0xF) | ((bytes[j - 4] >> 6) << 4);
    *min = (bytes[j + 4] >> 4) | ((bytes[j] >> 6) << 4);
  }
}

// Q4_K {f16 d, dmin; u8 scales[12]; u8 qs[128]} and Q5_K (the same plus u8 qh[32] before qs) per 256, eight
// sub-blocks of 32: x = (d·sc)·q - dmin·mn. Each 64 values read 32 qs bytes: low nibbles, then high nibbles; Q5_K
// adds 16 when the value's bit in qh[l] is set (bits 2i and 2i+1 for the i-th group of 64).
void q45_k_block(const uint8_t* b, float* y, bool five_bit) {
  const float d = f16_at(b), dmin = f16_at(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* qh = b + 16;
  const uint8_t* q = b + (five_bit ? 48 : 16);
  for (int group = 0; group < 4; ++group, q += 32, y += 64) {
    int sc[2], mn[2];
    scale_min_k4(2 * group, scales, &sc[0], &mn[0]);
    scale_min_k4(2 * group + 1, scales, &sc[1], &mn[1]);
    const float d0 = d * sc[0], m0 = dmin * mn[0], d1 = d * sc[1], m1 = dmin * mn[1];
    // Branch-free loops, so that they vectorise: the fifth bit is 0 for Q4_K.
    const int high = five_bit ? 16 : 0, bit = 2 * group;
    for (int l = 0; l < 32; ++l) y[l] = d0 * ((q[l] & 0xF) + (((qh[l] >> bit) & 1) ? high : 0)) - m0;
    for (int l = 0; l < 32; ++l) y[32 + l] = d1 * ((q[l] >> 4) + (((qh[l] >> (bit + 1)) & 1) ? high : 0)) - m1;
  }
}

// Q6_K {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d} per 256: each 128 values read 64 ql and 32 qh bytes; value
// l + 32k (k < 4, l < 32) takes a nibble of ql[l + 32·(k%2)] (low for k < 2) and bits 2k..2k+1 of qh[l] on top,
// minus 32; its scale is scales[l/16 + 2k]; x = (d·sc)·q (ggml's d * sc * q, left to right).
void q6_k_block(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const auto* sc = reinterpret_cast<const int8_t*>(b + 192);
  const float d = f16_at(b + 208);
  for (int half = 0; half < 2; ++half, y += 128, ql += 64, qh += 32, sc += 8)
    for (int k = 0; k < 4; ++k)
      for (int part = 0; part < 2; ++part) {  // values 32k + 16·part + l share a scale
        const float dl = d * sc[2 * k + part];
        const uint8_t* low = ql + 32 * (k % 2) + 16 * part;
        const uint8_t* high = qh + 16 * part;
        const int low_shift = k < 2 ? 0 : 4;
        float* out = y + 32 * k + 16 * part;
        for (int l = 0; l < 16; ++l)
          out[l] = dl * ((((low[l] >> low_shift) & 0xF) | (((high[l] >> (2 * k)) & 3) << 4)) - 32);
      }
}

}  // namespace

void dequantize(Type type, const uint8_t* data, int64_t n, float* out) {
  auto u16 = [&](int64_t i) { return static_cast<uint16_t>(data[2 * i] | (data[2 * i + 1] << 8)); };
  switch (type) {
    case Type::F32:
      if (n > 0) std::memcpy(out, data, 4 * static_cast<std::size_t>(n));
      return;
    case Type::F16:
      for (int64_t i = 0; i < n; ++i) out[i] = safetensors::f16_to_float(u16(i));
      return;
    case Type::BF16:
      for (int64_t i = 0; i < n; ++i) out[i] = safetensors::bf16_to_float(u16(i));
      return;
    case Type::Q8_0:
      dequantize_q8_0(data, n, out);
      return;
    default: break;
  }
  const BlockLayout layout = *block_layout(static_cast<uint32_t>(type));
  for (int64_t i = 0; i < n / layout.values; ++i, data += layout.bytes, out += layout.values) {
    switch (type) {
      case Type::Q4_0: q4_block(data, out, false); break;
      case Type::Q4_1: q4_block(data, out, true); break;
      case Type::Q5_0: q5_block(data, out, false); break;
      case Type::Q5_1: q5_block(data, out, true); break;
      case Type::Q2_K: q2_k_block(data, out); break;
      case Type::Q3_K: q3_k_block(data, out); break;
      case Type::Q4_K: q45_k_block(data, out, false); break;
      case Type::Q5_K: q45_k_block(data, out, true); break;
      case Type::Q6_K: q6_k_block(data, out); break;
      default: break;  // the float types and Q8_0: above
    }
  }
}

}  // namespace genplug::gguf
