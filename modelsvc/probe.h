/* probe — one model training from a run's checkpoint with each phase-2 variant (probe.c):
 * usbpo_dist --probe-model RUN_DIR [--variants a,b+c,...]; returns the exit code */
#ifndef USBPO_PROBE_H
#define USBPO_PROBE_H

int probe_main(int argc, char **argv);

#endif
