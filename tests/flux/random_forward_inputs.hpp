// Random inputs for one forward of a FLUX transformer of config `c`: a `rows` x `cols` token grid, `text` text
// tokens, a batch of `batch` (t from 0.6 upwards by 0.2, guidance 3.5), plain-RoPE tables, from a fixed seed.
#pragma once
#include <cstdint>

#include <genplug/flux/presets.hpp>
#include <genplug/flux/rotary.hpp>
#include <genplug/flux/transformer.hpp>

namespace genplug::test {

struct RandomForwardInputs {
  torch::Tensor img, txt, t, y, g;
  flux::RotaryTables pe;
  RandomForwardInputs(const flux::FluxConfig& c, int64_t rows, int64_t cols, int64_t text, int64_t batch = 1,
                      uint64_t seed = 5) {
    torch::manual_seed(seed);
    img = torch::randn({batch, rows * cols, c.in_channels});
    txt = torch::randn({batch, text, c.context_in_dim});
    y = torch::randn({batch, c.vec_in_dim});
    t = 0.6 + 0.2 * torch::arange(batch, torch::kFloat32);
    g = torch::full({batch}, 3.5);
    pe = flux::rotary_tables(flux::flux_position_ids(text, rows, cols, int64_t(c.axes_dim.size())),
                             flux::plain_spectrum(c.axes_dim, c.theta), torch::kCPU);
  }
  // The forward outside autograd recording.
  torch::Tensor run(const flux::FluxTransformer& m) const {
    torch::NoGradGuard no_grad;
    return m.forward(img, txt, t, y, g, pe);
  }
};

}  // namespace genplug::test
