/* The convolution algorithm table (tp_conv_algos.cu), shared with tp_conv.cu. Internal. */
#ifndef TP_CONV_ALGOS_H
#define TP_CONV_ALGOS_H

#include <stdint.h>

#include "topiary.h"

/* A plan's key: the 16 convolution parameters, then TF32 allowed and deterministic. */
#define TP_CONV_KEY_LEN (TP_CONV_NPARAMS + 2)

/* Direction names, indexed by 0 forward, 1 backward-data, 2 backward-filter. */
extern const char* const tp__conv_dir_names[3];

/* 1 and the recorded algorithm and math type when (dir, key) has one, else 0. */
int tp__conv_algo_lookup(int dir, const int64_t* key, int* algo, int* math);
/* Records a choice (and appends it to the file, if one is in use); a status. */
int tp__conv_algo_store(int dir, const int64_t* key, int algo, int math);
/* Empties the table and, for a non-empty path, loads it from that file and appends to it
 * from now on; a status (a malformed or unreadable file names the path and line). */
int tp__conv_algos_use_file(const char* path);

#endif
