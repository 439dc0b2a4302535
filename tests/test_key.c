/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_key.c - the green-screen keyer of the wrappers' alpha mode
 * (core/key.c), alone, on synthetic frames: a clean transparent screen, an opaque subject, soft edges, spill suppression,
 * unmixing, and the measure of the screen colour on the frame's border.
 * The wrappers are tested through their hosts (tests/test_ffmpeg.sh,
 * tests/test_gst*).
 */
#include "test_util.h"

#include "st2v.h"

#define W 64
#define H 48

static uint8_t src[H][W * 3]; /* RGB24 */
static uint8_t dst[H][W * 4]; /* RGBA */

static void fill(int r, int g, int b)
{
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            src[y][3 * x + 0] = (uint8_t)r;
            src[y][3 * x + 1] = (uint8_t)g;
            src[y][3 * x + 2] = (uint8_t)b;
        }
}

static void put(int x, int y, int r, int g, int b)
{
    src[y][3 * x + 0] = (uint8_t)r;
    src[y][3 * x + 1] = (uint8_t)g;
    src[y][3 * x + 2] = (uint8_t)b;
}

static const uint8_t *px(int x, int y)
{
    return &dst[y][4 * x];
}

static void key_all(const st2v_key *key)
{
    st2v_key_frame(&dst[0][0], W * 4, &src[0][0], W * 3, W, H, key);
}

static void screen_pixels_become_fully_transparent_black(void)
{
    st2v_key key;
    st2v_key_init(&key);
    fill(ST2V_KEY_DEFAULT_R, ST2V_KEY_DEFAULT_G, ST2V_KEY_DEFAULT_B);
    key_all(&key);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            const uint8_t *p = px(x, y);
            REQUIRE(p[0] == 0 && p[1] == 0 && p[2] == 0 && p[3] == 0,
                    "pixel (%d,%d) = %d,%d,%d,%d, want 0,0,0,0", x, y, p[0],
                    p[1], p[2], p[3]);
        }
}

static void a_noisy_screen_is_still_fully_transparent(void)
{
    st2v_key key;
    st2v_key_init(&key);
    fill(0, 0, 0);
    /* the screen as a model renders it: uneven, +-20 per channel */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            put(x, y, 20 + (x * 7 + y * 3) % 21, 170 + (x * 5 + y * 11) % 41 - 20,
                60 + (x * 13 + y) % 21 - 10);
    REQUIRE(st2v_key_measure(&key, &src[0][0], W * 3, W, H) == 1,
            "no screen measured");
    key_all(&key);
    int opaque = 0;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            opaque += px(x, y)[3] != 0;
    CHECK(opaque == 0, "%d screen pixels kept some opacity", opaque);
}

static void subject_colours_stay_opaque_and_unchanged(void)
{
    static const int colours[][3] = {
        {200, 30, 30}, {30, 40, 200}, {240, 240, 240}, {10, 10, 10},
        {128, 128, 128}, {230, 200, 60}, {180, 120, 90},
    };
    st2v_key key;
    st2v_key_init(&key);
    for (size_t i = 0; i < sizeof(colours) / sizeof(colours[0]); i++) {
        const int *c = colours[i];
        fill(c[0], c[1], c[2]);
        key_all(&key);
        const uint8_t *p = px(W / 2, H / 2);
        CHECK(p[3] == 255, "colour %d,%d,%d got alpha %d", c[0], c[1], c[2],
              p[3]);
        CHECK(p[0] == c[0] && p[2] == c[2] &&
                  p[1] == (c[1] > (c[0] > c[2] ? c[0] : c[2])
                               ? (c[0] > c[2] ? c[0] : c[2])
                               : c[1]),
              "colour %d,%d,%d became %d,%d,%d", c[0], c[1], c[2], p[0], p[1],
              p[2]);
    }
}

static void edges_are_soft_with_alpha_falling_steadily(void)
{
    /* a ramp from a red subject to the screen, left to right */
    st2v_key key;
    st2v_key_init(&key);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int t = x * 255 / (W - 1);
            put(x, y, (200 * (255 - t) + ST2V_KEY_DEFAULT_R * t) / 255,
                (40 * (255 - t) + ST2V_KEY_DEFAULT_G * t) / 255,
                (40 * (255 - t) + ST2V_KEY_DEFAULT_B * t) / 255);
        }
    key_all(&key);
    int partial = 0, prev = 256;
    for (int x = 0; x < W; x++) {
        int a = px(x, 0)[3];
        CHECK(a <= prev, "alpha rises from %d to %d at x=%d", prev, a, x);
        partial += a > 0 && a < 255;
        prev = a;
    }
    CHECK(px(0, 0)[3] == 255, "the subject end is not opaque");
    CHECK(px(W - 1, 0)[3] == 0, "the screen end is not transparent");
    /* a hard threshold would give at most one partial pixel */
    CHECK(partial >= 8, "only %d semi-transparent pixels on a %d-pixel ramp",
          partial, W);
}

static void edge_pixels_are_unmixed_from_the_screen(void)
{
    /* 40% red subject, 60% screen: semi-transparent, and no longer green */
    st2v_key key;
    st2v_key_init(&key);
    int r = (2 * 200 + 3 * ST2V_KEY_DEFAULT_R) / 5,
        g = (2 * 40 + 3 * ST2V_KEY_DEFAULT_G) / 5,
        b = (2 * 40 + 3 * ST2V_KEY_DEFAULT_B) / 5;
    fill(r, g, b);
    key_all(&key);
    const uint8_t *p = px(0, 0);
    REQUIRE(p[3] > 0 && p[3] < 255, "a 40/60 mix got alpha %d", p[3]);
    CHECK(p[1] <= p[0], "green %d still dominates red %d after unmixing",
          p[1], p[0]);
    CHECK(p[0] > r, "red %d was not recovered above the mix's %d", p[0], r);
}

static void green_spill_on_the_subject_is_suppressed(void)
{
    /* skin lit by the screen: green slightly above red */
    st2v_key key;
    st2v_key_init(&key);
    fill(150, 165, 120);
    key_all(&key);
    const uint8_t *p = px(0, 0);
    CHECK(p[3] == 255, "a lightly spilled subject got alpha %d", p[3]);
    CHECK(p[1] <= p[0] && p[1] <= 150, "green %d not suppressed (red %d)",
          p[1], p[0]);
    CHECK(p[0] == 150 && p[2] == 120, "red/blue changed: %d,%d", p[0], p[2]);
}

static void the_screen_colour_is_measured_on_the_border(void)
{
    st2v_key key;
    st2v_key_init(&key);
    fill(40, 210, 90);
    /* a red subject in the middle does not move the measure */
    for (int y = H / 4; y < 3 * H / 4; y++)
        for (int x = W / 4; x < 3 * W / 4; x++)
            put(x, y, 200, 30, 30);
    REQUIRE(st2v_key_measure(&key, &src[0][0], W * 3, W, H) == 1,
            "no screen measured");
    CHECK(key.r == 40 && key.g == 210 && key.b == 90,
          "measured %d,%d,%d, want 40,210,90", key.r, key.g, key.b);
    key_all(&key);
    CHECK(px(0, 0)[3] == 0, "the measured screen is not transparent");
    CHECK(px(W / 2, H / 2)[3] == 255, "the subject is not opaque");

    /* a later measure moves the key a quarter of the way */
    fill(40, 170, 90);
    REQUIRE(st2v_key_measure(&key, &src[0][0], W * 3, W, H) == 1,
            "no screen measured the second time");
    CHECK(key.g == 200, "key green %d after a move to 170, want 200", key.g);
}

static void a_frame_without_a_screen_keeps_the_key(void)
{
    st2v_key key;
    st2v_key_init(&key);
    fill(120, 60, 200);
    CHECK(st2v_key_measure(&key, &src[0][0], W * 3, W, H) == 0,
          "a purple frame measured as a screen");
    CHECK(!key.measured && key.g == ST2V_KEY_DEFAULT_G,
          "the key changed without a screen");
}

static void tiny_and_odd_frames_are_handled(void)
{
    st2v_key key;
    st2v_key_init(&key);
    fill(ST2V_KEY_DEFAULT_R, ST2V_KEY_DEFAULT_G, ST2V_KEY_DEFAULT_B);
    CHECK(st2v_key_measure(&key, &src[0][0], W * 3, 1, 1) == 1,
          "a 1x1 screen was not measured");
    CHECK(st2v_key_measure(&key, &src[0][0], W * 3, 3, 17) == 1,
          "a 3x17 screen was not measured");
    st2v_key_frame(&dst[0][0], W * 4, &src[0][0], W * 3, 3, 17, &key);
    CHECK(px(2, 16)[3] == 0, "the corner of a 3x17 frame is not keyed");
}

int main(void)
{
    RUN(screen_pixels_become_fully_transparent_black);
    RUN(a_noisy_screen_is_still_fully_transparent);
    RUN(subject_colours_stay_opaque_and_unchanged);
    RUN(edges_are_soft_with_alpha_falling_steadily);
    RUN(edge_pixels_are_unmixed_from_the_screen);
    RUN(green_spill_on_the_subject_is_suppressed);
    RUN(the_screen_colour_is_measured_on_the_border);
    RUN(a_frame_without_a_screen_keeps_the_key);
    RUN(tiny_and_odd_frames_are_handled);
    return tu_summary();
}
