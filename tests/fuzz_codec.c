/* fuzz_codec — libFuzzer target for the message decoder: any bytes, from any rank, must be
 * rejected with a message or decoded into a consistent Msg; never a crash, a leak or an
 * out-of-bounds read (built with -fsanitize=fuzzer,address,undefined by tests/fuzz_codec.sh). */
#include <stdint.h>
#include <string.h>

#include "codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  CodecCtx c = {.obs_dim = 11,
                .act_dim = 3,
                .in_dim = 14,
                .out_dim = 12,
                .n_policy = 20,
                .n_model = 30,
                .elites = 5,
                .members = 7,
                .shards = 16,
                .max_rows = 100000,
                .n_metrics = 12,
                .max_state = 1 << 20};
  Msg m;
  char err[512];
  if (msg_decode(data, size, 3, &c, &m, err, sizeof err) == 0) {
    /* touch every accepted array's bytes: they must lie inside the input */
    volatile uint8_t sink = 0;
    for (int k = 0; k < A_NA; k++)
      if (msg_has_a(&m, k))
        for (size_t i = 0; i < m.a[k].bytes; i++) sink ^= ((const uint8_t *)m.a[k].data)[i];
    (void)sink;
  } else if (strncmp(err, "rank 3: message '", 17) != 0) {
    __builtin_trap(); /* every rejection names the rank and the message */
  }
  return 0;
}
