/* The names of the dataset module's enums: the _parse/_name pairs of
 * include/spurcl/data.h, each name table written once. */
#include "ds_internal.h"

static const char *const split_names[] = {"train", "val", "test"};
static const char *const split_aliases[] = {"0", "train", "1", "val", "2", "test", "valid", "val",
                                            "validation", "val", NULL};
SC_ENUM_FUNCS(sc_split, split, "split", split_names, split_aliases)

static const char *const source_names[] = {"fashion-mnist", "mnist", "cifar10", "pngdir"};
static const char *const source_aliases[] = {"fashion_mnist", "fashion-mnist", "fashionmnist",
                                             "fashion-mnist", "cifar-10", "cifar10", NULL};
SC_ENUM_FUNCS(sc_source_kind, source, "source", source_names, source_aliases)

static const char *const variant_names[] = {"none",    "patch",      "color",
                                            "corrupt", "background", "spuco"};
static const char *const variant_aliases[] = {"colour", "color", NULL};
SC_ENUM_FUNCS(sc_variant, variant, "variant", variant_names, variant_aliases)

static const char *const layout_names[] = {"border", "pattern"};
static const char *const layout_aliases[] = {"corner", "border", NULL};
SC_ENUM_FUNCS(sc_patch_layout, patch_layout, "patch layout", layout_names, layout_aliases)

static const char *const color_mode_names[] = {"foreground", "background"};
SC_ENUM_FUNCS(sc_color_mode, color_mode, "colour mode", color_mode_names, NULL)

static const char *const corruption_list_names[] = {"type1", "type0"};
SC_ENUM_FUNCS(sc_corruption_list, corruption_list, "corruption list", corruption_list_names, NULL)

static const char *const difficulty_names[] = {"magnitude-large", "magnitude-medium",
                                               "magnitude-small", "variance-low",
                                               "variance-medium", "variance-high"};
static const char *const difficulty_aliases[] = {"large", "magnitude-large", "medium",
                                                 "magnitude-medium", "small", "magnitude-small",
                                                 NULL};
SC_ENUM_FUNCS(sc_spuco_difficulty, spuco_difficulty, "spuco difficulty", difficulty_names,
           difficulty_aliases)
