/* spurcl ule / spurcl jtt: the robust-training methods. */
#define _GNU_SOURCE
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "report.h"
#include "train_opts.h"
#include "spurcl/io.h"
#include "spurcl/ule.h"


enum { OPT_LAMBDA = OPT_SHARED_END + 1, OPT_SALIENCY, OPT_NORM, OPT_FORM, OPT_LAYER,
       OPT_FREEZE, OPT_INIT, OPT_STUDENT, OPT_TEACHER, OPT_ID_EPOCHS, OPT_UPWEIGHT,
       OPT_PENALTY };

static void ule_usage(FILE *out)
{
    fprintf(out,
            "usage: spurcl [--device SEL] ule --data FILE [options]\n"
            "\n"
            "ULE (UnLearning from Experience, arXiv 2409.02792): a student trains with\n"
            "plain cross-entropy and picks up the shortcut; a teacher trains on the same\n"
            "batches with its input saliency pushed away from the student's:\n"
            "  L_T = CE(T(x), y) + lambda * mean_i (n(g_T)_i + n(g_S)_i)^2     (additive)\n"
            "The teacher is the model to deploy. No group labels are used for training or\n"
            "model selection. Options marked (reconstruction) are details the paper does\n"
            "not give; their defaults follow docs/methods.md, section 1.\n"
            "\n"
            "ULE options:\n"
            "  --lambda L[,L...]    penalty weight (default 100); a list runs a sweep and\n"
            "                       selects by the teacher's val average accuracy\n"
            "  --saliency true-logit|pred-logit|loss   scalar whose input gradient is the\n"
            "                       saliency (default true-logit; reconstruction)\n"
            "  --norm maxabs|l2|none  per-sample normalisation (default maxabs; reconstruction)\n"
            "  --form additive|convex  additive L = CE + lambda*MSE (default) or convex\n"
            "                       lambda*CE + (1-lambda)*MSE (reconstruction; lambda in [0,1])\n"
            "  --penalty mse|cos2|overlap  mse: the paper's (default); not in the paper:\n"
            "                       cos2 = mean cos(g_T, g_S)^2, overlap = mean |n(g_T)|*|n(g_S)|\n"
            "  --saliency-layer input|NAME  take the saliency at a hidden layer (cnn: conv1,\n"
            "                       pool1, conv2, pool2, fc1; vit: patch_embed, blocks.I)\n"
            "  --student cnn|vit|resnet --teacher cnn|vit|resnet   architectures (default: --model)\n"
            "  --freeze-backbone    train only the last layer of both models\n"
            "  --init CKPT          start both models from these weights\n"
            "\n%s",
            sc_cli_train_help);
}

static bool parse_lambdas(const char *s, double *out, int *n, int max)
{
    *n = 0;
    const char *p = s;
    while (*p && *n < max) {
        char *end;
        double v = strtod(p, &end);
        if (end == p || !isfinite(v) || v < 0)
            return false;
        out[(*n)++] = v;
        if (*end == ',')
            p = end + 1;
        else if (*end == '\0')
            p = end;
        else
            return false;
    }
    return *n > 0 && *p == '\0';
}

static void print_side_by_side(const char *split, const sc_group_metrics *s,
                               const sc_group_metrics *t)
{
    printf("%-5s %-28s %10s %10s\n", split, "", "student", "teacher");
    printf("%-5s %-28s %10.4f %10.4f\n", "", "worst-group accuracy", s->worst_group, t->worst_group);
    printf("%-5s %-28s %10.4f %10.4f\n", "", "average (all samples)", s->accuracy, t->accuracy);
    printf("%-5s %-28s %10.4f %10.4f\n", "", "mean of group accuracies", s->mean_group, t->mean_group);
    printf("%-5s %-28s %10.4f %10.4f\n", "", "weighted by train shares", s->weighted, t->weighted);
}

int sc_cmd_ule(const sc_cli_global *g, int argc, char **argv)
{
    static const struct option opts[] = {
        SC_CLI_TRAIN_LONG_OPTIONS,
        {"lambda", required_argument, NULL, OPT_LAMBDA},
        {"saliency", required_argument, NULL, OPT_SALIENCY},
        {"norm", required_argument, NULL, OPT_NORM},
        {"form", required_argument, NULL, OPT_FORM},
        {"penalty", required_argument, NULL, OPT_PENALTY},
        {"saliency-layer", required_argument, NULL, OPT_LAYER},
        {"freeze-backbone", no_argument, NULL, OPT_FREEZE},
        {"init", required_argument, NULL, OPT_INIT},
        {"student", required_argument, NULL, OPT_STUDENT},
        {"teacher", required_argument, NULL, OPT_TEACHER},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    sc_cli_train_args a;
    sc_cli_train_args_default(&a);
    a.cfg.epochs = 2;
    sc_ule_config uc;
    sc_ule_config_default(&uc);
    const char *student = NULL, *teacher = NULL;
    double lambdas[32] = {100};
    int nl = 1, c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': ule_usage(stdout); return SC_EXIT_OK;
        case ':': return sc_cli_usage_error("ule", "option '%s' needs a value", argv[optind - 1]);
        case OPT_LAMBDA:
            if (!parse_lambdas(optarg, lambdas, &nl, 32))
                return sc_cli_usage_error("ule", "--lambda expects non-negative numbers "
                                                 "separated by commas, got '%s'", optarg);
            break;
        case OPT_SALIENCY:
            if (!sc_cli_parse_saliency_target("ule", "--saliency", optarg, &uc.loss.target))
                return SC_EXIT_USAGE;
            break;
        case OPT_NORM:
            if (!strcmp(optarg, "maxabs")) uc.loss.norm = SC_NORM_MAXABS;
            else if (!strcmp(optarg, "l2")) uc.loss.norm = SC_NORM_L2;
            else if (!strcmp(optarg, "none")) uc.loss.norm = SC_NORM_NONE;
            else return sc_cli_usage_error("ule", "--norm must be maxabs, l2 or none");
            break;
        case OPT_FORM:
            if (!strcmp(optarg, "additive")) uc.loss.form = SC_ULE_ADDITIVE;
            else if (!strcmp(optarg, "convex")) uc.loss.form = SC_ULE_CONVEX;
            else return sc_cli_usage_error("ule", "--form must be additive or convex");
            break;
        case OPT_PENALTY:
            if (!strcmp(optarg, "mse")) uc.loss.penalty = SC_ULE_PENALTY_MSE;
            else if (!strcmp(optarg, "cos2")) uc.loss.penalty = SC_ULE_PENALTY_COS2;
            else if (!strcmp(optarg, "overlap")) uc.loss.penalty = SC_ULE_PENALTY_OVERLAP;
            else return sc_cli_usage_error("ule", "--penalty must be mse, cos2 or overlap");
            break;
        case OPT_LAYER: uc.saliency_layer = optarg; break;
        case OPT_FREEZE: uc.freeze_backbone = true; break;
        case OPT_INIT: uc.init = optarg; break;
        case OPT_STUDENT: student = optarg; break;
        case OPT_TEACHER: teacher = optarg; break;
        default: {
            int r = sc_cli_train_opt("ule", c, optarg, &a);
            if (r < 0)
                return SC_EXIT_USAGE;
            if (r == 0)
                return sc_cli_usage_error("ule", "unknown option '%s'", argv[optind - 1]);
        }
        }
    }
    if (optind < argc)
        return sc_cli_usage_error("ule", "unexpected argument '%s'", argv[optind]);
    if (!sc_cli_train_finish("ule", &a, "runs/ule"))
        return SC_EXIT_USAGE;
    if (uc.loss.form == SC_ULE_CONVEX)
        for (int i = 0; i < nl; i++)
            if (lambdas[i] > 1)
                return sc_cli_usage_error("ule", "--form convex needs --lambda in [0, 1]");
    uc.student = a.cfg.model;
    uc.teacher = a.cfg.model;
    if ((student && sc_model_kind_parse(student, &uc.student.kind) != SC_OK) ||
        (teacher && sc_model_kind_parse(teacher, &uc.teacher.kind) != SC_OK))
        return sc_cli_usage_error("ule", "%s", sc_last_error());
    uc.run = a.cfg.run;
    if (uc.select == SC_SELECT_VAL_WGA)
        return sc_cli_usage_error("ule", "--select val-wga uses group labels; ULE selects by "
                                         "last or val-avg");

    sc_dataset *d;
    if (sc_dataset_load(a.data, &d) != SC_OK)
        return sc_cli_fail("ule");
    sc_context *ctx;
    if (sc_context_create(g->device, &ctx) != SC_OK) {
        sc_dataset_free(d);
        return sc_cli_fail("ule");
    }
    sc_cli_progress_state ps = {.quiet = g->quiet, .tty = sc_cli_progress_enabled(g)};
    uc.progress = sc_cli_progress;
    uc.progress_ud = &ps;
    int rc = SC_EXIT_OK, best = -1;
    sc_ule_result *res = calloc((size_t)nl, sizeof *res);
    if (!res || sc_train_ule_sweep(ctx, d, &uc, lambdas, nl, res, &best) != SC_OK)
        rc = sc_cli_fail("ule");
    if (rc == SC_EXIT_OK) {
        if (nl > 1) {
            printf("lambda sweep (selected by the teacher's val average accuracy; test shown, "
                   "not used):\n");
            printf("  %10s %12s %12s %12s %12s %12s\n", "lambda", "T val acc", "T test acc",
                   "T test wga", "S test acc", "S test wga");
            for (int i = 0; i < nl; i++)
                printf("%c %10g %12.4f %12.4f %12.4f %12.4f %12.4f\n", i == best ? '*' : ' ',
                       lambdas[i], res[i].teacher_val.accuracy, res[i].teacher_test.accuracy,
                       res[i].teacher_test.worst_group, res[i].student_test.accuracy,
                       res[i].student_test.worst_group);
            printf("\n");
        }
        const sc_ule_result *r = &res[best];
        printf("ULE, lambda %g, step %lld (epoch %d; selection: %s), %.1f ms per ULE step\n",
               lambdas[best], (long long)r->selected_step, r->selected_epoch,
               sc_select_name(uc.select), r->step_ms);
        print_side_by_side("val", &r->student_val, &r->teacher_val);
        print_side_by_side("test", &r->student_test, &r->teacher_test);
        const char *names[2] = {"student", "teacher"};
        const sc_group_metrics *val[2] = {&r->student_val, &r->teacher_val};
        const sc_group_metrics *test[2] = {&r->student_test, &r->teacher_test};
        sc_cli_print_groups_side(stdout, "val", names, val, 2, d);
        sc_cli_print_groups_side(stdout, "test", names, test, 2, d);
        /* where the models look: a picture, and on patch data the share of
         * saliency inside each sample's mark */
        char path[4096];
        snprintf(path, sizeof path, "%s/saliency.png", a.out);
        sc_model *models[2] = {r->student, r->teacher};
        sc_patch_layout layout;
        int psz = 0;
        bool patch = sc_dataset_patch_params(d, &layout, &psz) == SC_OK;
        sc_status st = sc_saliency_picture(ctx, d, models, names, 2, path);
        if (st == SC_OK) {
            printf("saliency picture: %s\n", path);
            if (patch)
                printf("share of |saliency| inside the mark (val, up to 1000 images; the mark "
                       "covers %.1f%%): student %.4f, teacher %.4f\n",
                       100.0 * psz * psz / (d->h * d->w), r->student_mark_share,
                       r->teacher_mark_share);
            snprintf(path, sizeof path, "%s/groups.csv", a.out);
            st = sc_cli_write_groups_csv(path, names, val, test, 2);
        }
        if (st == SC_OK && nl > 1)
            printf("files: %s/results.json, groups.csv, saliency.png (lambda %g); each lambda's "
                   "metrics.jsonl and checkpoints in %s/lambda-*/\n", a.out, lambdas[best], a.out);
        else if (st == SC_OK)
            printf("files: %s/results.json, groups.csv, saliency.png, metrics.jsonl, "
                   "student.safetensors, teacher.safetensors\n", a.out);
        else
            rc = sc_cli_fail("ule");
    }
    for (int i = 0; res && i < nl; i++)
        sc_ule_result_free(&res[i]);
    free(res);
    sc_context_free(ctx);
    sc_dataset_free(d);
    return rc;
}

static void jtt_usage(FILE *out)
{
    fprintf(out,
            "usage: spurcl [--device SEL] jtt --data FILE [options]\n"
            "\n"
            "JTT (Just Train Twice, Liu et al. 2021): train an identification model for\n"
            "T epochs, upweight the training samples it gets wrong, retrain from scratch.\n"
            "No group labels are used for training. Stage 1 runs in DIR/identify.\n"
            "  --id-epochs T        epochs of the identification model (default 1)\n"
            "  --upweight F         weight of its errors (default 20)\n\n%s",
            sc_cli_train_help);
}

int sc_cmd_jtt(const sc_cli_global *g, int argc, char **argv)
{
    static const struct option opts[] = {SC_CLI_TRAIN_LONG_OPTIONS,
                                         {"id-epochs", required_argument, NULL, OPT_ID_EPOCHS},
                                         {"upweight", required_argument, NULL, OPT_UPWEIGHT},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    sc_cli_train_args a;
    sc_cli_train_args_default(&a);
    sc_jtt_config jc = {.id_epochs = 1, .upweight = 20};
    int c;
    long long v;
    double dv;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': jtt_usage(stdout); return SC_EXIT_OK;
        case ':': return sc_cli_usage_error("jtt", "option '%s' needs a value", argv[optind - 1]);
        case OPT_ID_EPOCHS:
            if (!sc_cli_parse_int("jtt", "--id-epochs", optarg, 1, 10000, &v))
                return SC_EXIT_USAGE;
            jc.id_epochs = (int)v;
            break;
        case OPT_UPWEIGHT:
            if (!sc_cli_parse_double("jtt", "--upweight", optarg, 1, 1e6, &dv))
                return SC_EXIT_USAGE;
            jc.upweight = (float)dv;
            break;
        default: {
            int r = sc_cli_train_opt("jtt", c, optarg, &a);
            if (r < 0)
                return SC_EXIT_USAGE;
            if (r == 0)
                return sc_cli_usage_error("jtt", "unknown option '%s'", argv[optind - 1]);
        }
        }
    }
    if (optind < argc)
        return sc_cli_usage_error("jtt", "unexpected argument '%s'", argv[optind]);
    if (!sc_cli_train_finish("jtt", &a, "runs/jtt"))
        return SC_EXIT_USAGE;
    sc_dataset *d;
    if (sc_dataset_load(a.data, &d) != SC_OK)
        return sc_cli_fail("jtt");
    sc_context *ctx;
    if (sc_context_create(g->device, &ctx) != SC_OK) {
        sc_dataset_free(d);
        return sc_cli_fail("jtt");
    }
    sc_cli_progress_state ps = {.quiet = g->quiet, .tty = sc_cli_progress_enabled(g)};
    a.cfg.progress = sc_cli_progress;
    a.cfg.progress_ud = &ps;
    jc.train = a.cfg;
    sc_jtt_result r;
    int rc = SC_EXIT_OK;
    if (sc_train_jtt(ctx, d, &jc, &r) != SC_OK) {
        rc = sc_cli_fail("jtt");
    } else {
        printf("JTT: %lld training samples upweighted x%g; final model step %lld, epoch %d\n",
               (long long)r.errors, (double)jc.upweight, (long long)r.final.selected_step,
               r.final.selected_epoch);
        sc_cli_print_groups(stdout, "val", &r.final.val, d);
        sc_cli_print_groups(stdout, "test", &r.final.test, d);
        char path[4096];
        snprintf(path, sizeof path, "%s/groups.csv", a.out);
        const char *names[1] = {"jtt"};
        const sc_group_metrics *val[1] = {&r.final.val}, *test[1] = {&r.final.test};
        if (sc_cli_write_groups_csv(path, names, val, test, 1) != SC_OK)
            rc = sc_cli_fail("jtt");
        sc_train_result_free(&r.final);
    }
    sc_context_free(ctx);
    sc_dataset_free(d);
    return rc;
}
