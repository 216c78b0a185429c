/* test_runtime — placement is a pure function that puts every role somewhere, for any np. */
#include "check.h"
#include "runtime.h"

static void test_placement(void) {
  char err[256];
  Placement p;
  /* np = 1: everything on rank 0 */
  REQUIRE(placement_make(1, 1, 0, 16, &p, err, sizeof err) == 0, "%s", err);
  EXPECT(p.learner == 0 && p.modelsvc == 0 && p.R == 1 && p.rollout[0] == 0 && p.actor[0] == 0,
         "np=1");
  EXPECT(p.shard_lo[0] == 0 && p.shard_hi[0] == 16, "np=1 shards");
  /* np = 2: learner alone, the rest on rank 1 */
  placement_make(2, 3, 0, 16, &p, err, sizeof err);
  EXPECT(p.modelsvc == 1 && p.R == 1 && p.rollout[0] == 1 && p.actor[2] == 1, "np=2");
  /* np = 4: two rollout workers (ranks 2, 3), the actor shares rank 2, shards split evenly */
  placement_make(4, 1, 0, 16, &p, err, sizeof err);
  EXPECT(p.R == 2 && p.rollout[0] == 2 && p.rollout[1] == 3 && p.actor[0] == 2, "np=4");
  EXPECT(p.shard_lo[1] == 8 && p.shard_hi[1] == 16, "np=4 shards");
  /* np = 16 with 4 actors and 10 rollout workers: actors get the 4 spare ranks */
  placement_make(16, 4, 10, 16, &p, err, sizeof err);
  EXPECT(p.R == 10 && p.rollout[9] == 11 && p.actor[0] == 12 && p.actor[3] == 15, "np=16");
  /* every shard belongs to exactly one worker, for many shapes */
  for (int np = 1; np <= 40; np++)
    for (int S = 1; S <= 20; S += 3)
      for (int A = 1; A <= 5; A += 2) {
        REQUIRE(placement_make(np, A, 0, S, &p, err, sizeof err) == 0, "%s", err);
        int owner[64] = {0}, ok = p.R >= 1 && p.R <= S;
        for (int r = 0; r < p.R; r++) {
          ok &= p.rollout[r] >= 0 && p.rollout[r] < np;
          for (int s = p.shard_lo[r]; s < p.shard_hi[r]; s++) owner[s]++;
        }
        for (int s = 0; s < S; s++) ok &= owner[s] == 1;
        for (int a = 0; a < A; a++) ok &= p.actor[a] >= 0 && p.actor[a] < np;
        EXPECT(ok, "np=%d S=%d A=%d", np, S, A);
      }
  EXPECT(placement_make(0, 1, 0, 16, &p, err, sizeof err) != 0, "np=0 accepted");
  char who[128];
  placement_make(4, 1, 0, 16, &p, err, sizeof err);
  placement_describe(&p, 2, who, sizeof who);
  EXPECT(!strcmp(who, "rollout 0, actor 0"), "describe: %s", who);
}

int main(void) {
  RUN(test_placement);
  CHECK_DONE();
}
