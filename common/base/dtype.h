/* dtype — the element types of arrays in messages and checkpoint files */
#ifndef USBPO_DTYPE_H
#define USBPO_DTYPE_H

typedef enum { DT_F32 = 0, DT_F64 = 1, DT_I32 = 2, DT_U8 = 3 } DType;

#endif
