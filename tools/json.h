/* cogmem command-line program — writing JSON strings. */
#ifndef COGMEM_TOOLS_JSON_H
#define COGMEM_TOOLS_JSON_H

#include <stdio.h>

/* Write s as a JSON string literal (quotes, escapes) to out. */
void json_string(FILE *out, const char *s);

#endif /* COGMEM_TOOLS_JSON_H */
