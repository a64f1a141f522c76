#version 330 core
// One quad covering the heatmap image. v_uv: (0, 0) at the image's top-left, (1, 1) at its bottom-right, so the
// fragment shader thinks in rows downwards as the map is stored (row 0 = the first query token at the top).
layout(location = 0) in vec2 a_pos;  // clip space, -1..1
out vec2 v_uv;
void main() {
  v_uv = vec2(a_pos.x * 0.5 + 0.5, 0.5 - a_pos.y * 0.5);
  gl_Position = vec4(a_pos, 0.0, 1.0);
}
