#include <algorithm>
#include <fstream>
#include <stdexcept>

#include <genplug/host/png_writer.hpp>

#include "report.hpp"

namespace genplug::dype_effect {

void write_grid(const std::filesystem::path& png, const std::filesystem::path& md, const Size& size,
                const std::vector<GridRow>& rows, const std::vector<Unit>& units) {
  std::size_t columns = 0;
  int w = 0, h = 0;
  for (const GridRow& row : rows) {
    columns = std::max(columns, row.pictures.size());
    for (const mini::Image& p : row.pictures) w = std::max(w, p.width), h = std::max(h, p.height);
  }
  if (columns == 0) return;
  const int gap = 2;
  host::ImageRGB sheet{int(columns) * (w + gap) - gap, int(rows.size()) * (h + gap) - gap, {}};
  sheet.planar.assign(std::size_t(3) * sheet.width * sheet.height, 1.0f);
  for (std::size_t r = 0; r < rows.size(); ++r)
    for (std::size_t i = 0; i < rows[r].pictures.size(); ++i) {
      const mini::Image& p = rows[r].pictures[i];
      const int x0 = int(i) * (w + gap), y0 = int(r) * (h + gap);
      for (int c = 0; c < 3; ++c)
        for (int y = 0; y < p.height; ++y)
          for (int x = 0; x < p.width; ++x)
            sheet.planar[(std::size_t(c) * sheet.height + y0 + y) * sheet.width + x0 + x] = p.at(c, y, x);
    }
  host::write_png(png, sheet);

  std::ofstream out(md);
  if (!out) throw std::runtime_error("cannot write " + md.string());
  out << "# " << png.filename().string() << ": " << size.label << " (" << size.width << " × " << size.height
      << ")\n\nEach picture box-averaged to short side 128. Rows, top to bottom:\n\n";
  for (std::size_t r = 0; r < rows.size(); ++r) out << r + 1 << ". " << rows[r].name << "\n";
  out << "\nColumns, left to right (unit: prompt):\n\n";
  for (std::size_t i = 0; i < columns && i < units.size(); ++i)
    out << i + 1 << ". unit " << units[i].index << ": " << units[i].prompt << "\n";
}

}  // namespace genplug::dype_effect
