/* libFuzzer target: what spurcl reads from a checkpoint's metadata, through
 * the library's own readers, without a device:
 *
 *   sc_checkpoint_model_config   "format" and the model JSON ("model": kind,
 *                                input shape, class count, widths, ln_eps)
 *   sc__model_plan               that configuration through sc_model_create's
 *                                checks and builders (every shape it would
 *                                allocate, in 64 bits)
 *   sc__checkpoint_epoch,        "epoch" and "optim_steps" as
 *   sc__checkpoint_optim_steps   sc_checkpoint_load_extra reads them
 *   sc_checkpoint_is_ssl_encoder the run configuration's "kind" ("config")
 *
 * The input: byte 0 says which metadata keys are present (1 model,
 * 2 epoch, 4 optim_steps, 8 config, 16 seed, 32 format, 64 a wrong
 * format); the rest is their values in that order, separated by NUL bytes.
 * The target writes a valid safetensors file (one small tensor) with that
 * metadata, so the mutations reach the readers, not the container.
 *
 * Properties: a model configuration read back is written with
 * sc__model_config_json and read again unchanged; counters accepted are in
 * range and are what the text says. */
#include "fuzz_util.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nn/models_internal.h"
#include "spurcl/io.h"
#include "spurcl/model.h"
#include "spurcl/train.h"
#include "train/train_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { F_MODEL, F_EPOCH, F_STEPS, F_CONFIG, F_SEED, NFIELDS };
static const char *const keys[NFIELDS] = {"model", "epoch", "optim_steps", "config", "seed"};

/* The checkpoint with these metadata values (NULL: key absent) and a
 * format, into the memory file. */
static void put_checkpoint(char *const *value, const char *format)
{
    const char *meta[2 * (NFIELDS + 1)];
    int nmeta = 0;
    for (int i = 0; i < NFIELDS; i++)
        if (value[i]) {
            meta[2 * nmeta] = keys[i];
            meta[2 * nmeta + 1] = value[i];
            nmeta++;
        }
    if (format) {
        meta[2 * nmeta] = "format";
        meta[2 * nmeta + 1] = format;
        nmeta++;
    }
    static const float bias[2] = {0.5f, -0.25f};
    sc_st_tensor t;
    memset(&t, 0, sizeof t);
    t.name = "fc2.bias";
    t.dtype = SC_ST_F32;
    t.ndim = 1;
    t.shape[0] = 2;
    t.data = bias;
    size_t fsize;
    uint8_t *file = fz_safetensors(&t, 1, meta, nmeta, &fsize);
    fz_memfile_set(file, fsize);
    free(file);
}

static void check_counter(const char *text, int64_t v, int64_t hi)
{
    if (v < 0 || v > hi)
        FZ_FAIL("a counter was accepted out of range");
    if (!text) {
        if (v != 0)
            FZ_FAIL("an absent counter is not 0");
        return;
    }
    errno = 0;
    char *end;
    long long w = strtoll(text, &end, 10);
    if (end == text || *end || errno || w != v)
        FZ_FAIL("a counter was accepted that is not the integer its text says");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t present = data[0];
    char *f[NFIELDS];
    fz_fields(data + 1, size - 1, f, NFIELDS);
    for (int i = 0; i < NFIELDS; i++)
        if (!(present & (1u << i)) && f[i]) {
            free(f[i]);
            f[i] = NULL;
        }
    const char *format = (present & 32) ? ((present & 64) ? "spurcl-checkpoint-0" : SC_CKPT_FORMAT)
                                        : NULL;
    put_checkpoint(f, format);
    const char *path = fz_memfile_path();

    sc_model_config cfg;
    if (sc_checkpoint_model_config(path, &cfg) != SC_OK) {
        FZ_REFUSED("sc_checkpoint_model_config");
    } else {
        if (!format || strcmp(format, SC_CKPT_FORMAT) != 0 || !f[F_MODEL])
            FZ_FAIL("a model configuration was read without the format or the model");
        int64_t nparams = 0, numel = 0;
        if (sc__model_plan(&cfg, &nparams, &numel) != SC_OK)
            FZ_REFUSED("sc__model_plan");
        else if (nparams < 1 || numel < 1)
            FZ_FAIL("a model plan has no parameters");
        /* written as a checkpoint writes it, and read back: the same */
        char *mj = sc__model_config_json(&cfg);
        if (!mj)
            abort();
        char *g[NFIELDS] = {mj, NULL, NULL, NULL, NULL};
        put_checkpoint(g, SC_CKPT_FORMAT);
        sc_model_config back;
        if (sc_checkpoint_model_config(path, &back) != SC_OK ||
            memcmp(&back, &cfg, sizeof cfg) != 0)
            FZ_FAIL("a model configuration written and read back differs");
        cJSON_free(mj);
        put_checkpoint(f, format);
    }

    /* the file is valid safetensors unless a value is not valid UTF-8 */
    sc_safetensors *st = NULL;
    if (sc_safetensors_open(path, &st) != SC_OK)
        goto out;
    bool ssl = false;
    if (sc_checkpoint_is_ssl_encoder(path, &ssl) != SC_OK || (ssl && !f[F_CONFIG]))
        FZ_FAIL("sc_checkpoint_is_ssl_encoder");
    int epoch = -1;
    if (sc__checkpoint_epoch(st, &epoch) == SC_OK)
        check_counter(f[F_EPOCH], epoch, SC_CKPT_MAX_EPOCH);
    else
        FZ_REFUSED("sc__checkpoint_epoch");
    int64_t steps = -1;
    if (sc__checkpoint_optim_steps(st, &steps) == SC_OK)
        check_counter(f[F_STEPS], steps, SC_CKPT_MAX_STEPS);
    else
        FZ_REFUSED("sc__checkpoint_optim_steps");
    sc_safetensors_close(st);
out:
    for (int i = 0; i < NFIELDS; i++)
        free(f[i]);
    return 0;
}
