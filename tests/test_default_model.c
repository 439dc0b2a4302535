/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_default_model.c - a fast smoke test of the model st2v ships: found
 * with no option, it is the trained model (not the placeholder), and it
 * follows a simple prompt ("a red ball on a black background": red pixels
 * on a dark background) for two seeds. Load time and speed are measured by
 * `make bench`, not here.
 */
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

static st2v_model *model;

static void default_model_is_found_and_is_the_trained_one(void)
{
    char path[4096], err[512];
    REQUIRE(st2v_default_model_path(path, sizeof(path)) == 0,
            "no default model: %s", path);
    REQUIRE(st2v_model_load(&model, path, err, sizeof(err)) == 0, "%s", err);
    const st2v_model_info *info = st2v_model_get_info(model);
    printf("     %s: %s\n", path, info->name);
    CHECK(strcmp(info->name, "st2v-world-v1") == 0,
          "the default model is %s, not the trained st2v-world-v1", info->name);
    CHECK(info->gflop_per_second <= 100.0,
          "%.1f GFLOP per second of video is over the real-time budget of 100",
          info->gflop_per_second);
}

/* A clearly red pixel (the ball), and a reddish one (the ball's soft edge). */
static int is_red(const uint8_t *px)
{
    return px[0] > 140 && px[1] < 100 && px[2] < 100;
}

static int is_reddish(const uint8_t *px)
{
    return px[0] > 80 && px[0] > px[1] + 40 && px[0] > px[2] + 40;
}

/* Over a 1-second clip at the first native size: the share of the
 * background on the frame's border (border pixels that are not the red
 * object, which may touch the edge) that is dark, the share of the border
 * the object covers, and the count of clearly red pixels in frames 8-15. */
static void measure(uint64_t seed, double *dark_bg, double *object,
                    int *red)
{
    st2v_params p = st2v_default_params();
    st2v_generator *gen = NULL;
    st2v_stream_info si;
    char err[512];
    p.prompt = "a red ball on a black background";
    p.seed = seed;
    p.frames = 16;
    *dark_bg = *object = 0;
    *red = 0;
    if (st2v_generator_new(&gen, model, &p, err, sizeof(err)) != 0) {
        CHECK(0, "%s", err);
        return;
    }
    st2v_generator_get_info(gen, &si);
    int w = si.width, h = si.height;
    uint8_t *rgb = malloc((size_t)w * h * 3); /* (h, w, 3) */
    int64_t border = 0, obj = 0, dark = 0;
    for (int f = 0; rgb && st2v_generator_next_frame(gen, rgb, w * 3, NULL) ==
                              ST2V_OK; f++) {
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                const uint8_t *px = rgb + ((size_t)y * w + x) * 3;
                int edge = x < 4 || y < 4 || x >= w - 4 || y >= h - 4;
                if (edge) {
                    border++;
                    if (is_reddish(px))
                        obj++;
                    else
                        dark += px[0] < 70 && px[1] < 70 && px[2] < 70;
                } else if (f >= 8) {
                    *red += is_red(px);
                }
            }
    }
    *dark_bg = border > obj ? (double)dark / (border - obj) : 0;
    *object = border ? (double)obj / border : 0;
    free(rgb);
    st2v_generator_free(gen);
}

static void a_red_ball_on_black_gives_red_pixels_on_a_dark_background(void)
{
    REQUIRE(model, "no model");
    for (uint64_t seed = 1; seed <= 2; seed++) {
        double dark, object;
        int red;
        measure(seed, &dark, &object, &red);
        printf("     seed %llu: %.0f%% of the background on the border dark, "
               "the object on %.0f%% of it, %d red pixels\n",
               (unsigned long long)seed, dark * 100, object * 100, red);
        CHECK(dark > 0.8, "seed %llu: only %.0f%% of the background is dark",
              (unsigned long long)seed, dark * 100);
        CHECK(object < 0.5, "seed %llu: the red fills %.0f%% of the border",
              (unsigned long long)seed, object * 100);
        CHECK(red > 8 * 40, "seed %llu: only %d red pixels in 8 frames",
              (unsigned long long)seed, red);
    }
}

int main(void)
{
    RUN(default_model_is_found_and_is_the_trained_one);
    RUN(a_red_ball_on_black_gives_red_pixels_on_a_dark_background);
    st2v_model_free(model);
    return tu_summary();
}
