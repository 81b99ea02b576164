#!/bin/sh
# Fails unless every dynamic symbol the library defines is a public cogmem_*
# name (not an internal cogmem__ one), and the main entry points are there.
set -eu
lib="$1"
syms=$(nm -D --defined-only "$lib" | awk '{print $3}' | sed 's/@.*//' | sort -u)
bad=$(printf '%s\n' "$syms" | grep -v '^cogmem_' || true)
internal=$(printf '%s\n' "$syms" | grep '^cogmem__' || true)
if [ -n "$bad$internal" ]; then
    echo "unexpected exported symbols:"; printf '%s\n' "$bad" "$internal"
    exit 1
fi
for want in cogmem_open cogmem_close cogmem_concept_add cogmem_vec_get \
            cogmem_dot_block cogmem_sum_squares \
            cogmem_dot_batch cogmem_simd_isa \
            cogmem_open_report cogmem_snapshot cogmem_snapshot_report cogmem_sync \
            cogmem_snapshot_verify cogmem_check_mapped_rows \
            cogmem_form_params_init cogmem_form_concepts cogmem_form_result_free \
            cogmem_consolidate cogmem_forget_params_init cogmem_forget; do
    printf '%s\n' "$syms" | grep -qx "$want" || { echo "missing export: $want"; exit 1; }
done
echo "$(printf '%s\n' "$syms" | wc -l) symbols exported, all cogmem_*"
