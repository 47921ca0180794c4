/* spurcl data: placeholder until the dataset module lands (being written now). */
#include "cli/cli.h"

#include <stdio.h>

int sc_cmd_data(const sc_cli_global *g, int argc, char **argv)
{
    (void)g; (void)argc; (void)argv;
    fprintf(stderr, "spurcl data: not available in this build\n");
    return SC_EXIT_FAIL;
}
