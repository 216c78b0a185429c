/* evaluate — `usbpo_dist --eval RUN_DIR [--episodes N] [--video out.mp4] [--as-epoch E]`:
 * the policy of the run's newest valid checkpoint (or its policy_final.bin), deterministic
 * (tanh(mean)) episodes, mean / std / min / max of the return; with --video the best episode
 * is replayed exactly (same reset stream, deterministic policy) and rendered offscreen to an
 * MP4. Episode i's reset noise comes from the run's seed and the key (E, i): E defaults to a
 * key no training evaluation uses; --as-epoch E repeats epoch E's own evaluation episodes.
 * One process, no MPI. */
#ifndef USBPO_EVALUATE_H
#define USBPO_EVALUATE_H

/* argv as given to usbpo_dist; returns the exit code */
int eval_main(int argc, char **argv);

#endif
