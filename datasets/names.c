/* The names of the dataset module's enums: the _parse/_name pairs of
 * include/spurcl/data.h, each name table written once. */
#include "ds_internal.h"

#include <string.h>
#include <strings.h>

#define COUNT(a) ((int)(sizeof(a) / sizeof(a)[0]))

/* Parses `s`, or `canonical` when s is one of the aliases (NULL-terminated
 * pairs alias, canonical). */
static sc_status parse(const char *what, const char *const *names, int n,
                       const char *const *aliases, const char *s, int *out)
{
    for (int i = 0; aliases && aliases[i]; i += 2)
        if (!strcasecmp(s, aliases[i]))
            s = aliases[i + 1];
    return sc_enum_parse(what, names, n, s, out);
}

#define ENUM_NAMES(type, fn, what, table, aliases)                                                \
    const char *sc_##fn##_name(type v) { return sc_enum_name(table, COUNT(table), (int)v); }    \
    sc_status sc_##fn##_parse(const char *s, type *out)                                          \
    {                                                                                             \
        int v;                                                                                    \
        SC_TRY(parse(what, table, COUNT(table), aliases, s, &v));                                 \
        *out = (type)v;                                                                           \
        return SC_OK;                                                                             \
    }

static const char *const split_names[] = {"train", "val", "test"};
static const char *const split_aliases[] = {"0", "train", "1", "val", "2", "test", "valid", "val",
                                            "validation", "val", NULL};
ENUM_NAMES(sc_split, split, "split", split_names, split_aliases)

static const char *const source_names[] = {"fashion-mnist", "mnist", "cifar10", "pngdir"};
static const char *const source_aliases[] = {"fashion_mnist", "fashion-mnist", "fashionmnist",
                                             "fashion-mnist", "cifar-10", "cifar10", NULL};
ENUM_NAMES(sc_source_kind, source, "source", source_names, source_aliases)

static const char *const variant_names[] = {"none",    "patch",      "color",
                                            "corrupt", "background", "spuco"};
static const char *const variant_aliases[] = {"colour", "color", NULL};
ENUM_NAMES(sc_variant, variant, "variant", variant_names, variant_aliases)

static const char *const layout_names[] = {"border", "pattern"};
static const char *const layout_aliases[] = {"corner", "border", NULL};
ENUM_NAMES(sc_patch_layout, patch_layout, "patch layout", layout_names, layout_aliases)

static const char *const color_mode_names[] = {"foreground", "background"};
ENUM_NAMES(sc_color_mode, color_mode, "colour mode", color_mode_names, NULL)

static const char *const corruption_list_names[] = {"type1", "type0"};
ENUM_NAMES(sc_corruption_list, corruption_list, "corruption list", corruption_list_names, NULL)

static const char *const difficulty_names[] = {"magnitude-large", "magnitude-medium",
                                               "magnitude-small", "variance-low",
                                               "variance-medium", "variance-high"};
static const char *const difficulty_aliases[] = {"large", "magnitude-large", "medium",
                                                 "magnitude-medium", "small", "magnitude-small",
                                                 NULL};
ENUM_NAMES(sc_spuco_difficulty, spuco_difficulty, "spuco difficulty", difficulty_names,
           difficulty_aliases)
