/* spurcl ssl / spurcl probe: being written (issue #7). */
#include "cli/cli.h"

#include <stdio.h>

int sc_cmd_ssl(const sc_cli_global *g, int argc, char **argv)
{
    (void)g; (void)argc; (void)argv;
    fprintf(stderr, "spurcl: ssl is not available in this build yet\n");
    return SC_EXIT_FAIL;
}

int sc_cmd_probe(const sc_cli_global *g, int argc, char **argv)
{
    (void)g; (void)argc; (void)argv;
    fprintf(stderr, "spurcl: probe is not available in this build yet\n");
    return SC_EXIT_FAIL;
}
