/* mpscan — see mpscan.h. */
#include "mpscan.h"

#define SCAN_MAX_DEPTH 8

static uint64_t be(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v = (v << 8) | p[i];
  return v;
}

int mp_scan(const uint8_t *buf, size_t len) {
  /* stack of containers: elements still to read */
  uint64_t left[SCAN_MAX_DEPTH + 1];
  int depth = 0;
  size_t off = 0;
  left[0] = 1; /* exactly one root object */
  while (depth >= 0) {
    if (left[depth] == 0) {
      depth--;
      continue;
    }
    left[depth]--;
    if (off >= len) return -1;
    uint8_t b = buf[off++];
    uint64_t payload = 0, children = 0;
    size_t rem = len - off;
#define NEED(n)                                                                                    \
  do {                                                                                             \
    if (rem < (size_t)(n)) return -1;                                                              \
  } while (0)
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
      payload = 0;
    } else if (b >= 0x80 && b <= 0x8f) {
      children = 2ull * (b & 0x0f);
    } else if (b >= 0x90 && b <= 0x9f) {
      children = b & 0x0f;
    } else if (b >= 0xa0 && b <= 0xbf) {
      payload = b & 0x1f;
    } else {
      switch (b) {
      case 0xc4:
        NEED(1);
        payload = be(buf + off, 1);
        off += 1;
        break; /* bin 8 */
      case 0xc5:
        NEED(2);
        payload = be(buf + off, 2);
        off += 2;
        break;
      case 0xc6:
        NEED(4);
        payload = be(buf + off, 4);
        off += 4;
        break;
      case 0xca:
        payload = 4;
        break;
      case 0xcb:
        payload = 8;
        break;
      case 0xcc:
      case 0xd0:
        payload = 1;
        break;
      case 0xcd:
      case 0xd1:
        payload = 2;
        break;
      case 0xce:
      case 0xd2:
        payload = 4;
        break;
      case 0xcf:
      case 0xd3:
        payload = 8;
        break;
      case 0xd9:
        NEED(1);
        payload = be(buf + off, 1);
        off += 1;
        break; /* str 8 */
      case 0xda:
        NEED(2);
        payload = be(buf + off, 2);
        off += 2;
        break;
      case 0xdb:
        NEED(4);
        payload = be(buf + off, 4);
        off += 4;
        break;
      case 0xdc:
        NEED(2);
        children = be(buf + off, 2);
        off += 2;
        break; /* array 16 */
      case 0xdd:
        NEED(4);
        children = be(buf + off, 4);
        off += 4;
        break;
      case 0xde:
        NEED(2);
        children = 2 * be(buf + off, 2);
        off += 2;
        break; /* map 16 */
      case 0xdf:
        NEED(4);
        children = 2 * be(buf + off, 4);
        off += 4;
        break;
      default:
        return -1; /* ext types, 0xc1 (never used): not part of our protocol */
      }
    }
#undef NEED
    rem = len - off;
    if (payload > rem) return -1;
    off += payload;
    if (children) {
      /* each element takes at least one byte */
      if (children > len - off) return -1;
      if (depth + 1 > SCAN_MAX_DEPTH) return -1;
      left[++depth] = children;
    }
  }
  return off == len ? 0 : -1;
}
