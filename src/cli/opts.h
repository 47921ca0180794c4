/* The option table of the spurcl tool and the parser and help printer built
 * on it (in the spirit of llama.cpp's common/arg.cpp).
 *
 * Every option is declared once, in opt_table.c, with its long name, what
 * its value looks like, its help text, the commands that take it (a bitmask
 * of SC_CLI_* scope bits) and where and how its value is stored (a typed
 * target with a range, an enum parsed by the library's _parse/_name pair,
 * or a small handler). A command's getopt_long array and its --help text
 * are both generated from the table, so an option cannot be in one and
 * missing from the other. The defaults --help states are read from the
 * targets after the command's `defaults` hook has filled them from the
 * library's *_config_default(): they are stated once, by the library.
 *
 * A name appears in more than one entry only where it means different
 * things in different commands (--out DIR, a run directory, vs --out DIR, a
 * comparison's directory that always resumes, vs --out FILE;
 * --model cnn|vit|resnet vs --model CKPT) or lands in another command's own
 * config (demo's --lambda); such entries have disjoint scopes, which the
 * parser checks when it builds a command's getopt array. */
#ifndef SC_CLI_OPTS_H
#define SC_CLI_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cli.h"
#include "spurcl/compare.h"
#include "spurcl/demo.h"
#include "spurcl/ssl.h"
#include "spurcl/train.h"
#include "spurcl/ule.h"

/* One bit per command (and per data subcommand). */
enum {
    SC_CLI_DEVICES = 1u << 0, SC_CLI_SELFTEST = 1u << 1, SC_CLI_TRAIN = 1u << 2,
    SC_CLI_EVAL = 1u << 3, SC_CLI_JTT = 1u << 4, SC_CLI_ULE = 1u << 5, SC_CLI_SSL = 1u << 6,
    SC_CLI_PROBE = 1u << 7, SC_CLI_SALIENCY = 1u << 8, SC_CLI_DEMO = 1u << 9,
    SC_CLI_BUILD = 1u << 10, SC_CLI_INFO = 1u << 11, SC_CLI_PREVIEW = 1u << 12,
    SC_CLI_GROUPDRO = 1u << 13, SC_CLI_DFR = 1u << 14, SC_CLI_COMPARE = 1u << 15,
    SC_CLI_REPORT = 1u << 16,
};

#define SC_CLI_MAX_OPTS 192
#define SC_CLI_MAX_LAMBDAS 32

/* What the options of one command invocation write to. A command's
 * `defaults` hook fills its config from the library's defaults and points
 * `run` and `model` at the run settings and model config the shared options
 * land in; the command reads the rest after parsing. */
typedef struct sc_cli_args {
    const struct sc_cli_spec *spec;
    sc_run_config *run;          /* --epochs, --batch, --optim, --out DIR, ... */
    sc_model_config *model;      /* --model cnn|vit|resnet, --cnn-widths, --vit-* */
    const char *data;            /* --data FILE */
    const char *ckpt;            /* --model CKPT */
    const char *out;             /* --out FILE */
    const char *file;            /* the positional FILE of data info / preview */
    const char *json;            /* probe --json FILE */
    /* the commands' library configs; each command uses its own */
    sc_train_config train;
    sc_jtt_config jtt;
    sc_dro_config dro;
    sc_dfr_config dfr;
    sc_compare_config compare;
    sc_ule_config ule;
    sc_ssl_config ssl;
    sc_probe_config probe;
    sc_demo_config demo;
    sc_build_opts build;
    sc_run_config run_store;     /* run settings of a command whose config has none */
    sc_model_config model_store; /* ule: the shape both models start from */
    /* values only the tool has */
    double lambdas[SC_CLI_MAX_LAMBDAS];
    int nlambdas;                /* 0: the config's single lambda */
    int student, teacher;        /* ule: model kinds, -1: --model's */
    int split;                   /* an sc_split, or -1: every split the command accepts */
    int target;                  /* an sc_saliency_target */
    int n, scale, per_group;
    int64_t size;
    bool csv, probe_after, random_encoder, forms;
    unsigned char given[SC_CLI_MAX_OPTS]; /* table entries seen on the command line */
    const char *arg[SC_CLI_MAX_OPTS];     /* the (last) argument each was given */
    /* the run directory and its record (sc_cli_run) */
    const char *fresh_base;      /* without --out, each run gets BASE-YYYYMMDD-HHMMSS */
    char run_dir_buf[4096];      /* that name */
    bool fresh_parent_made;      /* sc_cli_run made its parent ("runs") */
    const char *overrides;       /* --override's keys, joined by commas */
    char override_buf[1024];
    char data_buf[4096];         /* a data path a command makes itself (demo) */
    char grid_buf[1024];         /* compare's --grid with its --lambda list appended */
    char *record;                /* config.json's command, argv and settings (malloc'd) */
} sc_cli_args;

/* What sc_cli_run opens before a command's `run`: nothing, the --data set
 * and the device, or also the --model checkpoint's model (with its weights
 * unless args->random_encoder). */
typedef enum sc_cli_opens {
    SC_CLI_OPENS_NOTHING,
    SC_CLI_OPENS_DATA,
    SC_CLI_OPENS_CHECKPOINT
} sc_cli_opens;

/* A command as the parser, the help printer and sc_cli_run see it. */
typedef struct sc_cli_spec {
    const char *name;            /* in messages: "train", "data build" */
    unsigned scope;              /* its SC_CLI_* bit */
    const char *usage;           /* the synopsis after "usage: " */
    const char *about;           /* the paragraph under it */
    void (*defaults)(sc_cli_args *a); /* the library's defaults; points run and model */
    /* after parsing, before anything is opened: SC_CLI_CONTINUE or an exit
     * code (a usage error it printed) */
    int (*check)(sc_cli_args *a);
    sc_cli_opens opens;
    int (*run)(const sc_cli_global *g, sc_cli_args *a, sc_cli_session *s);
    const char *positional;      /* "FILE": exactly one operand, into args->file; or NULL */
    bool flat;                   /* list options under one "Options:" heading */
} sc_cli_spec;

/* Returned by sc_cli_parse and `check` when the command should go on. */
#define SC_CLI_CONTINUE (-1)

/* The whole of a command: parse argv (argv[0] the command's name), check,
 * open, run, close. Returns the exit code. */
int sc_cli_run(const sc_cli_spec *spec, const sc_cli_global *g, int argc, char **argv);

/* Defines main.c's entry point of a command, fn(g, argc, argv), as
 * sc_cli_run of its spec. */
#define SC_CLI_COMMAND(fn, spec)                                                                   \
    int fn(const sc_cli_global *g, int argc, char **argv)                                          \
    {                                                                                              \
        return sc_cli_run(&(spec), g, argc, argv);                                                 \
    }

/* Fills *a with the command's defaults and parses argv into it. Returns
 * SC_CLI_CONTINUE, or the exit code to return: 0 after --help, 2 after a
 * usage error (printed). */
int sc_cli_parse(const sc_cli_spec *spec, int argc, char **argv, sc_cli_args *a);

/* Whether the option `name` was given on the command line. */
bool sc_cli_given(const sc_cli_args *a, const char *name);
/* Copies into *dst the model fields (--model, the shape options) that the
 * command line gave: a checkpoint's architecture with the options given on
 * top. */
void sc_cli_given_model(const sc_cli_args *a, sc_model_config *dst);

/* For a `defaults` hook: the run settings and model config the shared
 * options land in, and the base of the default run directory: without
 * --out every run gets a new one, BASE-YYYYMMDD-HHMMSS (-2, -3, ... when
 * that exists), which sc_cli_run creates and prints. */
void sc_cli_bind(sc_cli_args *a, sc_run_config *run, sc_model_config *model, const char *base);

/* The record of a command line for config.json (sc_run_record): "command",
 * "argv", "settings" (every option the command takes, by its long name,
 * with its final value: defaults included, read from the option table's
 * targets; a list option as given, or its default in words), "free" (the
 * settings a resume may change besides the library's: outputs and actions
 * that do not shape the run) and "data_path". malloc'd JSON, or NULL when
 * out of memory. */
char *sc_cli_record(const sc_cli_args *a, const sc_cli_global *g, const char *data_path);

/* ---- the table (opt_table.c) ---------------------------------------------------- */

typedef enum sc_cli_type {
    SC_OPT_FLAG,      /* bool set to true */
    SC_OPT_UNFLAG,    /* bool set to false (--no-...) */
    SC_OPT_INT,       /* int in [lo, hi] */
    SC_OPT_I64,       /* int64_t in [lo, hi] */
    SC_OPT_U64,       /* uint64_t in [lo, hi] */
    SC_OPT_FLOAT,     /* float in [lo, hi] */
    SC_OPT_DOUBLE,    /* double in [lo, hi] */
    SC_OPT_STR,       /* const char *, the argument itself */
    SC_OPT_ENUM,      /* int-sized enum, through `en` */
    SC_OPT_PAIR,      /* floats at off and off2: MIN,MAX with lo <= MIN <= MAX <= hi */
    SC_OPT_INT3,      /* three consecutive ints (shown only; parsed by `parse`) */
} sc_cli_type;

typedef enum sc_cli_base {
    SC_BASE_ARGS,     /* off is into sc_cli_args */
    SC_BASE_RUN,      /* into *args->run */
    SC_BASE_MODEL,    /* into *args->model */
} sc_cli_base;

/* A library enum's _parse/_name pair, with int values. */
typedef struct sc_cli_enum {
    sc_status (*parse)(const char *s, int *v);
    const char *(*name)(int v);
} sc_cli_enum;

/* An entry with a name is an option; one without starts a help section
 * (`section`, its heading) that the options after it are listed under. */
typedef struct sc_cli_opt {
    const char *name;            /* long name, without "--" */
    unsigned scope;              /* the commands that take it */
    const char *metavar;         /* its value in help; NULL: a flag, or the enum's values */
    const char *help;            /* wrapped by the help printer */
    sc_cli_type type;
    sc_cli_base base;
    size_t off, off2;
    long double lo, hi;          /* the range of a number */
    const sc_cli_enum *en;
    /* parses instead of `type` (the target still gives the default shown);
     * prints a usage error and returns false on a bad value */
    bool (*parse)(sc_cli_args *a, const struct sc_cli_opt *o, const char *arg);
    const char *def;             /* the default in words, where the stored value does not say it */
    unsigned required;           /* the commands that need it */
    const char *alias;           /* a second name ... */
    unsigned alias_scope;        /* ... these commands accept */
    char short_name;             /* a one-letter form, or 0 */
    const char *section;         /* a section row's heading */
} sc_cli_opt;

/* What some commands take differently from an option's own line. */
typedef struct sc_cli_exception {
    const char *name;
    unsigned scope;
    bool refused;                /* the option is not for them: refused with `why` */
    unsigned refuse_values;      /* enum values they refuse (bit v) */
    long double hi;              /* a lower maximum (0: the option's) */
    const char *all;             /* a word for every value they accept, stored as -1 */
    const char *why;             /* the reason a refusal gives */
    const char *def;             /* the default as their --help states it (a value the
                                    library resolves later, such as one per method) */
} sc_cli_exception;

extern const sc_cli_opt sc_cli_opts[];
extern const size_t sc_cli_nopts;
extern const sc_cli_exception sc_cli_exceptions[];
extern const size_t sc_cli_nexceptions;

/* For handlers: the usage error "spurcl CMD: --NAME ..." (returns false);
 * a comma-separated list of numbers (false unless it is one, of at most
 * max); the parsing by the entry's type (false after a usage error); and
 * the address off means for the entry's base. */
bool sc_cli_opt_error(const sc_cli_args *a, const sc_cli_opt *o, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool sc_cli_parse_list(const char *s, double *out, int max, int *n);
bool sc_cli_store(sc_cli_args *a, const sc_cli_opt *o, const char *arg);
void *sc_cli_target(const sc_cli_args *a, const sc_cli_opt *o, size_t off);

#endif
