/* evaluate — offline evaluation of a run's policy, and its video (see evaluate.h). */
#include "evaluate.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <mujoco/mujoco.h>

#include "actor.h"
#include "setup.h"
#include "ckpt.h"
#include "config.h"
#include "render.h"
#include "util.h"

#define EVAL_KEY 0xfffffff0u /* an epoch key no training evaluation reaches */

typedef struct {
  Renderer *r;
  VideoOut *v;
  uint8_t *rgb;
  int frames, failed;
} Film;

static void film_frame(void *ctx, Env *env) {
  Film *f = ctx;
  if (f->failed) return;
  render_frame(f->r, env, f->rgb);
  if (video_frame(f->v, f->rgb) != 0) f->failed = 1;
  f->frames++;
}

/* the policy parameters: the newest valid checkpoint's, else policy_final.bin */
/* every parameter finite (a policy of NaN or garbage bits is refused, not evaluated) */
static int all_finite(const real *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isfinite(p[i])) return 0;
  return 1;
}

static int load_policy(const char *run, const Config *cfg, const NnNet *pn, real *pi, char *from,
                       size_t n) {
  char dir[1200], path[1300], err[600];
  if (ckpt_find_latest(run, cfg_hash(cfg), dir, sizeof dir) == 0) {
    snprintf(path, sizeof path, "%s/learner-0.ckpt", dir);
    CkptFile *f = ckr_open(path, "learner", 0, err, sizeof err);
    if (f && ckr_arr(f, "pi", DT_F32, (int64_t)pn->nparam, 1, pi) == 0 &&
        all_finite(pi, pn->nparam)) {
      int64_t upd = -1;
      ckr_int(f, "updates", &upd);
      snprintf(from, n, "checkpoint %s (%lld SAC updates)", dir, (long long)upd);
      ckr_close(f);
      return 0;
    }
    LOG_W("%s: %s", path, f ? "no policy of this configuration's shape" : err);
    ckr_close(f);
  }
  snprintf(path, sizeof path, "%s/policy_final.bin", run);
  size_t len = 0;
  struct stat st;
  char *b = lstat(path, &st) == 0 && S_ISREG(st.st_mode) ? util_read_file(path, &len) : NULL;
  const size_t want = sizeof(real) * pn->nparam;
  const char *why = NULL;
  char sum_path[1400], sum_text[64] = "";
  snprintf(sum_path, sizeof sum_path, "%s.sum", path);
  size_t slen;
  char *sum = util_read_file(sum_path, &slen);
  if (!b)
    why = "missing or not a regular file";
  else if (len != want)
    why = "of the wrong size for this configuration's policy";
  else if (!sum) /* written with the policy, always: without it the bytes cannot be trusted */
    why = "without its checksum file policy_final.bin.sum (a whole policy cannot be told from "
          "a damaged one)";
  else if (snprintf(sum_text, sizeof sum_text, "%016llx", (unsigned long long)ckpt_sum(b, len)),
           strncmp(sum, sum_text, 16) != 0)
    why = "damaged (its checksum in policy_final.bin.sum does not match)";
  else {
    memcpy(pi, b, len);
    if (!all_finite(pi, pn->nparam)) why = "not finite (NaN or infinite parameters)";
  }
  free(b);
  free(sum);
  if (!why) {
    snprintf(from, n, "%s", path);
    return 0;
  }
  LOG_E("%s: no valid checkpoint under %s/ckpt, and %s is %s", run, run, path, why);
  return -1;
}

/* a whole decimal number and nothing else */
static int parse_int(const char *s, long long *v) {
  char *end;
  errno = 0;
  *v = strtoll(s, &end, 10);
  return end == s || *end != 0 || errno ? -1 : 0;
}

typedef struct {
  const char *run, *video;
  int episodes;
  long long as_epoch;
} EvalArgs;

/* -1 to go on, else the exit code */
static int eval_args(int argc, char **argv, EvalArgs *o) {
  const char *run = NULL, *video = NULL;
  int episodes = 10;
  long long as_epoch = -1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const int more = i + 1 < argc;
    if (!strcmp(a, "--eval") && more) {
      run = argv[++i];
    } else if (!strcmp(a, "--episodes") && more) {
      long long v;
      if (parse_int(argv[++i], &v) != 0 || v < 1 || v > 100000) {
        fprintf(stderr, "usbpo: --episodes %s: expected a whole number from 1 to 100000\n",
                argv[i]);
        return EXIT_USAGE;
      }
      episodes = (int)v;
    } else if (!strcmp(a, "--video") && more) {
      video = argv[++i];
    } else if (!strcmp(a, "--as-epoch") && more) {
      if (parse_int(argv[++i], &as_epoch) != 0 || as_epoch < 0) {
        fprintf(stderr, "usbpo: --as-epoch %s: expected an epoch number (0, 1, ...)\n", argv[i]);
        return EXIT_USAGE;
      }
    } else {
      fprintf(stderr,
              "usbpo: --eval RUN_DIR [--episodes N] [--video out.mp4] [--as-epoch E]: "
              "unexpected '%s'\n",
              a);
      return EXIT_USAGE;
    }
  }
  if (!run || episodes < 1 || episodes > 100000 || as_epoch < -1 || as_epoch >= EVAL_KEY) {
    fprintf(stderr, "usbpo: --eval RUN_DIR [--episodes N (1..100000)] [--video out.mp4] "
                    "[--as-epoch E]\n");
    return EXIT_USAGE;
  }
  *o = (EvalArgs){run, video, episodes, as_epoch};
  return -1;
}

int eval_main(int argc, char **argv) {
  EvalArgs o;
  const int code = eval_args(argc, argv, &o);
  if (code >= 0) return code;
  const char *run = o.run, *video = o.video;
  const int episodes = o.episodes;
  const long long as_epoch = o.as_epoch;
  char cpath[1200];
  snprintf(cpath, sizeof cpath, "%s/config.toml", run);
  struct stat st;
  if (stat(cpath, &st) != 0) {
    LOG_E("%s is not a run directory (no config.toml)", run);
    return EXIT_FATAL;
  }
  Config cfg;
  CfgErrors errs = {0};
  if (cfg_load(&cfg, cpath, NULL, 0, &errs) != 0) {
    fprintf(stderr, "%s", errs.text);
    cfg_errors_free(&errs);
    return EXIT_FATAL;
  }
  if (as_epoch >= 0) { /* the run's own epochs only: another number is a typo */
    char mpath[1300];
    snprintf(mpath, sizeof mpath, "%s/metrics.csv", run);
    size_t ml = 0;
    char *mt = util_read_file(mpath, &ml);
    long long last = -1;
    for (char *line = mt ? strchr(mt, '\n') : NULL; line && line[1]; line = strchr(line + 1, '\n'))
      if (line[1] >= '0' && line[1] <= '9') last = atoll(line + 1);
    free(mt);
    if (as_epoch > last) {
      if (last < 0)
        LOG_E("--as-epoch %lld: %s has no epoch yet (metrics.csv has no rows)", as_epoch, run);
      else
        LOG_E("--as-epoch %lld: %s has epochs 0 to %lld (metrics.csv)", as_epoch, run, last);
      return EXIT_USAGE;
    }
  }
  char err[512];
  EnvOptions eo = {cfg.env.contact_forces, cfg.env.model_dir};
  Env *env = env_make(cfg.env.name, &eo, err, sizeof err);
  if (!env) {
    LOG_E("%s", err);
    return EXIT_FATAL;
  }
  const EnvInfo *info = env_get_info(env);
  PolicyConfig pc = setup_policy(&cfg);
  NnNet pn;
  pol_net(&pc, &pn);
  real *pi = xmalloc(sizeof(real) * pn.nparam);
  real *scratch = xmalloc(sizeof(real) * pol_act_scratch(&pn, 1));
  char from[1400];
  if (load_policy(run, &cfg, &pn, pi, from, sizeof from) != 0) return EXIT_FATAL;
  LOG_I("evaluating %s on %s: %d deterministic episode(s), policy from %s",
        cfg_algo_name(cfg.run.algo), cfg_env_name(cfg.env.name), episodes, from);
  const uint32_t key = as_epoch >= 0 ? (uint32_t)as_epoch : EVAL_KEY;
  double *ret = xmalloc(sizeof(double) * episodes);
  double s = 0, s2 = 0, lsum = 0;
  int best = 0;
  for (int i = 0; i < episodes; i++) {
    Rng rr = rng_make((uint32_t)cfg.run.seed, RNG_EVAL, rng_index2(key, (uint32_t)i));
    int len;
    ret[i] = actor_evaluate(env, &rr, &pn, pi, &pc, (int)cfg.env.max_episode_steps, &len, scratch);
    printf("episode %d: return %.3f, length %d\n", i, ret[i], len);
    s += ret[i], s2 += ret[i] * ret[i], lsum += len;
    if (ret[i] > ret[best]) best = i;
  }
  double mn = ret[0], mx = ret[0];
  for (int i = 1; i < episodes; i++) mn = fmin(mn, ret[i]), mx = fmax(mx, ret[i]);
  const double mean = s / episodes, sd = sqrt(fmax(0, s2 / episodes - mean * mean));
  printf("eval: %d episodes, return mean %.3f std %.3f min %.3f max %.3f, length mean %.1f\n",
         episodes, mean, sd, mn, mx, lsum / episodes);
  int rc = EXIT_OK;
  if (video) {
    /* the best episode again, filmed: same resets, same deterministic policy */
    signal(SIGPIPE, SIG_IGN);
    const int W = 640, H = 480;
    Film film = {0};
    film.r = render_open(env, W, H, err, sizeof err);
    if (!film.r) {
      LOG_E("--video: %s", err);
      rc = EXIT_FATAL;
    } else {
      int w, h;
      render_size(film.r, &w, &h);
      const double dt = env_model(env)->opt.timestep * info->frame_skip;
      film.v = video_open(video, w, h, 1.0 / dt, err, sizeof err);
      film.rgb = xmalloc((size_t)w * h * 3);
      if (!film.v) {
        LOG_E("--video: %s", err);
        rc = EXIT_FATAL;
      } else {
        Rng rr = rng_make((uint32_t)cfg.run.seed, RNG_EVAL, rng_index2(key, (uint32_t)best));
        int len;
        const double again =
            actor_evaluate_cb(env, &rr, &pn, pi, &pc, (int)cfg.env.max_episode_steps, &len, scratch,
                              film_frame, &film);
        const int vrc = video_close(film.v);
        if (film.failed || vrc != 0) {
          LOG_E("--video: ffmpeg failed writing %s (is ffmpeg installed?)", video);
          rc = EXIT_FATAL;
        } else {
          printf("video: %s, episode %d (return %.3f), %d frames of %dx%d at %.0f fps\n", video,
                 best, again, film.frames, w, h, 1.0 / dt);
          if (again != ret[best]) {
            LOG_E("the filmed episode returned %.6f, not %.6f: evaluation is not reproducible",
                  again, ret[best]);
            rc = EXIT_FATAL;
          }
        }
      }
      xfree(film.rgb);
      render_close(film.r);
    }
  }
  xfree(ret), xfree(pi), xfree(scratch);
  env_free(env);
  return rc;
}
