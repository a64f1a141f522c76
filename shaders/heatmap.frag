#version 330 core
// Attention heatmap: values from an R32F texture (one texel per (query row, key column)), mapped to colour through
// a 256 x 3 colormap texture (row 0 viridis, 1 magma, 2 diverging). Zoom and pan are the view rectangle in cells,
// so zooming never re-uploads anything. Minified views read the mipmaps (mean pooling) so a 4096-wide map
// zoomed out keeps the mass of thin stripes instead of dropping most rows.
in vec2 v_uv;
out vec4 frag_color;

uniform sampler2D u_values0;   // the map, or the baseline of a difference
uniform sampler2D u_values1;   // the steered map of a difference
uniform sampler2D u_colormap;
uniform int u_colormap_row;
uniform vec4 u_view;           // x0, y0, x1, y1: the visible region in cells (x = key column, y = query row)
uniform vec2 u_shape;          // cols, rows shown (a difference: the common region)
uniform vec2 u_size0;          // cols, rows of texture 0
uniform vec2 u_size1;          // cols, rows of texture 1
uniform int u_difference;
uniform int u_log;
uniform int u_mask_sink;
uniform float u_vmin;
uniform float u_vmax;
uniform float u_log_floor;

const vec4 kOutside = vec4(0.09, 0.09, 0.11, 1.0);  // beyond the map
const vec4 kCausal = vec4(0.16, 0.16, 0.19, 1.0);   // keys after the query: never attended
const vec4 kSink = vec4(0.35, 0.35, 0.38, 1.0);     // the masked sink column

float to_unit(float v) {
  if (u_difference == 1) {
    // Signed and linear: 0.5 (white) is no change, the ends are -vmax and +vmax.
    return clamp(0.5 + 0.5 * v / max(u_vmax, 1e-12), 0.0, 1.0);
  }
  if (u_log == 1) {
    float lo = log(u_log_floor), hi = log(max(u_vmax, u_log_floor * 1.0001));
    return clamp((log(max(v, u_log_floor)) - lo) / (hi - lo), 0.0, 1.0);
  }
  return clamp((v - u_vmin) / max(u_vmax - u_vmin, 1e-12), 0.0, 1.0);
}

void main() {
  vec2 cell = mix(u_view.xy, u_view.zw, v_uv);
  // Sample before any branch: the mipmap level comes from derivatives, which need every pixel of a quad here.
  float v = texture(u_values0, cell / u_size0).r;
  if (u_difference == 1) v = texture(u_values1, cell / u_size1).r - v;
  if (cell.x < 0.0 || cell.y < 0.0 || cell.x >= u_shape.x || cell.y >= u_shape.y) {
    frag_color = kOutside;
    return;
  }
  ivec2 c = ivec2(floor(cell));
  if (c.x > c.y) {
    frag_color = kCausal;
    return;
  }
  if (u_mask_sink == 1 && c.x == 0) {
    frag_color = kSink;
    return;
  }
  int i = int(floor(to_unit(v) * 255.0 + 0.5));
  frag_color = texelFetch(u_colormap, ivec2(i, u_colormap_row), 0);
}
