/* cogmem — public SIMD kernels (owned by the kernels work, issue #3). */
#ifndef COGMEM_SIMD_H
#define COGMEM_SIMD_H
#include <stddef.h>
#include <stdint.h>
#include "cogmem_export.h"
#endif
