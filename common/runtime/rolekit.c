/* rolekit — see rolekit.h. */
#include "rolekit.h"

#include <signal.h>
#include <stdio.h>

#include "ckpt.h"
#include "util.h"

volatile int g_sig_usr1, g_sig_term, g_sig_int;

const char *rk_stop_signal_name(void) {
  if (g_sig_term == SIGHUP) return "SIGHUP";
  if (g_sig_term) return "SIGTERM";
  return g_sig_int ? "SIGINT" : "SIGUSR1";
}

void rk_run_dir(const Config *cfg, char *out, size_t n) {
  char name[256];
  cfg_run_name(cfg, name, sizeof name);
  snprintf(out, n, "%s/%s", cfg->run.dir, name);
}

void rk_ckpt_name(int role, int idx, char *out, size_t n) {
  snprintf(out, n, "%s-%d.ckpt", role_name(role), idx);
}

void rk_checkpoint(const Config *cfg, Runtime *rt, int role, int idx, int64_t step, CkptSaveFn save,
                   void *obj) {
  char run[1024], dir[1200], name[64], err[512];
  rk_run_dir(cfg, run, sizeof run);
  ckpt_dir(run, step, dir, sizeof dir);
  rk_ckpt_name(role, idx, name, sizeof name);
  int64_t bytes = 0;
  uint64_t sum = 0;
  CkptWriter *w =
      ckw_open(dir, name, role_name(role), idx, step, ckw_count(save, obj), err, sizeof err);
  int ok = w != NULL;
  if (w) {
    save(obj, w);
    ok = ckw_close(w, &bytes, &sum, err, sizeof err) == 0;
  }
  if (!ok) LOG_E("%s %d: checkpoint failed: %s", role_name(role), idx, err);
  /* the answer the learner's MANIFEST is built from */
  Enc *e = rt_begin(rt, MSG_CHECKPOINT_DONE, ROLE_LEARNER, 0, 6);
  enc_int(e, K_STEPNO, step);
  enc_int(e, K_CODE, ok ? 0 : 1);
  enc_int(e, K_FROM, idx);
  enc_int(e, K_KIND, role);
  enc_int(e, K_BYTES, bytes);
  enc_int(e, K_SUM, (int64_t)sum);
  rt_send(rt);
}
