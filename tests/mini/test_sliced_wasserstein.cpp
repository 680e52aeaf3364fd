// The distribution distance of the DyPE benchmark (docs/dype-effect.md section 2.4): thumbnails (integer box
// downsampling to short side 32), the random directions, the projections and the sliced Wasserstein distance.
#define BOOST_TEST_MODULE sliced_wasserstein
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "rng.hpp"
#include "scene_render.hpp"
#include "scene_sampler.hpp"
#include "sliced_wasserstein.hpp"
#include "thumbnail.hpp"

namespace mini = genplug::mini;

namespace {

using Projections = std::vector<std::vector<double>>;

// Thumbnails of the exact renders of scenes first_seed, first_seed + 1, ... at width x height.
std::vector<std::vector<float>> render_thumbnails(std::uint64_t first_seed, int count, int width, int height) {
  std::vector<std::vector<float>> xs;
  for (int i = 0; i < count; ++i)
    xs.push_back(mini::thumbnail(mini::render_scene(mini::sample_scene(first_seed + i), width, height)).planar);
  return xs;
}

Projections project_all(const mini::SlicedDirections& directions, const std::vector<std::vector<float>>& xs) {
  Projections out;
  for (const std::vector<float>& x : xs) out.push_back(mini::project(directions, x));
  return out;
}

// W1 of two samples of the line from its definition, the integral of |F_a - F_b| between consecutive values
// (an independent route to the sorted-pairs formula).
double wasserstein1_from_cdfs(std::vector<double> a, std::vector<double> b) {
  std::vector<double> all = a;
  all.insert(all.end(), b.begin(), b.end());
  std::sort(all.begin(), all.end());
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  const auto cdf = [](const std::vector<double>& s, double t) {
    return static_cast<double>(std::upper_bound(s.begin(), s.end(), t) - s.begin()) / s.size();
  };
  double sum = 0;
  for (std::size_t j = 0; j + 1 < all.size(); ++j)
    sum += std::abs(cdf(a, all[j]) - cdf(b, all[j])) * (all[j + 1] - all[j]);
  return sum;
}

}  // namespace

BOOST_AUTO_TEST_CASE(thumbnails_have_short_side_32_at_every_bench_size) {
  const int sizes[][4] = {{128, 128, 32, 32}, {256, 256, 32, 32}, {384, 384, 32, 32},
                          {512, 512, 32, 32}, {512, 128, 128, 32}, {128, 384, 32, 96}};
  for (const auto& s : sizes) {
    const mini::Image t = mini::thumbnail(mini::Image(s[0], s[1]));
    BOOST_TEST(t.width == s[2], s[0] << "x" << s[1]);
    BOOST_TEST(t.height == s[3], s[0] << "x" << s[1]);
  }
  BOOST_TEST(mini::thumbnail_factor(384, 384) == 12);
  const std::pair<int, int> unsupported[] = {{100, 100}, {48, 48}, {16, 16}, {99, 64}, {128, 202}};
  for (auto [w, h] : unsupported) BOOST_CHECK_THROW(mini::thumbnail_factor(w, h), std::invalid_argument);
  BOOST_CHECK_THROW(mini::box_downsample(mini::Image(12, 8), 3), std::invalid_argument);
}

// Each thumbnail pixel is its block's mean; the sums are rounded to float once (relative 6e-8 on values <= 1),
// so 1e-6 separates rounding from a wrong block (an O(0.1) error on random values).
BOOST_AUTO_TEST_CASE(a_thumbnail_pixel_is_the_mean_of_its_block) {
  mini::SplitMix64 rng(11);
  mini::Image image(96, 64);
  for (float& v : image.planar) v = static_cast<float>(rng.unit());
  const mini::Image t = mini::thumbnail(image);  // factor 2
  BOOST_TEST(t.width == 48);
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < t.height; ++i)
      for (int j = 0; j < t.width; ++j) {
        const double mean = (double(image.at(c, 2 * i, 2 * j)) + image.at(c, 2 * i, 2 * j + 1) +
                             image.at(c, 2 * i + 1, 2 * j) + image.at(c, 2 * i + 1, 2 * j + 1)) / 4;
        BOOST_TEST(std::abs(t.at(c, i, j) - mean) <= 1e-6);
      }
}

// theta = g / ||g|| with g ~ N(0, I): unit length, and z = theta sqrt(D) is close to N(0,1) entry-wise for large D.
// With D = 65 536 the sample mean of z has SD 1/256, of |z| (E = sqrt(2/pi)) SD 0.603/256 and of z^4 (E = 3)
// SD sqrt(105 - 9)/256; each bound is 5 SD. Uniform deviates of variance 1 instead would give E|z| = 0.866 and
// E z^4 = 1.8 and fail.
BOOST_AUTO_TEST_CASE(directions_are_unit_gaussian_and_reproducible) {
  const std::size_t d = 65536;
  const std::vector<double> theta = mini::sliced_direction(d, 7);
  double squared = 0, mean = 0, mean_abs = 0, mean_fourth = 0;
  for (double t : theta) {
    const double z = t * std::sqrt(double(d));
    squared += t * t, mean += z, mean_abs += std::abs(z), mean_fourth += z * z * z * z;
  }
  mean /= d, mean_abs /= d, mean_fourth /= d;
  BOOST_TEST(std::abs(squared - 1.0) <= 1e-12);
  BOOST_TEST(std::abs(mean) <= 5.0 / 256);
  BOOST_TEST(std::abs(mean_abs - std::sqrt(2 / 3.141592653589793)) <= 5 * 0.603 / 256);
  BOOST_TEST(std::abs(mean_fourth - 3.0) <= 5 * std::sqrt(96.0) / 256);
  BOOST_TEST((mini::sliced_direction(d, 7) == theta));  // seeded by (D, k) only
  BOOST_TEST((mini::sliced_direction(d, 8) != theta));
  std::vector<double> shorter = mini::sliced_direction(d - 2, 7);
  BOOST_TEST(shorter.front() != theta.front());  // another D, another stream
  const mini::SlicedDirections set = mini::sliced_directions(3072, 4);
  BOOST_TEST(set.directions.size() == 4u);
  BOOST_TEST((set.directions[2] == mini::sliced_direction(3072, 2)));
}

BOOST_AUTO_TEST_CASE(swd_of_a_set_with_itself_is_zero_and_swd_is_symmetric_and_deterministic) {
  const std::vector<std::vector<float>> xs = render_thumbnails(0, 16, 128, 128);
  const std::vector<std::vector<float>> ys = render_thumbnails(100, 16, 128, 128);
  const mini::SlicedDirections directions = mini::sliced_directions(xs.front().size());
  BOOST_TEST(directions.directions.size() == std::size_t(mini::sliced_direction_count));
  const Projections px = project_all(directions, xs), py = project_all(directions, ys);
  BOOST_TEST(mini::sliced_wasserstein(px, px) == 0.0);
  const double xy = mini::sliced_wasserstein(px, py);
  BOOST_TEST(xy > 0.0);
  BOOST_TEST(mini::sliced_wasserstein(py, px) == xy);  // |a - b| = |b - a| and the same sorted columns: bit-equal
  // Directions rebuilt from scratch give the same bits.
  const Projections again = project_all(mini::sliced_directions(xs.front().size()), ys);
  BOOST_TEST(mini::sliced_wasserstein(px, again) == xy);
  BOOST_TEST_MESSAGE("SWD x100 between 16 scenes and 16 others at 128^2: " << 100 * xy);
}

// A thumbnail pixel of an exact render estimates the same box integral of the scene at 128^2 (16 x 16 samples)
// and at 256^2 (32 x 32 samples): the two differ by sampling error on edge pixels only, while other scenes differ
// by whole objects and backgrounds. So the same scenes at two sizes must be far nearer than other scenes; a factor
// 4 is a loose bound (the measured ratio is printed). This is what makes SWD against exact renders a measure of
// content rather than of size.
BOOST_AUTO_TEST_CASE(the_same_scenes_at_another_size_are_nearer_than_other_scenes) {
  const std::vector<std::vector<float>> small = render_thumbnails(0, 16, 128, 128);
  const std::vector<std::vector<float>> large = render_thumbnails(0, 16, 256, 256);
  const std::vector<std::vector<float>> other = render_thumbnails(100, 16, 128, 128);
  const mini::SlicedDirections directions = mini::sliced_directions(small.front().size());
  const Projections ps = project_all(directions, small), pl = project_all(directions, large),
                    po = project_all(directions, other);
  const double same = mini::sliced_wasserstein(ps, pl), different = mini::sliced_wasserstein(ps, po);
  BOOST_TEST_MESSAGE("SWD x100: same scenes 128 vs 256 " << 100 * same << ", other scenes " << 100 * different);
  BOOST_TEST(same < 0.25 * different);
}

// In one dimension every direction is +1 or -1 and W1 is invariant under the sign, so SWD is the exact 1-D W1.
// Both routes sum n = 50 terms of size O(1): rounding stays below 1e-13; 1e-12 relative.
BOOST_AUTO_TEST_CASE(in_one_dimension_swd_is_the_exact_w1) {
  mini::SplitMix64 rng(3);
  std::vector<double> a(50), b(50);
  for (double& v : a) v = rng.unit();
  for (double& v : b) v = 0.3 + 1.5 * rng.unit() * rng.unit();
  const mini::SlicedDirections directions = mini::sliced_directions(1);
  Projections pa, pb;
  for (double v : a) pa.push_back(mini::project(directions, {static_cast<float>(v)}));
  for (double v : b) pb.push_back(mini::project(directions, {static_cast<float>(v)}));
  std::vector<double> fa, fb;  // the float values that were projected
  for (double v : a) fa.push_back(static_cast<float>(v));
  for (double v : b) fb.push_back(static_cast<float>(v));
  const double exact = wasserstein1_from_cdfs(fa, fb);
  BOOST_TEST(std::abs(mini::sliced_wasserstein(pa, pb) - exact) <= 1e-12 * exact);
  BOOST_TEST(std::abs(mini::wasserstein1_sorted(fa, fb) - exact) <= 1e-12 * exact);
  BOOST_CHECK_THROW(mini::wasserstein1_sorted({1, 2}, {1}), std::invalid_argument);
  BOOST_CHECK_THROW(mini::sliced_wasserstein(pa, {pb.begin(), pb.end() - 1}), std::invalid_argument);
}

// Y = X + c: every projection moves by c sum_j theta_kj and sorted order is kept, so W1_k = |c| |sum_j theta_kj|.
// Values are multiples of 2^-10 in [0, 1] and c = +-1/4, so X + c is exact in float; the remaining error is the
// double dot products', each below D u ||theta||_1 max|x| <= 3072 * 1.1e-16 * sqrt(3072) * 1.25 = 2.3e-11;
// 1e-9 is far above that and far below a wrong shift (O(0.1)).
BOOST_AUTO_TEST_CASE(shifting_every_pixel_by_c_gives_c_times_the_mean_direction_sum) {
  std::vector<std::vector<float>> xs = render_thumbnails(0, 12, 128, 128);
  for (std::vector<float>& x : xs)
    for (float& v : x) v = std::round(v * 1024) / 1024;
  const mini::SlicedDirections directions = mini::sliced_directions(xs.front().size());
  const Projections px = project_all(directions, xs);
  double mean_direction_sum = 0;
  for (const std::vector<double>& theta : directions.directions) {
    double sum = 0;
    for (double t : theta) sum += t;
    mean_direction_sum += std::abs(sum);
  }
  mean_direction_sum /= directions.directions.size();
  for (float c : {0.25f, -0.25f}) {
    std::vector<std::vector<float>> ys = xs;
    for (std::vector<float>& y : ys)
      for (float& v : y) v += c;
    const double swd = mini::sliced_wasserstein(px, project_all(directions, ys));
    BOOST_TEST(std::abs(swd - std::abs(c) * mean_direction_sum) <= 1e-9, "c = " << c << ": SWD " << swd);
  }
}
