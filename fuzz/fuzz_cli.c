/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz_cli.c - the CLI's option parser on an argv made of arbitrary
 * bytes: the input split at NULs is argv[1..] (argv[0] "st2v"), parsed by
 * main.c's own parse_args (getopt_long, every option's value through
 * st2v_params_set, the checks between options). main.c is included as it
 * is, with its main renamed: nothing in it changes, and nothing is
 * generated (run() is never called; -h and -V only print). Run it with
 * -close_fd_mask=3, the messages go to stdout and stderr.
 */
#define main st2v_cli_main
#include "../cli/main.c"
#undef main

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *argv[FUZZ_MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = "st2v";
    for (size_t i = 0; i <= size && argc < FUZZ_MAX_ARGS + 1;) {
        argv[argc++] = buf + i;
        i += strlen(buf + i) + 1;
    }
    argv[argc] = NULL;

    cli c;
    memset(&c, 0, sizeof(c));
    c.params = st2v_default_params();
    c.dtype = ST2V_DTYPE_F32;
    int done = 0;
    optind = 0; /* glibc: a full reset of getopt's state */
    (void)parse_args(&c, argc, argv, &done);
    free(buf);
    return 0;
}
