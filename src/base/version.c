/* The library's version and the `git describe` of the tree it was built from
 * (every run's config.json records both). */
#include "base/base.h"
#include "base/spurcl_git.h"

#ifndef SPURCL_VERSION
#error "SPURCL_VERSION is defined by meson.build"
#endif

const char *sc_version(void) { return SPURCL_VERSION; }

const char *sc_version_git(void) { return SC_GIT_DESCRIBE; }
