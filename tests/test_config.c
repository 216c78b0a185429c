/* test_config — malformed configs are refused with the right place and key; presets, overrides
 * and the resolved dump round-trip. */
#include <stdint.h>

#include "check.h"
#include "config.h"

/* load text (+ sets); expect failure and every `want` substring in the messages */
static void bad(const char *text, const char *const *sets, int nsets, const char *want1,
                const char *want2) {
  Config c;
  CfgErrors e = {0};
  int rc = cfg_load_text(&c, text, "cfg.toml", sets, nsets, &e);
  EXPECT(rc != 0, "accepted a bad config:\n%s", text ? text : "(none)");
  const char *msg = e.text ? e.text : "";
  EXPECT(strstr(msg, want1) != NULL, "message lacks \"%s\":\n  %s", want1, msg);
  if (want2) EXPECT(strstr(msg, want2) != NULL, "message lacks \"%s\":\n  %s", want2, msg);
  cfg_errors_free(&e);
}

#define ENV "[env]\nname = \"hopper\"\n"

static void test_malformed(void) {
  /* unknown keys, with suggestions */
  bad(ENV "[sac]\nlrr = 0.1\n", NULL, 0, "cfg.toml:4:1: unknown key 'sac.lrr'",
      "did you mean 'sac.lr'?");
  bad(ENV "[sacc]\nlr = 0.1\n", NULL, 0, "cfg.toml:4:1: unknown key 'sacc.lr'",
      "did you mean 'sac.lr'?");
  bad("seed = 3\n" ENV, NULL, 0, "cfg.toml:1:1: unknown key 'seed'", "did you mean 'run.seed'?");
  bad(ENV "[model]\nensemble = 7\n", NULL, 0, "cfg.toml:4:1: unknown key 'model.ensemble'",
      "did you mean 'model.ensemble_size'?");
  bad(ENV "[sac.net]\nhidden = 3\n", NULL, 0, "unknown key 'sac.net'", "cfg.toml:3:");
  bad(ENV "[run]\nzzzzqqqq = 1\n", NULL, 0, "cfg.toml:4:1: unknown key 'run.zzzzqqqq'", NULL);
  /* issue 16: a key set twice through a quoted dotted key, a NUL in a string, a run name that
   * leaves run.dir, a rollout length beyond an episode, inverted log-variance bounds */
  bad("\"run.seed\" = 5\n" ENV "[run]\nseed = 7\n", NULL, 0, "duplicate key 'run.seed'",
      "already set at 1:1");
  bad(ENV "[run]\nname = \"a\\u0000b\"\n", NULL, 0, "run.name: the string contains a NUL",
      "cfg.toml:4:8");
  bad(ENV "[run]\nname = \"../../x\"\n", NULL, 0, "run.name = \"../../x\" must be one directory",
      "cfg.toml:4:8");
  bad(ENV "[rollout]\nschedule = [0, 1, 1e9, 1e9]\n", NULL, 0,
      "must not exceed env.max_episode_steps = 1000", "cfg.toml:4:12");
  bad(ENV "[model]\ninit_minlv = 1\ninit_maxlv = 0\n", NULL, 0,
      "model.init_minlv = 1 must be below model.init_maxlv = 0", "cfg.toml:4:");
  /* wrong types: the place is the value */
  bad(ENV "[run]\nseed = \"abc\"\n", NULL, 0,
      "cfg.toml:4:8: run.seed: expected an integer, got a string", NULL);
  bad(ENV "[run]\nseed = 1.5\n", NULL, 0,
      "cfg.toml:4:8: run.seed: expected an integer, got a non-integral float", NULL);
  bad(ENV "[sac]\nlr = \"fast\"\n", NULL, 0, "cfg.toml:4:6: sac.lr: expected a number", NULL);
  bad(ENV "[run]\nresume = 1\n", NULL, 0,
      "cfg.toml:4:10: run.resume: expected true or false, got an integer", NULL);
  bad(ENV "[run]\nname = 1979-05-27\n", NULL, 0,
      "cfg.toml:4:8: run.name: expected a string, got a date/time", NULL);
  bad(ENV "[run]\nalgo = 3\n", NULL, 0, "cfg.toml:4:8: run.algo: expected one of", "\"usbpo\"");
  /* out of range */
  bad(ENV "[sac]\ngamma = 1.5\n", NULL, 0, "cfg.toml:4:9: sac.gamma = 1.5 is out of range",
      "must be >= 0 and <= 1");
  bad(ENV "[sac]\nlr = 0\n", NULL, 0, "cfg.toml:4:6: sac.lr = 0 is out of range", "must be > 0");
  bad(ENV "[sac]\nbatch_size = -5\n", NULL, 0, "cfg.toml:4:14: sac.batch_size = -5", NULL);
  bad(ENV "[model]\nelites = 0\n", NULL, 0, "cfg.toml:4:10: model.elites = 0 is out of range",
      NULL);
  /* enums */
  bad(ENV "[run]\nalgo = \"ppo\"\n", NULL, 0, "cfg.toml:4:8: run.algo = \"ppo\" is not valid",
      "\"sac\", \"mbpo\", \"usbpo\"");
  bad("[env]\nname = \"cheetah\"\n", NULL, 0, "cfg.toml:2:8: env.name = \"cheetah\" is not valid",
      "\"halfcheetah\"");
  bad(ENV "[finetune]\nmode = \"W2\"\n", NULL, 0, "cfg.toml:4:8: finetune.mode = \"W2\"", NULL);
  /* arrays */
  bad(ENV "[rollout]\nschedule = [1, 2, 3]\n", NULL, 0,
      "cfg.toml:4:12: rollout.schedule: expected 4 numbers, got 3", NULL);
  bad(ENV "[rollout]\nschedule = [1, 2, \"x\", 4]\n", NULL, 0,
      "cfg.toml:4:12: rollout.schedule: expected an array of numbers", NULL);
  bad(ENV "[model]\ndecay = [1e-5, -1, 1e-5, 1e-5, 1e-4]\n", NULL, 0,
      "cfg.toml:4:9: model.decay[1] = -1 is out of range", NULL);
  /* missing required value */
  bad("[run]\nseed = 1\n", NULL, 0, "cfg.toml: missing required value env.name", NULL);
  bad("", NULL, 0, "missing required value env.name", NULL);
  /* syntax */
  bad("[run\nseed = 1\n", NULL, 0, "cfg.toml:1:", "TOML syntax error");
  bad(ENV "[run]\nseed = 1\nseed = 2\n", NULL, 0, "cfg.toml:5:", "TOML syntax error");
  bad(ENV "[sac]\nlr = 3e-4 x\n", NULL, 0, "cfg.toml:4:", "TOML syntax error");
  /* cross-field rules point at the key the user wrote */
  bad(ENV "[model]\nlayers = 3\n", NULL, 0, "cfg.toml:4:10: model.decay has 5 entries",
      "model.layers = 3 needs 4");
  bad(ENV "[model]\nelites = 9\n", NULL, 0, "cfg.toml:4:10: model.elites = 9 exceeds", NULL);
  /* the boundary: one elite more than the 7 members is refused, as many as the members is not */
  bad(ENV "[model]\nelites = 8\n", NULL, 0, "cfg.toml:4:10: model.elites = 8 exceeds", NULL);
  {
    Config c;
    CfgErrors e = {0};
    EXPECT(cfg_load_text(&c, ENV "[model]\nelites = 7\n", "cfg.toml", NULL, 0, &e) == 0,
           "7 elites of 7 members refused: %s", e.text ? e.text : "");
    cfg_errors_free(&e);
  }
  bad(ENV "[sac]\nlogstd_min = 3\n", NULL, 0, "cfg.toml:4:14: sac.logstd_min = 3 must be below",
      NULL);
  bad(ENV "[rollout]\nschedule = [5, 5, 1, 1]\n", NULL, 0,
      "cfg.toml:4:12: rollout.schedule = [5, 5, 1, 1]: the end epoch b", NULL);
  bad(ENV "[rollout]\nschedule = [1, 5, 0, 1]\n", NULL, 0, "cfg.toml:4:12:", "must be >= 1");
  /* several problems are all reported */
  {
    Config c;
    CfgErrors e = {0};
    cfg_load_text(&c, ENV "[sac]\nlrr = 1\ngamma = 2\n", "cfg.toml", NULL, 0, &e);
    EXPECT(e.count == 2, "two errors expected, got %d:\n%s", e.count, e.text);
    cfg_errors_free(&e);
  }
}

static void test_set_errors(void) {
  const char *s1[] = {"sac.lr=abc"};
  bad(ENV, s1, 1, "--set sac.lr=abc: sac.lr: expected a number, got a string", NULL);
  const char *s2[] = {"sac.lrr=1"};
  bad(ENV, s2, 1, "--set sac.lrr=1: unknown key 'sac.lrr'", "did you mean 'sac.lr'?");
  const char *s3[] = {"sac.lr"};
  bad(ENV, s3, 1, "--set sac.lr: expected section.key=value", NULL);
  const char *s4[] = {"run.seed=-1"};
  bad(ENV, s4, 1, "--set run.seed=-1: run.seed = -1 is out of range", NULL);
  const char *s5[] = {"env.name=pong"};
  bad(ENV, s5, 1, "--set env.name=pong: env.name = \"pong\" is not valid", NULL);
  const char *s6[] = {"model.layers=2"};
  bad(ENV, s6, 1, "--set model.layers=2: model.decay has 5 entries", NULL);
  const char *s7[] = {"a b=1"};
  bad(ENV, s7, 1, "--set a b=1: 'a b' is not a key", NULL);
  Config c;
  CfgErrors e = {0};
  EXPECT(cfg_load(&c, "/nonexistent/usbpo.toml", NULL, 0, &e) != 0, "missing file accepted");
  EXPECT(e.text && strstr(e.text, "/nonexistent/usbpo.toml: cannot read config"), "%s", e.text);
  cfg_errors_free(&e);
}

static Config load_ok(const char *text, const char *const *sets, int nsets) {
  Config c;
  CfgErrors e = {0};
  int rc = cfg_load_text(&c, text, "cfg.toml", sets, nsets, &e);
  EXPECT(rc == 0, "valid config refused: %s", e.text ? e.text : "");
  cfg_errors_free(&e);
  return c;
}

static void test_presets_and_overrides(void) {
  /* spec §7 per-env values arrive through the preset named by env.name */
  struct {
    const char *env;
    int64_t L, ninit, G, F, retain, hidden, total;
    double sched[4], hbar;
  } tab[] = {
      {"hopper", 1000, 5000, 20, 250, 1, 200, 125000, {20, 150, 1, 15}, -1},
      {"walker2d", 1000, 5000, 20, 250, 1, 200, 300000, {20, 150, 1, 1}, -3},
      {"halfcheetah", 1000, 5000, 40, 250, 1, 200, 400000, {20, 150, 1, 1}, -3},
      {"ant", 1000, 5000, 20, 250, 1, 200, 300000, {20, 100, 1, 25}, -4},
      {"humanoid", 1000, 5000, 20, 1000, 5, 400, 300000, {20, 300, 1, 25}, -2},
      {"inverted_pendulum", 250, 500, 10, 250, 1, 200, 20000, {1, 15, 1, 1}, -0.05},
      {"inverted_double_pendulum", 250, 500, 20, 250, 1, 200, 20000, {1, 15, 1, 1}, -0.5},
  };
  for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
    char text[128];
    snprintf(text, sizeof text, "[env]\nname = \"%s\"\n", tab[i].env);
    Config c = load_ok(text, NULL, 0);
    EXPECT(c.env.epoch_length == tab[i].L && c.env.init_steps == tab[i].ninit &&
               c.sac.updates_per_step == tab[i].G && c.model.train_freq == tab[i].F &&
               c.rollout.retain_epochs == tab[i].retain && c.model.hidden == tab[i].hidden &&
               c.run.total_steps == tab[i].total && c.sac.target_entropy == tab[i].hbar,
           "preset %s", tab[i].env);
    EXPECT(!memcmp(c.rollout.schedule, tab[i].sched, sizeof tab[i].sched), "schedule %s",
           tab[i].env);
    /* common values */
    EXPECT(c.sac.batch_size == 256 && c.sac.real_ratio == 0.05 && c.model.ensemble_size == 7 &&
               c.model.elites == 5 && c.rollout.batch_size == 100000 &&
               c.finetune.batch_size == 1024 && c.finetune.max_steps == 100,
           "common values %s", tab[i].env);
  }
  /* the user's file beats the preset, --set beats the file; bare strings and 1e5 counts work */
  const char *sets[] = {"sac.updates_per_step=7", "run.algo=mbpo", "run.name=my run"};
  Config c = load_ok("[env]\nname = \"halfcheetah\"\n[sac]\nupdates_per_step = 3\n"
                     "[run]\ntotal_steps = 1e5\n",
                     sets, 3);
  EXPECT(c.sac.updates_per_step == 7, "--set did not win: %lld", (long long)c.sac.updates_per_step);
  EXPECT(c.run.algo == ALGO_MBPO, "--set bare string");
  EXPECT(!strcmp(c.run.name, "my run"), "--set string with a space: '%s'", c.run.name);
  EXPECT(c.run.total_steps == 100000, "1e5 as a count");
  /* --set env.name switches the preset */
  const char *sw[] = {"env.name=inverted_pendulum"};
  c = load_ok(ENV, sw, 1);
  EXPECT(c.env.name == ENV_INVERTED_PENDULUM && c.env.epoch_length == 250, "preset switch");
  /* no file at all: --set alone */
  const char *only[] = {"env.name=ant"};
  Config d;
  CfgErrors e = {0};
  EXPECT(cfg_load_text(&d, NULL, NULL, only, 1, &e) == 0, "sets only: %s", e.text);
  cfg_errors_free(&e);
  EXPECT(d.env.name == ENV_ANT && d.sac.target_entropy == -4, "sets-only preset");
}

static void test_dump_roundtrip(void) {
  const char *sets[] = {"run.name=quote\"and\\slash", "run.target_return=950.5",
                        "sac.lr=0.000123456789",      "model.decay=[1e-5, 2e-5, 0, 0.1, 1]",
                        "finetune.mode=w2",           "log.tensorboard=true"};
  Config a = load_ok("[env]\nname = \"walker2d\"\n", sets, 6);
  char *dump = cfg_dump_string(&a);
  Config b = load_ok(dump, NULL, 0);
  EXPECT(memcmp(&a, &b, sizeof a) == 0, "dump does not re-parse to the same struct:\n%s", dump);
  char *dump2 = cfg_dump_string(&b);
  EXPECT(!strcmp(dump, dump2), "dump is not a fixed point");
  free(dump);
  free(dump2);
  /* -inf default survives */
  Config d = load_ok(ENV, NULL, 0);
  char *dd = cfg_dump_string(&d);
  EXPECT(strstr(dd, "target_return = -inf") != NULL, "-inf dump");
  Config d2 = load_ok(dd, NULL, 0);
  EXPECT(isinf(d2.run.target_return) && d2.run.target_return < 0, "-inf re-parse");
  free(dd);
  /* the hash ignores run identity but not hyper-parameters */
  const char *n1[] = {"run.name=x", "run.total_steps=5"};
  const char *n2[] = {"sac.lr=0.001"};
  Config h0 = load_ok(ENV, NULL, 0), h1 = load_ok(ENV, n1, 2), h2 = load_ok(ENV, n2, 1);
  EXPECT(cfg_hash(&h0) == cfg_hash(&h1), "hash depends on the run name");
  EXPECT(cfg_hash(&h0) != cfg_hash(&h2), "hash ignores sac.lr");
  /* keys added later (F_HASH_IF_SET) enter the hash only when set away from the default */
  const char *n3[] = {"finetune.old_own_scaler=true"}, *n4[] = {"finetune.shift_same_member=true"};
  Config h3 = load_ok(ENV, n3, 1), h4 = load_ok(ENV, n4, 1);
  EXPECT(cfg_hash(&h3) != cfg_hash(&h0) && cfg_hash(&h4) != cfg_hash(&h0) &&
             cfg_hash(&h3) != cfg_hash(&h4),
         "a set F_HASH_IF_SET key must change the hash");
}

/* issue 32: usbpo's phase 2 defaults to the official one, faithful at 1e-4 on phase 1's Adam
 * moments; w2 is one key away and takes its own 1e-5 and moments of its own; a given step is
 * kept under either; mbpo and sac hash as before */
static void test_phase2_defaults(void) {
  Config d = load_ok(ENV, NULL, 0);
  EXPECT(d.run.algo == ALGO_USBPO && d.finetune.mode == FT_FAITHFUL && d.finetune.lr == 1e-4 &&
             d.finetune.moments == FT_MOM_SHARED,
         "default phase 2: mode %d lr %g moments %d", d.finetune.mode, d.finetune.lr,
         d.finetune.moments);
  const char *w1[] = {"finetune.mode=w2"};
  Config w = load_ok(ENV, w1, 1);
  EXPECT(w.finetune.lr == 1e-5 && w.finetune.moments == FT_MOM_OWN,
         "finetune.mode=w2 alone: lr %g moments %d, want 1e-5 and its own", w.finetune.lr,
         w.finetune.moments);
  /* finetune.moments: shared is faithful's, own w2's; naming the mode's own changes nothing;
   * the other one changes the run (and its hash) */
  const char *fs[] = {"finetune.mode=faithful", "finetune.moments=shared"};
  const char *fo[] = {"finetune.mode=faithful", "finetune.moments=own"};
  const char *wo[] = {"finetune.mode=w2", "finetune.moments=own"};
  const char *ws[] = {"finetune.mode=w2", "finetune.moments=shared"};
  Config xfs = load_ok(ENV, fs, 2), xfo = load_ok(ENV, fo, 2), xwo = load_ok(ENV, wo, 2),
         xws = load_ok(ENV, ws, 2);
  EXPECT(cfg_hash(&xfs) == cfg_hash(&d) && cfg_hash(&xwo) == cfg_hash(&w) &&
             cfg_hash(&xfo) != cfg_hash(&d) && cfg_hash(&xws) != cfg_hash(&w),
         "finetune.moments and the hash");
  EXPECT(xfo.finetune.moments == FT_MOM_OWN && xws.finetune.moments == FT_MOM_SHARED,
         "a given finetune.moments lost");
  /* the dump names the moments, so that a resume from it keeps them */
  char *od = cfg_dump_string(&xfo);
  Config ro = load_ok(od, NULL, 0);
  EXPECT(ro.finetune.moments == FT_MOM_OWN && cfg_hash(&ro) == cfg_hash(&xfo),
         "faithful with own moments does not reload as itself");
  free(od);
  const char *off[] = {"finetune.mode=off", "finetune.moments=own"};
  Config bad;
  CfgErrors errs = {0};
  EXPECT(cfg_load_text(&bad, ENV, "test", off, 2, &errs) != 0 && errs.text &&
             strstr(errs.text, "finetune.moments applies to a phase 2"),
         "finetune.moments with mode off accepted");
  cfg_errors_free(&errs);
  const char *f1[] = {"finetune.mode=faithful"};
  Config f = load_ok(ENV, f1, 1);
  EXPECT(f.finetune.mode == FT_FAITHFUL && f.finetune.lr == 1e-4,
         "finetune.mode=faithful alone: lr %g, want the official 1e-4", f.finetune.lr);
  Config ff = load_ok(ENV "[finetune]\nmode = \"faithful\"\n", NULL, 0);
  EXPECT(ff.finetune.lr == 1e-4 && cfg_hash(&ff) == cfg_hash(&f), "faithful from the file: lr %g",
         ff.finetune.lr);
  /* a given step wins, from the file or --set, in either order against the mode */
  const char *g1[] = {"finetune.lr=3e-5", "finetune.mode=faithful"};
  const char *g2[] = {"finetune.mode=w2", "finetune.lr=1e-4"};
  Config g = load_ok(ENV, g1, 2), h = load_ok(ENV, g2, 2);
  EXPECT(g.finetune.mode == FT_FAITHFUL && g.finetune.lr == 3e-5, "given lr lost: %g",
         g.finetune.lr);
  EXPECT(h.finetune.mode == FT_W2 && h.finetune.lr == 1e-4, "given lr lost: %g", h.finetune.lr);
  Config gf = load_ok(ENV "[finetune]\nlr = 2e-4\n", f1, 1);
  EXPECT(gf.finetune.lr == 2e-4, "lr from the file lost under --set mode: %g", gf.finetune.lr);
  /* the steps are part of a usbpo run's identity */
  EXPECT(cfg_hash(&d) != cfg_hash(&w) && cfg_hash(&d) != cfg_hash(&h) &&
             cfg_hash(&d) == cfg_hash(&f),
         "phase-2 mode or step does not change a usbpo hash");
  /* the resolved dump pins the step: reloading it (a resume) gives the same run */
  const Config *all[] = {&d, &f, &g, &h};
  for (int i = 0; i < 4; i++) {
    char *dump = cfg_dump_string(all[i]);
    Config r = load_ok(dump, NULL, 0);
    EXPECT(r.finetune.mode == all[i]->finetune.mode && r.finetune.lr == all[i]->finetune.lr &&
               cfg_hash(&r) == cfg_hash(all[i]),
           "dump %d does not reload to the same phase 2", i);
    free(dump);
  }
  /* mbpo and sac do not run phase 2: finetune.* leaves their hash alone, and it is the hash
   * they had when faithful at 1e-4 was the default (their checkpoints resume) */
  for (int a = 0; a < 2; a++) {
    const char *algo = a ? "run.algo=sac" : "run.algo=mbpo";
    const char *m0[] = {algo}, *m1[] = {algo, "finetune.mode=faithful", "finetune.lr=1e-4"},
               *m2[] = {algo, "finetune.mode=off", "finetune.lr=0.5"};
    Config x0 = load_ok(ENV, m0, 1), x1 = load_ok(ENV, m1, 3), x2 = load_ok(ENV, m2, 3);
    EXPECT(cfg_hash(&x0) == cfg_hash(&x1) && cfg_hash(&x0) == cfg_hash(&x2),
           "%s: finetune.* changes the hash", algo);
    char diff[512];
    EXPECT(cfg_diff(&x0, &x2, diff, sizeof diff) == 0, "%s: cfg_diff names %s", algo, diff);
  }
  const char *u1[] = {"run.algo=usbpo", "finetune.mode=faithful"};
  const char *u2[] = {"run.algo=mbpo", "finetune.mode=faithful"};
  Config u = load_ok(ENV, u1, 2), m = load_ok(ENV, u2, 2);
  EXPECT(cfg_hash(&u) != cfg_hash(&m), "usbpo and mbpo hash alike");
}

int main(void) {
  RUN(test_phase2_defaults);
  RUN(test_malformed);
  RUN(test_set_errors);
  RUN(test_presets_and_overrides);
  RUN(test_dump_roundtrip);
  CHECK_DONE();
}
