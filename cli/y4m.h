/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * y4m.h - a YUV4MPEG2 writer for the st2v command: RGB24 frames converted
 * to full-range BT.601 4:2:0 with centred chroma ('C420jpeg'), the format
 * ffmpeg, mpv and x264 read from a file or a pipe.
 */
#ifndef ST2V_Y4M_H
#define ST2V_Y4M_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct y4m_writer {
    FILE *fp;                  /* not owned */
    int width, height;         /* even */
    uint8_t *yuv;              /* (width * height * 3 / 2) one frame: Y, Cb, Cr */
} y4m_writer;

/* Write the stream header. Returns 0, or -1 with errno set (EINVAL for an
 * odd or non-positive size or rate). */
int y4m_open(y4m_writer *w, FILE *fp, int width, int height, int fps_num,
             int fps_den);

/* Convert one packed RGB24 frame (rows `stride` bytes apart) and write it.
 * Returns 0, or -1 with errno set. */
int y4m_write_rgb(y4m_writer *w, const uint8_t *rgb, ptrdiff_t stride);

/* Free the frame buffer (the FILE stays open). Accepts a zeroed writer. */
void y4m_close(y4m_writer *w);

/* RGB24 to full-range BT.601 4:2:0, chroma from the average of each 2x2
 * block: y (w*h), cb and cr ((w/2)*(h/2)). Exposed for tests. */
void y4m_rgb_to_yuv420(uint8_t *y, uint8_t *cb, uint8_t *cr,
                       const uint8_t *rgb, ptrdiff_t stride, int width,
                       int height);

#endif /* ST2V_Y4M_H */
