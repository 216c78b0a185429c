/* render — offscreen frames of an environment: MuJoCo's renderer on an EGL context (Mesa's
 * llvmpipe on machines without a GPU; no display needed), and a pipe to ffmpeg for video.
 *
 * Cameras follow gym's viewer_setup for each task (tracking the torso, or a fixed view of the
 * pendulums). Built without EGL (no libegl-dev), render_open says so. */
#ifndef USBPO_RENDER_H
#define USBPO_RENDER_H

#include <stdint.h>

#include "envs/env.h"

typedef struct Renderer Renderer;

/* w x h frames of env (at most the model's offscreen buffer size); NULL with the reason */
Renderer *render_open(Env *env, int w, int h, char *err, size_t errlen);
/* the current state as rgb24, rows top to bottom (w * h * 3 bytes) */
void render_frame(Renderer *r, Env *env, uint8_t *rgb);
void render_size(const Renderer *r, int *w, int *h);
void render_close(Renderer *r);

/* ffmpeg reading rgb24 frames on stdin, writing an H.264 MP4; NULL with the reason */
typedef struct VideoOut VideoOut;
VideoOut *video_open(const char *path, int w, int h, double fps, char *err, size_t errlen);
int video_frame(VideoOut *v, const uint8_t *rgb);
int video_close(VideoOut *v); /* 0 when ffmpeg finished cleanly */

#endif
