/* render — offscreen MuJoCo frames on EGL, and video through ffmpeg (see render.h). */
#include "render.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <mujoco/mujoco.h>

#include "util.h"

#ifdef USBPO_HAVE_EGL
#include <EGL/egl.h>
#include <EGL/eglext.h>

struct Renderer {
  EGLDisplay dpy;
  EGLContext ctx;
  mjvScene scn;
  mjvCamera cam;
  mjvOption opt;
  mjrContext con;
  int w, h;
  uint8_t *flip;
};

/* a display without a window system: Mesa's surfaceless platform first, then the default */
static EGLDisplay open_display(void) {
  PFNEGLGETPLATFORMDISPLAYEXTPROC get =
      (PFNEGLGETPLATFORMDISPLAYEXTPROC)eglGetProcAddress("eglGetPlatformDisplayEXT");
  EGLint maj, min;
  if (get) {
    EGLDisplay d = get(EGL_PLATFORM_SURFACELESS_MESA, EGL_DEFAULT_DISPLAY, NULL);
    if (d != EGL_NO_DISPLAY && eglInitialize(d, &maj, &min)) return d;
  }
  EGLDisplay d = eglGetDisplay(EGL_DEFAULT_DISPLAY);
  if (d != EGL_NO_DISPLAY && eglInitialize(d, &maj, &min)) return d;
  return EGL_NO_DISPLAY;
}

/* after gym's viewer_setup, per task: the torso tracked from the side, a little above */
static void camera(Renderer *r, const mjModel *m, int env) {
  mjv_defaultCamera(&r->cam);
  r->cam.elevation = -20;
  r->cam.azimuth = 90;
  switch (env) {
  case ENV_INVERTED_PENDULUM:
  case ENV_INVERTED_DOUBLE_PENDULUM:
    r->cam.type = mjCAMERA_FREE;
    r->cam.lookat[0] = m->stat.center[0];
    r->cam.lookat[1] = m->stat.center[1];
    r->cam.lookat[2] = env == ENV_INVERTED_PENDULUM ? m->stat.center[2] : 0.1225;
    r->cam.elevation = 0;
    r->cam.distance = m->stat.extent * (env == ENV_INVERTED_PENDULUM ? 1.0 : 0.5) * 1.6;
    break;
  default:
    r->cam.type = mjCAMERA_TRACKING;
    r->cam.trackbodyid = 1; /* the torso */
    r->cam.distance = m->stat.extent * (env == ENV_HOPPER                                 ? 0.75
                                        : env == ENV_HUMANOID || env == ENV_HUMANOID_FULL ? 1.0
                                                                                          : 0.5);
    break;
  }
}

Renderer *render_open(Env *env, int w, int h, char *err, size_t errlen) {
  Renderer *r = xmalloc(sizeof *r);
  memset(r, 0, sizeof *r);
  r->dpy = open_display();
  if (r->dpy == EGL_NO_DISPLAY) {
    snprintf(err, errlen, "no EGL display (install libegl-mesa0 and libgl1-mesa-dri): 0x%x",
             eglGetError());
    xfree(r);
    return NULL;
  }
  static const EGLint attrs[] = {EGL_SURFACE_TYPE,
                                 EGL_PBUFFER_BIT,
                                 EGL_RED_SIZE,
                                 8,
                                 EGL_GREEN_SIZE,
                                 8,
                                 EGL_BLUE_SIZE,
                                 8,
                                 EGL_DEPTH_SIZE,
                                 24,
                                 EGL_RENDERABLE_TYPE,
                                 EGL_OPENGL_BIT,
                                 EGL_NONE};
  static const EGLint any[] = {EGL_RENDERABLE_TYPE, EGL_OPENGL_BIT, EGL_NONE};
  EGLConfig cfg;
  EGLint n = 0;
  if ((!eglChooseConfig(r->dpy, attrs, &cfg, 1, &n) || n < 1) &&
      (!eglChooseConfig(r->dpy, any, &cfg, 1, &n) || n < 1)) {
    snprintf(err, errlen, "no EGL configuration for desktop OpenGL: 0x%x", eglGetError());
    eglTerminate(r->dpy);
    xfree(r);
    return NULL;
  }
  eglBindAPI(EGL_OPENGL_API);
  r->ctx = eglCreateContext(r->dpy, cfg, EGL_NO_CONTEXT, NULL);
  if (r->ctx == EGL_NO_CONTEXT || !eglMakeCurrent(r->dpy, EGL_NO_SURFACE, EGL_NO_SURFACE, r->ctx)) {
    snprintf(err, errlen, "cannot make an EGL OpenGL context current: 0x%x", eglGetError());
    eglTerminate(r->dpy);
    xfree(r);
    return NULL;
  }
  mjModel *m = env_model(env);
  mjv_defaultScene(&r->scn);
  mjv_defaultOption(&r->opt);
  mjr_defaultContext(&r->con);
  mjv_makeScene(m, &r->scn, 2000);
  mjr_makeContext(m, &r->con, mjFONTSCALE_100);
  mjr_setBuffer(mjFB_OFFSCREEN, &r->con);
  if (r->con.currentBuffer != mjFB_OFFSCREEN) {
    snprintf(err, errlen, "MuJoCo has no offscreen buffer on this context");
    render_close(r);
    return NULL;
  }
  r->w = w < r->con.offWidth ? w : r->con.offWidth;
  r->h = h < r->con.offHeight ? h : r->con.offHeight;
  r->flip = xmalloc((size_t)r->w * r->h * 3);
  camera(r, m, env_get_info(env)->id);
  return r;
}

void render_frame(Renderer *r, Env *env, uint8_t *rgb) {
  mjrRect vp = {0, 0, r->w, r->h};
  mjv_updateScene(env_model(env), env_data(env), &r->opt, NULL, &r->cam, mjCAT_ALL, &r->scn);
  mjr_render(vp, &r->scn, &r->con);
  mjr_readPixels(r->flip, NULL, vp, &r->con);
  const size_t row = (size_t)r->w * 3; /* OpenGL rows run bottom to top */
  for (int y = 0; y < r->h; y++)
    memcpy(rgb + (size_t)y * row, r->flip + (size_t)(r->h - 1 - y) * row, row);
}

void render_size(const Renderer *r, int *w, int *h) {
  *w = r->w;
  *h = r->h;
}

void render_close(Renderer *r) {
  if (!r) return;
  mjr_freeContext(&r->con);
  mjv_freeScene(&r->scn);
  eglMakeCurrent(r->dpy, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT);
  eglDestroyContext(r->dpy, r->ctx);
  eglTerminate(r->dpy);
  xfree(r->flip);
  xfree(r);
}

#else /* no EGL at build time */

struct Renderer {
  int unused;
};

Renderer *render_open(Env *env, int w, int h, char *err, size_t errlen) {
  (void)env, (void)w, (void)h;
  snprintf(err, errlen, "this usbpo_dist was built without EGL (install libegl-dev, rebuild)");
  return NULL;
}
void render_frame(Renderer *r, Env *env, uint8_t *rgb) {
  (void)r, (void)env, (void)rgb;
}
void render_size(const Renderer *r, int *w, int *h) {
  (void)r, *w = *h = 0;
}
void render_close(Renderer *r) {
  (void)r;
}

#endif

/* ---- video ---- */

struct VideoOut {
  FILE *p;
  size_t frame_bytes;
};

VideoOut *video_open(const char *path, int w, int h, double fps, char *err, size_t errlen) {
  if (strchr(path, '\'')) {
    snprintf(err, errlen, "video path %s: a quote in the name", path);
    return NULL;
  }
  char cmd[1400];
  snprintf(cmd, sizeof cmd,
           "ffmpeg -y -loglevel error -f rawvideo -pix_fmt rgb24 -s %dx%d -r %.6g -i - "
           "-c:v libx264 -pix_fmt yuv420p -movflags +faststart '%s'",
           w, h, fps, path);
  FILE *p = popen(cmd, "w");
  if (!p) {
    snprintf(err, errlen, "cannot start ffmpeg: %s", strerror(errno));
    return NULL;
  }
  VideoOut *v = xmalloc(sizeof *v);
  v->p = p;
  v->frame_bytes = (size_t)w * h * 3;
  return v;
}

int video_frame(VideoOut *v, const uint8_t *rgb) {
  return fwrite(rgb, 1, v->frame_bytes, v->p) == v->frame_bytes ? 0 : -1;
}

int video_close(VideoOut *v) {
  const int st = pclose(v->p);
  xfree(v);
  return st == 0 ? 0 : -1;
}
