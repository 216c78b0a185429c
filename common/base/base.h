/* common/base/ — the foundations: util (errors, logging, time, memory), rng (counter-based
 * streams), nn (layers, activations, Adam), buffer (FIFO replay), config (TOML, presets),
 * durable (crash-safe files), ckfile (the checkpoint file format), mpscan (MessagePack bounds),
 * hooks (test hooks).
 *
 * May use: the C library, OpenBLAS, toml++ (behind config_toml.cpp) and msgpack-c; nothing of
 * this project above it. No MPI, no MuJoCo. This header only gathers the folder's headers. */
#ifndef USBPO_BASE_H
#define USBPO_BASE_H

#include "buffer.h"
#include "ckfile.h"
#include "config.h"
#include "durable.h"
#include "hooks.h"
#include "nn.h"
#include "rng.h"
#include "util.h"

#endif
