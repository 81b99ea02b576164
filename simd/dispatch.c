/* placeholder until issue #3 lands in this session */
typedef int cogmem__simd_placeholder;
