/* The one training loop every trainer runs on (ERM and JTT's two stages,
 * ULE, self-supervised pre-training, the linear probe).
 *
 * The loop owns the run directory (refused when it is not empty, unless
 * resume or force), its config.json (the run's record, compared on resume),
 * epochs and steps, the evaluation cadence and model selection, progress
 * with an ETA, metrics.jsonl, last/best checkpoints and resume. A trainer supplies what is its own through
 * sc_trainer: its step, its evaluation, the models it checkpoints and any
 * extra state (ULE's second model, SSL's projector and sampler).
 *
 * Per epoch: the trainer may supply the epoch's order of dataset indices
 * (else the batcher's seeded shuffle of the training split); each batch
 * goes to step(), which reports the batch means of the trainer's values;
 * every run.eval_every steps inside the epoch and at its end the loop calls
 * evaluate() and writes one JSON line; at the end of an epoch it also
 * writes each part's last checkpoint; when selection improves, each part's
 * best checkpoint. A step that fails stops the run with the epoch and step
 * in the message; a non-finite value (SC_ERR_NUMERIC) also names the last
 * good checkpoint.
 *
 * The run's files change as one unit (src/train/loop_state.c), so that a
 * kill -9 or a full disk between two writes never leaves parts an epoch
 * apart (ULE's student and teacher) or a best checkpoint other than the one
 * reported. DIR/run.json is the manifest: for each checkpoint file it names
 * the epoch and step it holds, its size and CRC-32, and it holds the resume
 * point (the last checkpoints' epoch end; 0: none yet) and the selection
 * state (the best evaluation's epoch, step and value). An evaluation point
 * commits in this order:
 *
 *   1. its line is appended to metrics.jsonl (fsynced);
 *   2. if it writes checkpoints (every part's last at an epoch's end, every
 *      part's best when selection improves), each goes to NAME.next by an
 *      atomic write (temporary file, fsync, rename), and the directory is
 *      synced;
 *   3. run.json is replaced atomically, naming the new files: the commit
 *      point; the directory is synced;
 *   4. each NAME.next is renamed over NAME; the directory is synced.
 *
 * A fresh run writes a run.json with no file and resume point 0 before
 * anything else (before config.json). At a resume the loop reads run.json
 * and recovers before it loads anything: a NAME.next whose size and CRC are
 * what run.json names is renamed over NAME (step 4 rolled forward), any
 * other NAME.next is removed (a commit that did not reach step 3), and each
 * file run.json names must then match it (else the resume is refused: the
 * file was changed outside the run). The parts are loaded from the resume
 * point's last checkpoints, or, with resume point 0, the run starts again
 * from its first epoch; the selection state is run.json's, which is always
 * what the best files hold. metrics.jsonl is cut after its last complete
 * line at or before the resume point (epoch <= E and step <= S): the lines
 * after it are written again as the epochs are trained again, and a line
 * is never lost because it is written before the commit that follows it.
 * A run directory without run.json (an older spurcl's) resumes from its
 * last files as before and gets a run.json. A trainer without a best file
 * has no best checkpoint (only the selection state is kept).
 *
 * For people, outside that protocol: DIR/log.txt gets the run's start (or
 * resumption), every line the progress callback gets (sc_train_progress:
 * each evaluation, each epoch's summary, a timed line every run.log_every
 * seconds with step, rate, ETA and the last evaluation) and its end, each
 * timestamped; a fresh run starts it anew, a resumed one appends.
 * DIR/curves.png is drawn from metrics.jsonl at every epoch's end (the
 * trainer's panels; see sc_trainer). Neither is a durable write. */
#ifndef SC_TRAIN_LOOP_H
#define SC_TRAIN_LOOP_H

#include <cjson/cJSON.h>

#include "base/base.h"
#include "spurcl/train.h"
#include "train/curves.h"

#define SC_LOOP_MAX_VALUES 6

/* The data-parallel exchange of one run (src/train/dp.c; see
 * "data-parallel" below): owned by the loop, handed to each step. */
typedef struct sc__dp {
    float *buf;      /* the fused buffer: every gradient, then the step's weight */
    size_t cap;      /* floats buf holds */
    long calls;      /* gradient exchanges so far (the test hooks count them) */
    double seconds;  /* wall time in the exchanges: staging and MPI_Allreduce */
    bool hooks_read;             /* the test hooks' variables were read (dp.c) */
    long kill_step, hang_step;   /* this rank's hook steps; 0: none */
} sc__dp;
#define SC_LOOP_MAX_PARTS 2

/* A value a step reports: its metrics.jsonl key and its progress label. */
typedef struct sc_loop_value {
    const char *key;     /* "train_loss" */
    const char *label;   /* "loss" */
} sc_loop_value;

/* A model the loop checkpoints (with its optimiser, if any). */
typedef struct sc_loop_part {
    const char *file;       /* last checkpoint, relative to the run directory */
    const char *best_file;  /* best checkpoint (written when selection improves) */
    const char *role;       /* metadata "role", or NULL */
    sc_model *model;
    sc_optim *optim;        /* may be NULL */
} sc_loop_part;

typedef struct sc_trainer {
    const char *name;       /* progress label and messages: "train", "ule" */
    void *self;
    int nparts;
    sc_loop_part parts[SC_LOOP_MAX_PARTS];
    int nvalues;
    sc_loop_value values[SC_LOOP_MAX_VALUES];
    bool no_images;         /* batches without images (the probe reads features) */
    bool quiet_epochs;      /* an epoch is one solver iteration (DFR's fits): no epoch lines */
    bool data_parallel;     /* runs under mpirun with N > 1 ranks (see "data-parallel"
                               below: its step exchanges gradients); else refused there */
    bool rank_local;        /* under mpirun, a run of this rank alone (DFR's fits, shared
                               out among the ranks): whole batches, no exchange, no sums
                               over the ranks; it must not evaluate (sc_evaluate is
                               collective) and writes no files on ranks other than 0 */
    /* The panels of DIR/curves.png over steps (train/curves.h); 0: the
     * training loss (values[0]) and the val average and worst-group
     * accuracy (val_acc, val_wga). */
    int npanels;
    sc__curves_panel panels[SC_CURVES_MAX_PANELS];

    /* One optimisation step on a batch: the batch means of the values in
     * values[0..nvalues) and the samples they stand for in *weight (0: the
     * batch does not count). A step checks its values are finite before it
     * updates (sc__check_finite). `dp` is the run's gradient exchange
     * (sc__dp_average_grads; a no-op with one process). Required. */
    sc_status (*step)(void *self, sc_graph *g, const sc_batch *bt, sc__dp *dp, double *values,
                      int64_t *weight);
    /* The epoch's order of dataset indices, or *order = NULL for the
     * batcher's seeded shuffle. Optional. */
    sc_status (*begin_epoch)(void *self, int epoch, const int64_t **order, int64_t *n);
    /* An evaluation: adds its metrics to `line`, sets *select_value (higher
     * is better) and *shown (the validation metrics progress shows; owned
     * by the trainer, valid until the next call). Optional: without it
     * nothing is evaluated and only the last epoch can be selected. */
    sc_status (*evaluate)(void *self, bool epoch_end, cJSON *line, double *select_value,
                          const sc_group_metrics **shown);
    /* After an epoch's last step, before its evaluation: extra keys for the
     * epoch's line and a note for progress. Optional. */
    sc_status (*end_epoch)(void *self, int epoch, cJSON *line, const char **note);
    /* Extra tensors and metadata of part 0's last checkpoint. With
     * loading = false the tensors are read (saving) and `meta` receives the
     * trainer's keys; with loading = true they are filled from the file.
     * Optional. */
    sc_status (*extra)(void *self, bool loading, const sc_checkpoint_tensor **tensors,
                       size_t *n, cJSON *meta);
    /* After a resume has loaded every part and the extras: the metadata of
     * part 0's last checkpoint, to restore the trainer's own state. Optional. */
    sc_status (*resumed)(void *self, const cJSON *meta);
} sc_trainer;

typedef struct sc_loop_result {
    int selected_epoch;        /* 1-based epoch of the selected evaluation */
    int64_t selected_step;     /* steps at it */
    bool selected_best;        /* an evaluation other than the last was selected: its
                                  weights are in each part's best checkpoint */
    int64_t steps;             /* global steps at the end */
    int epochs_run;            /* epochs trained by this call */
    double values[SC_LOOP_MAX_VALUES]; /* the last epoch's means (NaN: none ran) */
    double seconds, step_seconds, eval_seconds, epoch_seconds;
    int64_t steps_run;         /* steps taken by this call */
} sc_loop_result;

/* Runs the training loop; the parts' models end with the last step's
 * weights. */
sc_status sc_loop_run(sc_context *ctx, const sc_dataset *d, const sc_run_config *run,
                      sc_trainer *t, sc_loop_result *out);

/* The record of a run in two halves (src/train/loop_record.c; sc_run_record
 * is both): _begin refuses a run directory that is not empty (without
 * resume or force), creates it, builds config.json and, on resume, compares
 * it with the stored one; _write writes it (after a resume has loaded its
 * checkpoints) and frees it. Without a run directory *config is NULL and
 * _write does nothing. */
sc_status sc__record_begin(sc_context *ctx, const sc_dataset *d, const sc_run_config *run,
                           const char *trainer, cJSON **config);
sc_status sc__record_write(const sc_run_config *run, cJSON *config);

/* ---- the run's files as one unit (src/train/loop_state.c) ------------------------------- */

#define SC_RUN_STATE_FILE "run.json"
#define SC_LOOP_MAX_FILES (2 * SC_LOOP_MAX_PARTS)

/* What a checkpoint file holds. */
typedef struct sc__run_entry {
    bool set;
    int epoch;          /* 1-based epoch of the evaluation that wrote it */
    int64_t step;
    uint64_t bytes;
    uint32_t crc;
} sc__run_entry;

/* A run directory's manifest and the files it governs: the parts' last
 * files (0..nparts), then their best files (nparts + k, NULL name: none). */
typedef struct sc__run_state {
    const char *dir;
    int nparts;
    const char *name[SC_LOOP_MAX_FILES];
    sc__run_entry held[SC_LOOP_MAX_FILES];   /* as run.json names them */
    sc__run_entry staged[SC_LOOP_MAX_FILES]; /* NAME.next of the commit under way */
    int epoch;                 /* resume point: the last checkpoints' epoch end, 0: none */
    int64_t step;
    int best_epoch;            /* selection state, best_epoch < 1: none */
    int64_t best_step;
    double best_value;
    bool found;                /* run.json was read (sc__state_start with resume) */
    int writes;                /* durable writes so far (the test hook counts them) */
    long kill_after;           /* SC_TEST_KILL_AFTER_WRITES (builds without NDEBUG) */
} sc__run_state;

/* Fills the file names from the trainer. With resume, reads run.json when
 * there is one (s->found) and recovers the files it names (see above);
 * without, removes what earlier runs staged and writes a run.json with no
 * file. */
sc_status sc__state_start(sc__run_state *s, const char *dir, const sc_trainer *t, bool resume);
/* "DIR/NAME.next" of file i. */
void sc__state_staged_path(const sc__run_state *s, int i, char *buf, size_t n);
/* File i has been written to its NAME.next holding epoch/step: records its
 * size and CRC and counts the write. */
sc_status sc__state_staged(sc__run_state *s, int i, int epoch, int64_t step);
/* Steps 3 and 4: run.json with the staged files, the resume point and the
 * selection state in `s`, then the renames. */
sc_status sc__state_commit(sc__run_state *s);
/* A resume without run.json (an older spurcl's run): run.json for the files
 * as they are, at resume point epoch/step. */
sc_status sc__state_adopt(sc__run_state *s, int epoch, int64_t step);
/* Counts a durable write (a metrics line, a staged file, run.json, a
 * rename) and runs the test hooks on it. */
sc_status sc__state_wrote(sc__run_state *s, const char *what);
/* Cuts DIR/metrics.jsonl after its last complete line with epoch <= epoch
 * and step <= step (everything after a line that is not is cut too). */
sc_status sc__metrics_truncate(const char *dir, int epoch, int64_t step);

/* Test hook (white-box tests only): called after each durable write of a
 * run with the count so far (1: the fresh run's run.json) and what was
 * written; a status other than SC_OK stops the run right there, as a kill
 * would (nothing more is written or cleaned up). NULL: none. Builds
 * without NDEBUG also read SC_TEST_KILL_AFTER_WRITES=N from the environment
 * and raise SIGKILL after the Nth write (the tool's kill tests). */
typedef sc_status (*sc__write_hook)(int n, const char *what, void *ud);
void sc__loop_set_write_hook(sc__write_hook hook, void *ud);

/* ---- data-parallel (mpirun -np N; src/train/dp.c) -------------------------------------- *
 *
 * Under mpirun with N > 1 ranks (spurcl/dist.h) the loop runs one global
 * step on every rank at once: at the start it broadcasts rank 0's weights
 * (and buffers) of every part; each epoch's order is the same on every
 * rank (the batcher's seeded shuffle, or the trainer's order), and each
 * global batch of run.batch_size samples is cut into N contiguous slices,
 * rank r taking [floor(b r / N), floor(b (r + 1) / N)) of its b samples
 * (sc_batcher_next_shard), so every index is used once per epoch across
 * the ranks and a rank's slice may be empty (a last batch of fewer than N
 * samples); step() then runs with bt->size == 0 and must still exchange
 * its (zero) gradients. A trainer's step calls sc__dp_average_grads between
 * its gradients and its optimiser step, so every rank applies the same
 * update. Rank 0 alone evaluates and writes the run's files and progress;
 * at evaluation points the step values are summed over the ranks first,
 * so metrics.jsonl has the global batch means. With --resume rank 0
 * resumes as one process would (repairing and rewriting the files), then
 * sends the resume point and selection state; the other ranks load the
 * same checkpoints read-only (the run directory is read on every rank).
 * A loss that is a mean over samples exchanges with sc__dp_average_grads;
 * one every rank computes whole (SSL over gathered embeddings) with
 * sc__dp_sum_grads. With one process these calls do nothing. */

/* Rank 0's parameters and buffers of m on every rank. */
sc_status sc__dp_broadcast_model(sc__dp *dp, sc_model *m);
/* Rank 0's buffers (batch-norm running statistics) to every rank
 * (collective). Each rank updates them from its own slice of the batch;
 * the loop calls this before every evaluation, so the sharded evaluation
 * uses the statistics of the checkpoint rank 0 writes (as PyTorch DDP's
 * broadcast_buffers). */
sc_status sc__dp_broadcast_buffers(sc__dp *dp, sc_model *m, const char *what);
/* The gradients of the global batch: each rank gives the gradients of its
 * batch's mean loss (grads[i] NULL: zero) and `weight`, the samples that
 * mean is over (0: an empty slice); grads[0..n) become new variables of g
 * holding sum_r weight_r grads_r / sum_r weight_r, the same on every rank.
 * One fused MPI_Allreduce of every gradient and the weight (float32, host
 * memory). */
sc_status sc__dp_average_grads(sc__dp *dp, sc_graph *g, sc_var *const *params, sc_var **grads,
                               size_t n, double weight);
/* The same exchange summing instead: grads[i] becomes sum_r grads_r[i].
 * For a loss every rank computes whole (SSL over the gathered embeddings),
 * where each rank's gradient is the part that flows through its samples. */
sc_status sc__dp_sum_grads(sc__dp *dp, sc_graph *g, sc_var *const *params, sc_var **grads,
                           size_t n);
/* Frees the fused buffer and zeroes the counts (the loop's end). dp->seconds
 * is the time this rank spent in the exchanges so far (staging through host
 * memory and the all-reduce, waiting for slower ranks included). */
void sc__dp_release(sc__dp *dp);

/* Loads a part's best checkpoint (model weights only) into `into`. */
sc_status sc_loop_load_best(const sc_run_config *run, const sc_loop_part *part, sc_model *into);

/* Steps in one epoch of `batch` over the training split. */
int64_t sc_loop_steps_per_epoch(const sc_dataset *d, int64_t batch);

/* The optimiser of a run: a cosine schedule without total_steps spans all
 * the run's steps. */
sc_status sc_loop_optim_create(sc_context *ctx, const sc_dataset *d, const sc_run_config *run,
                               sc_var *const *params, size_t n, sc_optim **out);

#endif
