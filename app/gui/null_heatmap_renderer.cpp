// The renderer used with no GL (headless tests): counts what it was asked to do and draws nothing.
#include "app/gui/heatmap_renderer.h"

namespace hl::gui {
namespace {

class NullHeatmapRenderer final : public HeatmapRenderer {
 public:
  void set_values(int slot, const float*, int64_t, int64_t, const void* key) override {
    if (slot < 0 || slot > 1 || keys_[slot] == key) return;
    keys_[slot] = key;
    ++uploads_;
  }
  void draw(const HeatmapParams&, int, int) override { ++draws_; }
  uint64_t texture() const override { return 0; }
  int64_t uploads() const override { return uploads_; }
  int64_t draws() const override { return draws_; }

 private:
  const void* keys_[2] = {nullptr, nullptr};
  int64_t uploads_ = 0, draws_ = 0;
};

}  // namespace

std::unique_ptr<HeatmapRenderer> make_null_heatmap_renderer() { return std::make_unique<NullHeatmapRenderer>(); }

}  // namespace hl::gui
